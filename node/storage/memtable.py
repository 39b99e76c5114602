"""The memtable: one table's recent writes, sorted in memory.

Partitions are kept in a ``SortedDict`` by ``(token, key)``; each partition keeps its
rows in a dict by clustering bytes plus the sorted list of those keys (cheaper to build
than a SortedDict for the many small partitions; ``bisect`` keeps it sorted). Writes merge into what is there with
the reconciliation rules; shadowing is left to readers and compaction.

``version`` grows with every write so a reader knows its iterators are stale.
``min_position``/``max_position`` are the commitlog positions the memtable holds
records from: a memtable that was sealed for flushing stops at ``max_position``.

Invariant: once ``sealed`` a memtable is never written again (a flush thread may read
it while readers on the loop read it too).
"""

from __future__ import annotations

from bisect import bisect_left, insort

from sortedcontainers import SortedDict

from node.mutation.mutation import Mutation, RangeTombstone, Row, Tombstone, newer_tombstone
from node.mutation.reconcile import merge_rows

CommitlogPosition = tuple[int, int]  # (segment id, offset)


class MemtablePartition:
    __slots__ = ("tombstone", "static_row", "rows", "keys", "range_tombstones")

    def __init__(self) -> None:
        self.tombstone: Tombstone | None = None
        self.static_row: Row | None = None
        self.rows: dict[bytes, Row] = {}
        self.keys: list[bytes] = []     # the keys of ``rows``, sorted
        self.range_tombstones: list[RangeTombstone] = []

    def sorted_rows(self) -> list[tuple[bytes, Row]]:
        rows = self.rows
        return [(key, rows[key]) for key in self.keys]

    def rows_between(self, low: bytes, high: bytes | None) -> list[tuple[bytes, Row]]:
        keys = self.keys
        start = bisect_left(keys, low)
        end = len(keys) if high is None else bisect_left(keys, high)
        rows = self.rows
        return [(key, rows[key]) for key in keys[start:end]]


class Memtable:
    def __init__(self) -> None:
        self.partitions: SortedDict = SortedDict()
        self.size_bytes = 0
        self.row_count = 0
        self.version = 0
        self.sealed = False
        self.min_position: CommitlogPosition | None = None
        self.max_position: CommitlogPosition | None = None
        self.min_timestamp_us: int | None = None

    def __len__(self) -> int:
        return len(self.partitions)

    def is_empty(self) -> bool:
        return not self.partitions

    def apply(self, mutation: Mutation, position: CommitlogPosition | None,
              now_s: float, size_bytes: int) -> None:
        assert not self.sealed, "a sealed memtable is never written"
        position_key = (mutation.token, mutation.key)
        partition = self.partitions.get(position_key)
        if partition is None:
            partition = MemtablePartition()
            self.partitions[position_key] = partition
        if mutation.partition_tombstone is not None:
            partition.tombstone = newer_tombstone(partition.tombstone, mutation.partition_tombstone)
            self._saw_timestamp(mutation.partition_tombstone.timestamp_us)
        if mutation.static_row is not None:
            partition.static_row = merge_rows(partition.static_row, mutation.static_row, now_s)
            self._saw_row(mutation.static_row)
        rows = partition.rows
        for clustering, row in mutation.rows.items():
            existing = rows.get(clustering)
            if existing is None:
                self.row_count += 1
                rows[clustering] = row
                keys = partition.keys
                if not keys or clustering > keys[-1]:
                    keys.append(clustering)
                else:
                    insort(keys, clustering)
            else:
                rows[clustering] = merge_rows(existing, row, now_s)
            self._saw_row(row)
        for rt in mutation.range_tombstones:
            partition.range_tombstones.append(rt)
            self._saw_timestamp(rt.tombstone.timestamp_us)
        self.size_bytes += size_bytes
        self.version += 1
        if position is not None:
            if self.min_position is None or position < self.min_position:
                self.min_position = position
            if self.max_position is None or position > self.max_position:
                self.max_position = position

    def _saw_row(self, row: Row) -> None:
        lowest = None
        if row.marker is not None:
            lowest = row.marker.timestamp_us
        if row.tombstone is not None:
            ts = row.tombstone.timestamp_us
            lowest = ts if lowest is None or ts < lowest else lowest
        for cell in row.cells.values():
            if lowest is None or cell.timestamp_us < lowest:
                lowest = cell.timestamp_us
        if lowest is not None:
            self._saw_timestamp(lowest)

    def _saw_timestamp(self, timestamp_us: int) -> None:
        if self.min_timestamp_us is None or timestamp_us < self.min_timestamp_us:
            self.min_timestamp_us = timestamp_us
