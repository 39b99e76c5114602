"""The replica side of a shard: mutation and read verbs, shard cursors, the querier cache and the multishard reader (ScyllaDB's replica/)."""
