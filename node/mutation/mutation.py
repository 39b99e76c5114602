"""The mutation model: what one write does to one partition, and its wire form.

A ``Mutation`` carries, for one partition of one table: an optional partition
tombstone, an optional static row, clustering rows keyed by their encoded clustering
bytes (each with an optional row marker, row tombstone and cells) and range tombstones
over clustering slices. ``to_wire()`` gives plain msgpack-able values; the same form
travels over RPC, into the commitlog and into hint files.

A cell is live when it has a value and has not expired; a cell tombstone has
``value is None``. ``local_deletion_time_s`` is the expiry of a TTL'd cell and the
deletion time of a tombstone (0: none). A row marker is a cell whose value is ``b""``.

Range tombstones are normalized at construction to a half-open interval
``[start, end)`` over clustering bytes (``end is None``: unbounded), so prefix bounds
(an inclusive end on prefix P covers every key starting with P) are resolved once.

Invariant: objects here are plain values; storage never mutates a ``Cell``,
``Tombstone`` or ``RangeTombstone`` after building it.
"""

from __future__ import annotations

from typing import Any

NO_DELETION = 0


class Tombstone:
    __slots__ = ("timestamp_us", "deletion_time_s")

    def __init__(self, timestamp_us: int, deletion_time_s: int) -> None:
        self.timestamp_us = timestamp_us
        self.deletion_time_s = deletion_time_s

    def to_wire(self) -> list[int]:
        return [self.timestamp_us, self.deletion_time_s]

    @classmethod
    def from_wire(cls, wire: list[int] | None) -> Tombstone | None:
        return None if wire is None else cls(wire[0], wire[1])

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Tombstone) and self.timestamp_us == other.timestamp_us
                and self.deletion_time_s == other.deletion_time_s)

    def __repr__(self) -> str:
        return f"Tombstone({self.timestamp_us}, {self.deletion_time_s})"


def newer_tombstone(a: Tombstone | None, b: Tombstone | None) -> Tombstone | None:
    if a is None:
        return b
    if b is None:
        return a
    if (b.timestamp_us, b.deletion_time_s) > (a.timestamp_us, a.deletion_time_s):
        return b
    return a


class Cell:
    __slots__ = ("timestamp_us", "value", "ttl_s", "local_deletion_time_s")

    def __init__(self, timestamp_us: int, value: bytes | None, ttl_s: int = 0,
                 local_deletion_time_s: int = NO_DELETION) -> None:
        self.timestamp_us = timestamp_us
        self.value = value
        self.ttl_s = ttl_s
        self.local_deletion_time_s = local_deletion_time_s

    @classmethod
    def live(cls, timestamp_us: int, value: bytes, ttl_s: int = 0, now_s: int = 0) -> Cell:
        """A live cell; with a TTL it expires at ``now_s + ttl_s``."""
        return cls(timestamp_us, value, ttl_s, now_s + ttl_s if ttl_s else NO_DELETION)

    @classmethod
    def tombstone(cls, timestamp_us: int, deletion_time_s: int) -> Cell:
        return cls(timestamp_us, None, 0, deletion_time_s)

    def is_live(self, now_s: float) -> bool:
        if self.value is None:
            return False
        return self.local_deletion_time_s == NO_DELETION or now_s < self.local_deletion_time_s

    def as_dead(self) -> Cell:
        """An expired cell as the tombstone it is (Cassandra dates it at write time,
        ``expiry - ttl``, so gc_grace counts from when the data was written)."""
        return Cell(self.timestamp_us, None, 0, self.local_deletion_time_s - self.ttl_s)

    def size_bytes(self) -> int:
        return 24 + (len(self.value) if self.value is not None else 0)

    def to_wire(self) -> list[Any]:
        return [self.timestamp_us, self.value, self.ttl_s, self.local_deletion_time_s]

    @classmethod
    def from_wire(cls, wire: list[Any]) -> Cell:
        return cls(wire[0], wire[1], wire[2], wire[3])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cell) and self.to_wire() == other.to_wire()

    def __repr__(self) -> str:
        return f"Cell({self.timestamp_us}, {self.value!r}, ttl={self.ttl_s}, ldt={self.local_deletion_time_s})"


class Row:
    """A row: optional marker (a cell with value b""), optional tombstone, cells by
    column name. The static row uses the same shape without a marker."""

    __slots__ = ("marker", "tombstone", "cells")

    def __init__(self, marker: Cell | None = None, tombstone: Tombstone | None = None,
                 cells: dict[str, Cell] | None = None) -> None:
        self.marker = marker
        self.tombstone = tombstone
        self.cells = cells if cells is not None else {}

    def is_empty(self) -> bool:
        return self.marker is None and self.tombstone is None and not self.cells

    def is_live(self, now_s: float) -> bool:
        """CQL existence: a live marker or any live cell."""
        if self.marker is not None and self.marker.is_live(now_s):
            return True
        return any(cell.is_live(now_s) for cell in self.cells.values())

    def live_values(self, now_s: float) -> dict[str, bytes]:
        return {name: cell.value for name, cell in self.cells.items()
                if cell.is_live(now_s)}  # type: ignore[misc]

    def size_bytes(self) -> int:
        size = 16
        if self.marker is not None:
            size += 24
        if self.tombstone is not None:
            size += 16
        for name, cell in self.cells.items():
            size += len(name) + cell.size_bytes()
        return size

    def to_wire(self) -> list[Any]:
        return [None if self.marker is None else self.marker.to_wire(),
                None if self.tombstone is None else self.tombstone.to_wire(),
                {name: cell.to_wire() for name, cell in self.cells.items()}]

    @classmethod
    def from_wire(cls, wire: list[Any]) -> Row:
        return cls(None if wire[0] is None else Cell.from_wire(wire[0]),
                   Tombstone.from_wire(wire[1]),
                   {name: Cell.from_wire(cell) for name, cell in wire[2].items()})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Row) and self.to_wire() == other.to_wire()

    def __repr__(self) -> str:
        return f"Row(marker={self.marker}, tombstone={self.tombstone}, cells={self.cells})"


