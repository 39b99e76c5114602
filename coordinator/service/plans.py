"""The plain data a coordinator executes: read plans, write plans and their parts.

Analysis (``selection``, ``modification``) checks a statement against the schema and
binds its values; what comes out is here, free of any syntax. Clustering positions are
``TableSchema.encode_clustering`` bytes, whose ``memcmp`` order is the table's
clustering order (DESC columns already inverted), and a bound is a clustering *prefix*:
because the encoding is prefix-free, the rows "having prefix P" are exactly the keys
that start with the bytes of P.

Invariant: a ``ClusteringRange`` is expressed in the table's clustering (byte) order,
never in the value order of a DESC column; ``contains`` is the one definition of what
a range holds, and storage must agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from node.schema.definitions import TableSchema
from node.schema.types import CqlType


class SchemaLookup(Protocol):
    """Where analysis finds tables. Raises ``Invalid`` ("Keyspace x does not exist",
    "unconfigured table x") when there is no such table."""

    def lookup_table(self, keyspace: str, name: str) -> TableSchema: ...


@dataclass(frozen=True)
class PartitionKey:
    """One partition: its key values, Cassandra-serialized key bytes and token."""

    values: tuple[Any, ...]
    key: bytes
    token: int


@dataclass(frozen=True)
class TokenBound:
    token: int
    inclusive: bool


@dataclass(frozen=True)
class TokenRange:
    """Tokens between ``start`` and ``end``; a None side is unbounded."""

    start: TokenBound | None = None
    end: TokenBound | None = None

    def contains(self, token: int) -> bool:
        if self.start is not None:
            if token < self.start.token or (token == self.start.token and not self.start.inclusive):
                return False
        if self.end is not None:
            if token > self.end.token or (token == self.end.token and not self.end.inclusive):
                return False
        return True


@dataclass(frozen=True)
class ClusteringBound:
    """A clustering prefix (encoded) and whether the rows having that prefix are in."""

    prefix: bytes
    inclusive: bool


@dataclass(frozen=True)
class ClusteringRange:
    """Rows between ``start`` and ``end`` in clustering order; None sides are open.

    - start inclusive P: keys >= P (every key with prefix P is in)
    - start exclusive P: keys after every key with prefix P
    - end inclusive P: keys < P or with prefix P
    - end exclusive P: keys before every key with prefix P
    """

    start: ClusteringBound | None = None
    end: ClusteringBound | None = None

    @property
    def is_full(self) -> bool:
        return self.start is None and self.end is None

    def contains(self, clustering: bytes) -> bool:
        start, end = self.start, self.end
        if start is not None:
            if start.inclusive:
                if clustering < start.prefix:
                    return False
            elif clustering <= start.prefix or clustering.startswith(start.prefix):
                return False
        if end is not None:
            if end.inclusive:
                if clustering > end.prefix and not clustering.startswith(end.prefix):
                    return False
            elif clustering >= end.prefix:
                return False
        return True


FULL_CLUSTERING_RANGE = ClusteringRange()
FULL_TOKEN_RANGE = TokenRange()


@dataclass(frozen=True)
class Filter:
    """A restriction checked on each row after reading (ALLOW FILTERING).

    ``operator`` is = < <= > >= or IN; ``values`` holds one value (several for IN).
    Comparisons use the type's comparable encoding, so they follow CQL order."""

    column: str
    type: CqlType
    operator: str
    values: tuple[Any, ...]

    def matches(self, value: Any) -> bool:
        if value is None:
            return False
        encode = self.type.encode_comparable
        mine = encode(value)
        if self.operator == "IN":
            return any(mine == encode(v) for v in self.values)
        other = encode(self.values[0])
        if self.operator == "=":
            return mine == other
        if self.operator == "<":
            return mine < other
        if self.operator == "<=":
            return mine <= other
        if self.operator == ">":
            return mine > other
        if self.operator == ">=":
            return mine >= other
        raise AssertionError(f"unknown filter operator {self.operator}")


@dataclass(frozen=True)
class SelectorPlan:
    """One output column. ``kind``: column, token, ttl, writetime, count.
    ``column`` is the source column (None for token and count)."""

    kind: str
    column: str | None
    name: str
    type: CqlType


@dataclass(frozen=True)
class ReadPlan:
    """A SELECT, bound and checked.

    ``partition_keys`` is set when every partition key column is restricted by = or IN
    (one entry per distinct key, in token order, as Cassandra returns them); otherwise
    it is None and the read is a range scan over ``token_range``.
    ``clustering_ranges`` are sorted in clustering order and never empty; ``reversed``
    asks for them (and the rows inside) in the opposite order."""

    table: TableSchema
    partition_keys: tuple[PartitionKey, ...] | None
    token_range: TokenRange
    clustering_ranges: tuple[ClusteringRange, ...]
    reversed: bool
    selectors: tuple[SelectorPlan, ...]
    filters: tuple[Filter, ...]
    limit: int | None
    per_partition_limit: int | None
    is_count: bool
    columns: tuple[str, ...]   # static and regular columns to fetch (selectors + filters)


@dataclass(frozen=True)
class CellWrite:
    """A cell to write: serialized value bytes, or None for a cell tombstone."""

    column: str
    value: bytes | None
    static: bool


@dataclass(frozen=True)
class WritePlan:
    """One partition's part of an INSERT, UPDATE or DELETE.

    ``clustering`` is the encoded full clustering key of the row written or deleted
    (``b""`` for a table without clustering columns), or None when the statement only
    touches the partition (static cells, partition delete, range delete).
    ``timestamp`` None means "the coordinator's clock"; ``ttl`` 0 means no TTL."""

    table: TableSchema
    partition: PartitionKey
    clustering: bytes | None
    clustering_values: tuple[Any, ...]
    cells: tuple[CellWrite, ...] = ()
    row_marker: bool = False
    delete_row: bool = False
    delete_partition: bool = False
    delete_range: ClusteringRange | None = None
    timestamp: int | None = None
    ttl: int = 0
