"""Order of positions in a fragment stream, and what is left of a read after one.

A paged read resumes after a ``Position`` (the last fragment a client consumed).
Readers, the querier cache and the coordinators must agree on what "after" means:
partitions in ``(token, key)`` order; inside a partition its start, its static row,
its range tombstones (by start, descending for a reversed read), its rows (by
clustering bytes, descending for a reversed read), its end. ``BEFORE_ALL`` is before
everything.

``slice_after`` is the part of a clustering slice that is left once the rows up to a
clustering key were consumed: the slice of a resumed partition.

Invariant: ``is_after`` is a strict total order on the positions of one stream, the
same order in which a reader hands its fragments out.
"""

from __future__ import annotations

from typing import Any

from node.readers.fragments import (CLUSTERING_ROW, PARTITION_END, PARTITION_START,
                                    RANGE_TOMBSTONE, STATIC_ROW)
from node.readers.position import (AFTER_END, AFTER_RANGE_TOMBSTONE, AFTER_ROW, AFTER_START,
                                   AFTER_STATIC, BEFORE_ALL, Position)
from node.readers.ranges import ClusteringRange, ClusteringSlice, PartitionRange

_STAGE_OF_KIND = {PARTITION_START: AFTER_START, STATIC_ROW: AFTER_STATIC,
                  RANGE_TOMBSTONE: AFTER_RANGE_TOMBSTONE, CLUSTERING_ROW: AFTER_ROW,
                  PARTITION_END: AFTER_END}


def _range_tombstone_key(pair: Any) -> tuple:
    return (pair[0], pair[1] is None, pair[1] or b"")


def is_after(a: Position, b: Position, reversed_order: bool = False) -> bool:
    """True when ``a`` comes strictly after ``b`` in stream order."""
    if b.stage == BEFORE_ALL:
        return a.stage != BEFORE_ALL
    if a.stage == BEFORE_ALL:
        return False
    if a.token != b.token or a.key != b.key:
        return (a.token, a.key) > (b.token, b.key)
    if a.stage != b.stage:
        return a.stage > b.stage
    if a.stage == AFTER_ROW:
        return a.clustering < b.clustering if reversed_order else a.clustering > b.clustering  # type: ignore[operator]
    if a.stage == AFTER_RANGE_TOMBSTONE:
        left, right = _range_tombstone_key(a.range_tombstone), _range_tombstone_key(b.range_tombstone)
        return left < right if reversed_order else left > right
    return False


def is_mid_partition(position: Position) -> bool:
    """Inside a partition whose start was consumed and whose end was not."""
    return AFTER_START <= position.stage < AFTER_END


def wire_position(wire: list[Any], token: int, key: bytes) -> Position:
    """The position of a fragment in wire form, inside partition ``(token, key)``
    (a partition start carries its own)."""
    kind = wire[0]
    if kind == PARTITION_START:
        return Position(AFTER_START, wire[1], wire[2])
    stage = _STAGE_OF_KIND[kind]
    if kind == CLUSTERING_ROW:
        return Position(AFTER_ROW, token, key, clustering=wire[1])
    if kind == RANGE_TOMBSTONE:
        return Position(AFTER_RANGE_TOMBSTONE, token, key,
                        range_tombstone=(wire[1][0], wire[1][1]))
    return Position(stage, token, key)


def slice_after(clustering_slice: ClusteringSlice, clustering: bytes) -> ClusteringSlice:
    """What ``clustering_slice`` still holds after the row ``clustering`` (a full key)
    was consumed, in the slice's own direction."""
    ranges = []
    for low, high in clustering_slice.intervals:
        if clustering_slice.reversed:
            new_high = clustering if high is None or clustering < high else high
            if new_high <= low:
                continue
            ranges.append(ClusteringRange(low, True, new_high, False))
        else:
            successor = clustering + b"\x00"   # keys are prefix-free: the least key above
            new_low = max(low, successor)
            if high is not None and new_low >= high:
                continue
            ranges.append(ClusteringRange(new_low, True, high or b"", False))
    if not ranges:
        # nothing left: a range that holds no key (the empty interval is dropped)
        return ClusteringSlice((ClusteringRange(b"\x00", True, b"\x00", False),),
                               clustering_slice.reversed)
    return ClusteringSlice(tuple(ranges), clustering_slice.reversed)


def remaining_slice(clustering_slice: ClusteringSlice, position: Position) -> ClusteringSlice:
    """The slice of the partition ``position`` stands in, from just after it."""
    if position.stage == AFTER_ROW:
        return slice_after(clustering_slice, position.clustering)  # type: ignore[arg-type]
    return clustering_slice


def range_from(partition_range: PartitionRange, position: Position) -> PartitionRange | None:
    """The part of ``partition_range`` a stream resumed at ``position`` still reads
    (the partition of a mid-partition position included); None when nothing is left."""
    if position.stage == BEFORE_ALL:
        return partition_range
    point = (position.token, position.key)
    inclusive = position.stage < AFTER_END
    lower = partition_range.lower
    if lower is not None and (lower[0] > point or (lower[0] == point and not lower[1])):
        return partition_range
    narrowed = PartitionRange((point, inclusive), partition_range.upper)
    return narrowed if not is_empty(narrowed) else None


def is_empty(partition_range: PartitionRange) -> bool:
    lower, upper = partition_range.lower, partition_range.upper
    if lower is None or upper is None:
        return False
    if lower[0] != upper[0]:
        return lower[0] > upper[0]
    return not (lower[1] and upper[1])


def intersect(a: PartitionRange, b: PartitionRange) -> PartitionRange | None:
    """The partitions in both ranges; None when none can be."""
    def tighter_lower(x: Any, y: Any) -> Any:
        if x is None:
            return y
        if y is None:
            return x
        if x[0] != y[0]:
            return x if x[0] > y[0] else y
        return (x[0], x[1] and y[1])

    def tighter_upper(x: Any, y: Any) -> Any:
        if x is None:
            return y
        if y is None:
            return x
        if x[0] != y[0]:
            return x if x[0] < y[0] else y
        return (x[0], x[1] and y[1])

    result = PartitionRange(tighter_lower(a.lower, b.lower), tighter_upper(a.upper, b.upper))
    return None if is_empty(result) else result
