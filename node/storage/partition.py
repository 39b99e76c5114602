"""A partition's content as one value, the unit SSTable writers take and readers merge.

Invariant: ``rows`` is in ascending clustering order with unique keys.
"""

from __future__ import annotations

from typing import Iterable

from node.storage.memtable import Memtable
from node.mutation.mutation import RangeTombstone, Row, Tombstone


class Partition:
    __slots__ = ("token", "key", "tombstone", "static_row", "rows", "range_tombstones")

    def __init__(self, token: int, key: bytes, tombstone: Tombstone | None,
                 static_row: Row | None, rows: list[tuple[bytes, Row]],
                 range_tombstones: list[RangeTombstone]) -> None:
        self.token = token
        self.key = key
        self.tombstone = tombstone
        self.static_row = static_row
        self.rows = rows
        self.range_tombstones = range_tombstones

    @property
    def position(self) -> tuple[int, bytes]:
        return (self.token, self.key)


def memtable_partitions(memtable: Memtable) -> Iterable[Partition]:
    """Every partition of a sealed memtable, in order (for a flush)."""
    for (token, key), data in memtable.partitions.items():
        yield Partition(token, key, data.tombstone, data.static_row, data.sorted_rows(),
                        list(data.range_tombstones))
