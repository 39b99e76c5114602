"""Processes: the node supervisor, the shard process and its composition root."""
