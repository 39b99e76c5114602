"""What a read asks for: a partition range and a clustering slice.

Partitions are ordered by ``(token, key bytes)``. A ``PartitionRange`` is normalized to
a lower and an upper bound on that order, each ``((token, key), inclusive)``; it can say
the full ring, Cassandra's ``(start_token, end_token]`` token ranges, one partition, and
"strictly after partition (token, key)" for resuming. Ranges never wrap: callers split
wrapping ranges.

A ``ClusteringSlice`` is a list of clustering ranges with prefix bounds (an inclusive
end on prefix P includes every key starting with P) plus ``reversed`` for DESC reads.
It is normalized to sorted, disjoint half-open intervals ``[low, high)`` over the
clustering bytes.

Invariant: both types are immutable values; bounds are resolved once, here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from node.mutation.mutation import normalize_bounds

PartitionPosition = tuple[int, bytes]  # (token, key)


@dataclass(frozen=True)
class PartitionRange:
    lower: tuple[PartitionPosition, bool] | None = None   # None: from the ring's start
    upper: tuple[PartitionPosition, bool] | None = None   # None: to the ring's end

    @classmethod
    def full(cls) -> PartitionRange:
        return cls()

    @classmethod
    def token_range(cls, start_token_exclusive: int | None,
                    end_token_inclusive: int | None) -> PartitionRange:
        """``(start, end]`` as Cassandra uses; None at either side is the ring's edge."""
        lower = None if start_token_exclusive is None else ((start_token_exclusive + 1, b""), True)
        upper = None if end_token_inclusive is None else ((end_token_inclusive + 1, b""), False)
        return cls(lower, upper)

    @classmethod
    def single(cls, token: int, key: bytes) -> PartitionRange:
        return cls(((token, key), True), ((token, key), True))

    def is_single_partition(self) -> bool:
        return (self.lower is not None and self.upper is not None and self.lower[1]
                and self.upper[1] and self.lower[0] == self.upper[0])

    def starting_after(self, token: int, key: bytes) -> PartitionRange:
        """The part of this range strictly after partition ``(token, key)``."""
        return PartitionRange(((token, key), False), self.upper)

    def starting_at(self, token: int, key: bytes) -> PartitionRange:
        return PartitionRange(((token, key), True), self.upper)

    def contains(self, position: PartitionPosition) -> bool:
        if self.lower is not None:
            bound, inclusive = self.lower
            if position < bound or (position == bound and not inclusive):
                return False
        return self.before_end(position)

    def before_end(self, position: PartitionPosition) -> bool:
        if self.upper is None:
            return True
        bound, inclusive = self.upper
        return position < bound or (position == bound and inclusive)

    def to_wire(self) -> list[Any]:
        return [None if self.lower is None else [self.lower[0][0], self.lower[0][1], self.lower[1]],
                None if self.upper is None else [self.upper[0][0], self.upper[0][1], self.upper[1]]]

    @classmethod
    def from_wire(cls, wire: list[Any]) -> PartitionRange:
        def bound(value: Any) -> tuple[PartitionPosition, bool] | None:
            return None if value is None else ((value[0], value[1]), bool(value[2]))
        return cls(bound(wire[0]), bound(wire[1]))


@dataclass(frozen=True)
class ClusteringRange:
    """Prefix bounds; an empty prefix is unbounded on that side."""
    start: bytes = b""
    start_inclusive: bool = True
    end: bytes = b""
    end_inclusive: bool = True


@dataclass(frozen=True)
class ClusteringSlice:
    ranges: tuple[ClusteringRange, ...] = (ClusteringRange(),)
    reversed: bool = False
    intervals: tuple[tuple[bytes, bytes | None], ...] = field(init=False, compare=False,
                                                              repr=False)

    def __post_init__(self) -> None:
        found = []
        for item in self.ranges:
            bounds = normalize_bounds(item.start, item.start_inclusive, item.end,
                                      item.end_inclusive)
            if bounds is not None:
                found.append(bounds)
        found.sort(key=lambda pair: pair[0])
        merged: list[tuple[bytes, bytes | None]] = []
        for low, high in found:
            if merged:
                last_low, last_high = merged[-1]
                if last_high is None or low <= last_high:
                    if last_high is not None and (high is None or high > last_high):
                        merged[-1] = (last_low, high)
                    continue
            merged.append((low, high))
        object.__setattr__(self, "intervals", tuple(merged))

    @classmethod
    def full(cls, reversed: bool = False) -> ClusteringSlice:
        return cls((ClusteringRange(),), reversed)

    def contains(self, clustering: bytes) -> bool:
        for low, high in self.intervals:
            if clustering >= low and (high is None or clustering < high):
                return True
        return False

    def clip(self, start: bytes, end: bytes | None) -> list[tuple[bytes, bytes | None]]:
        """The parts of ``[start, end)`` inside the slice, in ascending order."""
        out = []
        for low, high in self.intervals:
            new_low = max(low, start)
            if end is None:
                new_high = high
            elif high is None:
                new_high = end
            else:
                new_high = min(high, end)
            if new_high is None or new_low < new_high:
                out.append((new_low, new_high))
        return out

    def to_wire(self) -> list[Any]:
        return [[[r.start, r.start_inclusive, r.end, r.end_inclusive] for r in self.ranges],
                self.reversed]

    @classmethod
    def from_wire(cls, wire: list[Any]) -> ClusteringSlice:
        return cls(tuple(ClusteringRange(*r) for r in wire[0]), bool(wire[1]))
