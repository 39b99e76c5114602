"""The fragment stream: the one shape every reader yields and replicas send.

    stream          ::= partition*
    partition       ::= partition_start static_row? range_tombstone* clustering_row*
                        partition_end

Partitions come in ``(token, key)`` order. Range tombstones of a partition (clipped to
the read's slice, half-open ``[start, end)`` over clustering bytes) come right after
the partition start and static row, in ascending order of start (descending for a
reversed read), so a consumer knows every deletion before it meets a row. Clustering
rows come in clustering order, or reversed for a DESC read. Data a reader returns is
already reconciled: nothing shadowed, expired cells turned into tombstones; tombstones
that still matter (not shadowed) are kept so replicas can be reconciled.

(ScyllaDB's stream interleaves ``range_tombstone_change`` fragments with rows; putting
range tombstones first gives the same information with a simpler position to resume
from.)

Invariant: every fragment has ``to_wire``/``from_wire`` and an approximate
``size_bytes``; wire forms are plain msgpack-able lists tagged by kind.
"""

from __future__ import annotations

from typing import Any, Union

from node.mutation.mutation import RangeTombstone, Row, Tombstone

PARTITION_START = 0
STATIC_ROW = 1
RANGE_TOMBSTONE = 2
CLUSTERING_ROW = 3
PARTITION_END = 4


class PartitionStart:
    __slots__ = ("token", "key", "tombstone")
    kind = PARTITION_START

    def __init__(self, token: int, key: bytes, tombstone: Tombstone | None) -> None:
        self.token = token
        self.key = key
        self.tombstone = tombstone

    def size_bytes(self) -> int:
        return 32 + len(self.key)

    def to_wire(self) -> list[Any]:
        return [PARTITION_START, self.token, self.key,
                None if self.tombstone is None else self.tombstone.to_wire()]

    def __repr__(self) -> str:
        return f"PartitionStart({self.token}, {self.key!r}, {self.tombstone})"


class StaticRow:
    __slots__ = ("row",)
    kind = STATIC_ROW

    def __init__(self, row: Row) -> None:
        self.row = row

    def size_bytes(self) -> int:
        return self.row.size_bytes()

    def to_wire(self) -> list[Any]:
        return [STATIC_ROW, self.row.to_wire()]

    def __repr__(self) -> str:
        return f"StaticRow({self.row})"


class RangeTombstoneFragment:
    __slots__ = ("range_tombstone",)
    kind = RANGE_TOMBSTONE

    def __init__(self, range_tombstone: RangeTombstone) -> None:
        self.range_tombstone = range_tombstone

    def size_bytes(self) -> int:
        return 32 + len(self.range_tombstone.start) + len(self.range_tombstone.end or b"")

    def to_wire(self) -> list[Any]:
        return [RANGE_TOMBSTONE, self.range_tombstone.to_wire()]

    def __repr__(self) -> str:
        return f"RangeTombstoneFragment({self.range_tombstone})"


class ClusteringRow:
    __slots__ = ("clustering", "row")
    kind = CLUSTERING_ROW

    def __init__(self, clustering: bytes, row: Row) -> None:
        self.clustering = clustering
        self.row = row

    def size_bytes(self) -> int:
        return len(self.clustering) + self.row.size_bytes()

    def to_wire(self) -> list[Any]:
        return [CLUSTERING_ROW, self.clustering, self.row.to_wire()]

    def __repr__(self) -> str:
        return f"ClusteringRow({self.clustering!r}, {self.row})"


class PartitionEnd:
    __slots__ = ()
    kind = PARTITION_END

    def size_bytes(self) -> int:
        return 8

    def to_wire(self) -> list[Any]:
        return [PARTITION_END]

    def __repr__(self) -> str:
        return "PartitionEnd()"


Fragment = Union[PartitionStart, StaticRow, RangeTombstoneFragment, ClusteringRow, PartitionEnd]


def fragment_from_wire(wire: list[Any]) -> Fragment:
    kind = wire[0]
    if kind == PARTITION_START:
        return PartitionStart(wire[1], wire[2], Tombstone.from_wire(wire[3]))
    if kind == STATIC_ROW:
        return StaticRow(Row.from_wire(wire[1]))
    if kind == RANGE_TOMBSTONE:
        return RangeTombstoneFragment(RangeTombstone.from_wire(wire[1]))
    if kind == CLUSTERING_ROW:
        return ClusteringRow(wire[1], Row.from_wire(wire[2]))
    if kind == PARTITION_END:
        return PartitionEnd()
    raise ValueError(f"unknown fragment kind {kind!r}")
