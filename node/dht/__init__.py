"""Tokens, the Murmur3 partitioner, sharding of tokens over a node's shards, token ranges (ScyllaDB's dht/)."""
