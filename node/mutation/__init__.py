"""The data model: mutations, rows, cells, tombstones, and the rules that reconcile them (ScyllaDB's mutation/)."""
