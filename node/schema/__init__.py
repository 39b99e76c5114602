"""Schema: CQL types, keyspace and table definitions, the persisted schema store and its sync (ScyllaDB's schema/)."""
