"""storage_proxy's paths, one module each: write, single-partition read, range scan, consistency, reconciliation."""