def prefix_successor(prefix: bytes) -> bytes | None:
    """The smallest bytes greater than every bytes starting with ``prefix``
    (None: there is none, the bound is the end of the partition)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def normalize_bounds(start: bytes, start_inclusive: bool, end: bytes,
                     end_inclusive: bool) -> tuple[bytes, bytes | None] | None:
    """Prefix bounds as a half-open ``[low, high)`` over clustering bytes (high None:
    unbounded); None when the interval is empty. An empty prefix is unbounded."""
    if start and not start_inclusive:
        low = prefix_successor(start)
        if low is None:
            return None
    else:
        low = start
    if not end:
        high = None
    elif end_inclusive:
        high = prefix_successor(end)
    else:
        high = end
    if high is not None and high <= low:
        return None
    return low, high


class RangeTombstone:
    """A deletion of the clustering interval ``[start, end)`` (end None: to the end)."""

    __slots__ = ("start", "end", "tombstone")

    def __init__(self, start: bytes, end: bytes | None, tombstone: Tombstone) -> None:
        assert end is None or start < end, "a range tombstone is never empty"
        self.start = start
        self.end = end
        self.tombstone = tombstone

    @classmethod
    def from_prefixes(cls, start: bytes, start_inclusive: bool, end: bytes,
                      end_inclusive: bool, tombstone: Tombstone) -> RangeTombstone | None:
        bounds = normalize_bounds(start, start_inclusive, end, end_inclusive)
        return None if bounds is None else cls(bounds[0], bounds[1], tombstone)

    def covers(self, clustering: bytes) -> bool:
        return self.start <= clustering and (self.end is None or clustering < self.end)

    def sort_key(self) -> tuple:
        return (self.start, self.end is None, self.end or b"", self.tombstone.timestamp_us)

    def to_wire(self) -> list[Any]:
        return [self.start, self.end, self.tombstone.to_wire()]

    @classmethod
    def from_wire(cls, wire: list[Any]) -> RangeTombstone:
        start, end, tombstone = wire
        if type(start) is not bytes or not (end is None or (type(end) is bytes and start < end)):
            raise ValueError("a range tombstone needs bytes bounds with start < end")
        return cls(start, end, Tombstone(*tombstone))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RangeTombstone) and self.to_wire() == other.to_wire()

    def __repr__(self) -> str:
        return f"RangeTombstone({self.start!r}, {self.end!r}, {self.tombstone})"


class Mutation:
    """Every change of one write to one partition of one table."""

    __slots__ = ("table_id", "key", "token", "partition_tombstone", "static_row", "rows",
                 "range_tombstones")

    def __init__(self, table_id: str, key: bytes, token: int,
                 partition_tombstone: Tombstone | None = None, static_row: Row | None = None,
                 rows: dict[bytes, Row] | None = None,
                 range_tombstones: list[RangeTombstone] | None = None) -> None:
        self.table_id = table_id
        self.key = key
        self.token = token
        self.partition_tombstone = partition_tombstone
        self.static_row = static_row
        self.rows = rows if rows is not None else {}
        self.range_tombstones = range_tombstones if range_tombstones is not None else []

    def size_bytes(self) -> int:
        size = 64 + len(self.key)
        if self.static_row is not None:
            size += self.static_row.size_bytes()
        for clustering, row in self.rows.items():
            size += len(clustering) + row.size_bytes()
        size += 48 * len(self.range_tombstones)
        return size

    def to_wire(self) -> list[Any]:
        return [self.table_id, self.key, self.token,
                None if self.partition_tombstone is None else self.partition_tombstone.to_wire(),
                None if self.static_row is None else self.static_row.to_wire(),
                [[clustering, row.to_wire()] for clustering, row in self.rows.items()],
                [rt.to_wire() for rt in self.range_tombstones]]

    @classmethod
    def from_wire(cls, wire: list[Any]) -> Mutation:
        """Build from ``to_wire()`` form. Malformed wire raises TypeError, ValueError,
        IndexError, KeyError or AttributeError; the field types are checked by
        ``validation.check_shape``, not here."""
        if not isinstance(wire, (list, tuple)) or len(wire) < 7:
            raise ValueError("a mutation is a list of 7 fields")
        return cls(wire[0], wire[1], wire[2], Tombstone.from_wire(wire[3]),
                   None if wire[4] is None else Row.from_wire(wire[4]),
                   {clustering: Row.from_wire(row) for clustering, row in wire[5]},
                   [RangeTombstone.from_wire(rt) for rt in wire[6]])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mutation) and self.to_wire() == other.to_wire()

    def __repr__(self) -> str:
        return f"Mutation({self.table_id}, {self.key!r}, token={self.token}, rows={len(self.rows)})"
