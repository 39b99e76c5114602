"""A WHERE clause checked against a table: partitions, token range, clustering, filters.

``restrict`` sorts the relations of a WHERE clause into what a read or write can use
directly -- the partition keys (= and IN on every partition key column, expanded as a
cartesian product), a token range (``token(pk) > ?``), the clustering ranges (= and IN
on leading clustering columns, then at most one slice) -- and what must be checked row
by row (filters, only with ALLOW FILTERING). The checks and messages follow
Cassandra's ``StatementRestrictions``.

Invariant: a restriction is used to narrow a read only when it selects exactly the
rows it names; anything else becomes a ``Filter`` or an ``Invalid``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from coordinator.cql3.binding import Binder
from coordinator.service.plans import (
    FULL_CLUSTERING_RANGE,
    ClusteringBound,
    ClusteringRange,
    Filter,
    PartitionKey,
    TokenBound,
    TokenRange,
)
from coordinator.cql3.statements import Relation, TokenRelation
from node.errors import Invalid
from node.dht.token import token_of
from node.schema.definitions import CLUSTERING, PARTITION_KEY, ColumnDef, TableSchema
from node.schema.types import TYPES

FILTERING_MESSAGE = (
    "Cannot execute this query as it might involve data filtering and thus may have "
    "unpredictable performance. If you want to execute this query despite the performance "
    "unpredictability, use ALLOW FILTERING")


@dataclass
class _Slice:
    lower: tuple[Any, bool] | None = None   # (value, inclusive) in value order
    upper: tuple[Any, bool] | None = None


@dataclass
class _ColumnRestriction:
    column: ColumnDef
    values: list[Any] | None = None   # = (one value) or IN (several)
    slice: _Slice | None = None
    is_in: bool = False


@dataclass
class Restrictions:
    """The result of ``restrict``. ``partition_keys`` None: not every partition key column
    is restricted by = or IN, so a read is a range scan over ``token_range``."""

    partition_keys: tuple[PartitionKey, ...] | None
    token_range: TokenRange | None
    clustering_values: list[list[Any]]          # leading clustering columns with = or IN
    clustering_slice: tuple[int, _Slice] | None  # (column position, slice) after them
    filters: list[Filter] = field(default_factory=list)
    has_clustering_restrictions: bool = False

    def clustering_ranges(self, schema: TableSchema) -> tuple[ClusteringRange, ...]:
        return clustering_ranges(schema, self.clustering_values, self.clustering_slice)

    def full_clustering_keys(self, schema: TableSchema) -> list[tuple] | None:
        """Every full clustering key named by = and IN, or None if some column is not."""
        count = len(schema.clustering_columns)
        if self.clustering_slice is not None or len(self.clustering_values) != count:
            return None
        return _unique(itertools.product(*self.clustering_values))


def restrict(schema: TableSchema, where: tuple, binder: Binder, *,
             allow_filtering: bool, modification: bool) -> Restrictions:
    """Check ``where`` against ``schema``; ``modification`` applies UPDATE/DELETE rules."""
    by_column, token_relations = _group(schema, where, binder)
    if token_relations and modification:
        raise Invalid("The token function cannot be used in WHERE clauses for UPDATE and "
                      "DELETE statements")
    filters: list[Filter] = []
    keys = _partition_keys(schema, by_column, bool(token_relations), allow_filtering,
                           modification, filters)
    token_range = _token_range(schema, token_relations, binder) if token_relations else None
    values, slice_restriction, has_clustering = _clustering(
        schema, by_column, allow_filtering, filters)
    for restriction in by_column.values():
        if restriction.column.kind in (PARTITION_KEY, CLUSTERING):
            continue
        if modification:
            raise Invalid(f"Non PRIMARY KEY columns found in where clause: "
                          f"{restriction.column.name}")
        if not allow_filtering:
            raise Invalid(FILTERING_MESSAGE)
        filters.extend(_filters_of(restriction))
    if keys is None and has_clustering and not allow_filtering and not modification:
        raise Invalid(FILTERING_MESSAGE)
    return Restrictions(keys, token_range, values, slice_restriction, filters, has_clustering)


def _group(schema: TableSchema, where: tuple, binder: Binder
           ) -> tuple[dict[str, _ColumnRestriction], list[TokenRelation]]:
    by_column: dict[str, _ColumnRestriction] = {}
    token_relations: list[TokenRelation] = []
    for relation in where:
        if isinstance(relation, TokenRelation):
            token_relations.append(relation)
            continue
        column = schema.column(relation.column)
        if relation.operator == "!=":
            raise Invalid(f'Unsupported "!=" relation: {relation.column} != ...')
        restriction = by_column.setdefault(column.name, _ColumnRestriction(column))
        _merge(restriction, relation, binder)
    return by_column, token_relations


def _merge(restriction: _ColumnRestriction, relation: Relation, binder: Binder) -> None:
    column = restriction.column
    if restriction.values is not None:
        kind = "a IN" if restriction.is_in else "an Equal"
        raise Invalid(f"{column.name} cannot be restricted by more than one relation if it "
                      f"includes {kind}")
    if relation.operator in ("=", "IN"):
        if restriction.slice is not None:
            kind = "a IN" if relation.operator == "IN" else "an Equal"
            raise Invalid(f"{column.name} cannot be restricted by more than one relation if it "
                          f"includes {kind}")
        if relation.operator == "IN":
            values = binder.values_of(relation.value, column.type, column.name)
        else:
            values = [binder.value(relation.value, column.type, column.name)]
        if any(value is None for value in values):
            raise Invalid(f"Invalid null value in condition for column {column.name}")
        restriction.values = _unique(values)
        restriction.is_in = relation.operator == "IN"
        return
    value = binder.value(relation.value, column.type, column.name)
    if value is None:
        raise Invalid(f"Invalid null value in condition for column {column.name}")
    restriction.slice = restriction.slice or _Slice()
    inclusive = relation.operator in ("<=", ">=")
    if relation.operator in (">", ">="):
        if restriction.slice.lower is not None:
            raise Invalid(f"More than one restriction was found for the start bound on "
                          f"{column.name}")
        restriction.slice.lower = (value, inclusive)
    else:
        if restriction.slice.upper is not None:
            raise Invalid(f"More than one restriction was found for the end bound on "
                          f"{column.name}")
        restriction.slice.upper = (value, inclusive)


def _partition_keys(schema: TableSchema, by_column: dict[str, _ColumnRestriction],
                    has_token: bool, allow_filtering: bool, modification: bool,
                    filters: list[Filter]) -> tuple[PartitionKey, ...] | None:
    columns = schema.partition_key_columns
    restricted = [by_column[c.name] for c in columns if c.name in by_column]
    if has_token and restricted:
        names = ", ".join(r.column.name for r in restricted)
        raise Invalid(f'Columns "{names}" cannot be restricted by both a normal relation and '
                      "a token relation")
    usable = len(restricted) == len(columns) and all(r.values is not None for r in restricted)
    if usable:
        return expand_partition_keys(schema, [r.values for r in restricted])
    if modification:
        missing = ", ".join(c.name for c in columns if c.name not in by_column)
        if missing:
            raise Invalid(f"Some partition key parts are missing: {missing}")
        raise Invalid("Only EQ and IN relation are supported on the partition key "
                      "(unless you use the token() function)")
    if restricted and not allow_filtering:
        if any(r.slice is not None for r in restricted):
            raise Invalid("Only EQ and IN relation are supported on the partition key "
                          "(unless you use the token() function)")
        missing = ", ".join(c.name for c in columns if c.name not in by_column)
        raise Invalid(f"Partition key parts: {missing} must be restricted as other parts are")
    for restriction in restricted:
        filters.extend(_filters_of(restriction))
    return None


def expand_partition_keys(schema: TableSchema, values: list[list[Any]]
                           ) -> tuple[PartitionKey, ...]:
    """The cartesian product of the = and IN values: distinct keys, in token order."""
    keys: dict[bytes, PartitionKey] = {}
    for combination in itertools.product(*values):
        key = schema.serialize_partition_key(list(combination))
        if key not in keys:
            keys[key] = PartitionKey(tuple(combination), key, token_of(key))
    return tuple(sorted(keys.values(), key=lambda k: (k.token, k.key)))


def _token_range(schema: TableSchema, relations: list[TokenRelation], binder: Binder) -> TokenRange:
    expected = tuple(c.name for c in schema.partition_key_columns)
    start: TokenBound | None = None
    end: TokenBound | None = None
    for relation in relations:
        if relation.columns != expected:
            raise Invalid("The token function arguments must be in the partition key order: "
                          + ", ".join(expected))
        if relation.operator == "IN":
            raise Invalid("IN is not supported on token()")
        token = binder.value(relation.value, TYPES["bigint"], "token(" + ", ".join(expected) + ")")
        if token is None:
            raise Invalid("Invalid null value for token")
        bound = TokenBound(token, relation.operator in ("=", "<=", ">="))
        if relation.operator in ("=", ">", ">="):
            if start is not None:
                raise Invalid(f"More than one restriction was found for the start bound on "
                              f"{', '.join(expected)}")
            start = bound
        if relation.operator in ("=", "<", "<="):
            if end is not None:
                raise Invalid(f"More than one restriction was found for the end bound on "
                              f"{', '.join(expected)}")
            end = bound
    return TokenRange(start, end)


def _clustering(schema: TableSchema, by_column: dict[str, _ColumnRestriction],
                allow_filtering: bool, filters: list[Filter]
                ) -> tuple[list[list[Any]], tuple[int, _Slice] | None, bool]:
    values: list[list[Any]] = []
    slice_restriction: tuple[int, _Slice] | None = None
    blocked: str | None = None   # the message for any later clustering restriction
    found = False
    for position, column in enumerate(schema.clustering_columns):
        restriction = by_column.get(column.name)
        if restriction is None:
            if blocked is None:
                blocked = (f'PRIMARY KEY column "{{}}" cannot be restricted as preceding '
                           f'column "{column.name}" is not restricted')
            continue
        found = True
        if blocked is not None:
            if not allow_filtering:
                raise Invalid(blocked.format(column.name))
            filters.extend(_filters_of(restriction))
        elif restriction.values is not None:
            values.append(restriction.values)
        else:
            slice_restriction = (position, restriction.slice)  # type: ignore[assignment]
            blocked = (f'Clustering column "{{}}" cannot be restricted (preceding column '
                       f'"{column.name}" is restricted by a non-EQ relation)')
    return values, slice_restriction, found


def _filters_of(restriction: _ColumnRestriction) -> list[Filter]:
    column = restriction.column
    if restriction.values is not None:
        operator = "IN" if restriction.is_in else "="
        return [Filter(column.name, column.type, operator, tuple(restriction.values))]
    result = []
    assert restriction.slice is not None
    if restriction.slice.lower is not None:
        value, inclusive = restriction.slice.lower
        result.append(Filter(column.name, column.type, ">=" if inclusive else ">", (value,)))
    if restriction.slice.upper is not None:
        value, inclusive = restriction.slice.upper
        result.append(Filter(column.name, column.type, "<=" if inclusive else "<", (value,)))
    return result


def clustering_ranges(schema: TableSchema, values: list[list[Any]],
                      slice_restriction: tuple[int, _Slice] | None) -> tuple[ClusteringRange, ...]:
    """The clustering ranges of = / IN prefixes and an optional slice on the next column,
    sorted and distinct, in the table's clustering order."""
    if not values and slice_restriction is None:
        return (FULL_CLUSTERING_RANGE,)
    encode = schema.encode_clustering
    ranges = []
    for prefix in _unique(itertools.product(*values)):
        if slice_restriction is None:
            bound = ClusteringBound(encode(prefix), True)
            ranges.append(ClusteringRange(bound, bound))
            continue
        position, restriction = slice_restriction
        low, high = restriction.lower, restriction.upper
        if schema.clustering_columns[position].descending:
            low, high = high, low
        whole = ClusteringBound(encode(prefix), True) if prefix else None
        start = ClusteringBound(encode(prefix + (low[0],)), low[1]) if low else whole
        end = ClusteringBound(encode(prefix + (high[0],)), high[1]) if high else whole
        ranges.append(ClusteringRange(start, end))
    ranges = _unique(ranges)
    ranges.sort(key=lambda r: r.start.prefix if r.start is not None else b"")
    return tuple(ranges)


def _unique(items: Any) -> list:
    """Distinct items in first-seen order (every bound value is hashable)."""
    return list(dict.fromkeys(items))
