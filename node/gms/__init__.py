"""Group membership: the failure detector and a shard's view of the cluster (identity, ring, messaging, liveness) (ScyllaDB's gms/)."""
