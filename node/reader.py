"""Shard readers: the storage engine's reader is the shard reader.

Re-exported here so the querier cache and the RPC handlers import readers by the name
the design map gives them; the implementation lives in ``node/storage/reader.py``.
"""

from node.storage.position import Position
from node.storage.reader import ShardReader

__all__ = ["Position", "ShardReader"]
