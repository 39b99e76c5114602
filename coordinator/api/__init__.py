"""The HTTP API of a node: CQL, status, admin routes, hints, schema, and the Prometheus exposition."""
