"""Who owns what: token metadata (the ring), replication strategies, and the topology every path asks (ScyllaDB's locator/)."""
