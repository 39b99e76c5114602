"""Where a reader stands in its fragment stream: enough to resume exactly.

A position names the last fragment handed out: nothing yet, or a partition and the
stage inside it (its start, its static row, a range tombstone, a clustering row, its
end). The querier cache compares a saved reader's ``position`` with the paging cookie;
a new reader built from a position yields exactly what follows it.

A ``NamedTuple``, not a dataclass: a reader makes one per fragment, so it must be cheap.

Invariant: positions of one stream strictly increase in stream order.
"""

from __future__ import annotations

from typing import Any, NamedTuple

BEFORE_ALL = 0
AFTER_START = 1
AFTER_STATIC = 2
AFTER_RANGE_TOMBSTONE = 3
AFTER_ROW = 4
AFTER_END = 5


class Position(NamedTuple):
    stage: int = BEFORE_ALL
    token: int = 0
    key: bytes = b""
    clustering: bytes | None = None                        # AFTER_ROW
    range_tombstone: tuple[bytes, bytes | None] | None = None  # AFTER_RANGE_TOMBSTONE

    @property
    def partition(self) -> tuple[int, bytes] | None:
        return None if self.stage == BEFORE_ALL else (self.token, self.key)

    @property
    def partition_start_emitted(self) -> bool:
        """True inside a partition whose start was handed out and end was not."""
        return AFTER_START <= self.stage < AFTER_END

    def to_wire(self) -> list[Any]:
        return [self.stage, self.token, self.key, self.clustering,
                None if self.range_tombstone is None else list(self.range_tombstone)]

    @classmethod
    def from_wire(cls, wire: list[Any]) -> Position:
        return cls(wire[0], wire[1], wire[2], wire[3],
                   None if wire[4] is None else (wire[4][0], wire[4][1]))
