"""INSERT, UPDATE, DELETE and BATCH to ``WritePlan``s, checked against the schema.

One plan per partition (and, for UPDATE/DELETE with IN on clustering columns, per
row). INSERT writes a row marker; UPDATE does not; a null value is a cell tombstone.
TTL comes from ``USING TTL`` or the table's ``default_time_to_live``; the timestamp from
``USING TIMESTAMP`` (statement or batch), else None for the coordinator's clock.

Invariant: a plan never sets a primary key column as a cell, never holds a null key
component, and writes regular cells only to a fully named clustering row.
"""

from __future__ import annotations

from typing import Any, Callable

from coordinator.cql3.binding import Binder
from coordinator.service.plans import CellWrite, PartitionKey, WritePlan
from coordinator.cql3.restrictions import expand_partition_keys, restrict
from coordinator.cql3.statements import Batch, Delete, Insert, TableName, Update
from node.errors import Invalid
from node.schema.definitions import CLUSTERING, PARTITION_KEY, STATIC, TableSchema

TableResolver = Callable[[TableName], TableSchema]


def plan_insert(statement: Insert, schema: TableSchema, binder: Binder,
                timestamp: int | None = None) -> list[WritePlan]:
    given: dict[str, Any] = {}
    for name, term in zip(statement.columns, statement.values):
        column = schema.column(name)
        if name in given:
            raise Invalid(f"Multiple definitions found for column {name}")
        given[name] = binder.value(term, column.type, name)
    _require(schema.partition_key_columns, given, "Some partition key parts are missing: ",
             "partition key")
    clustering_columns = schema.clustering_columns
    cells_named = [schema.column(n) for n in given if schema.column(n).kind not in
                   (PARTITION_KEY, CLUSTERING)]
    only_static = bool(cells_named) and all(c.kind == STATIC for c in cells_named)
    has_clustering = any(c.name in given for c in clustering_columns)
    static_row_only = only_static and not has_clustering and bool(clustering_columns)
    if not static_row_only:
        _require(clustering_columns, given, "Some clustering keys are missing: ",
                 "clustering key")
    keys = expand_partition_keys(schema, [[given[c.name]] for c in schema.partition_key_columns])
    clustering_values = () if static_row_only else tuple(given[c.name] for c in clustering_columns)
    cells = tuple(_cell(c.name, c.kind, c.type, given[c.name]) for c in cells_named)
    return [WritePlan(
        table=schema, partition=keys[0],
        clustering=None if static_row_only else schema.encode_clustering(clustering_values),
        clustering_values=clustering_values, cells=cells, row_marker=not static_row_only,
        timestamp=_timestamp(binder, statement.timestamp, timestamp),
        ttl=binder.ttl(statement.ttl, schema.options.default_time_to_live))]


def plan_update(statement: Update, schema: TableSchema, binder: Binder,
                timestamp: int | None = None) -> list[WritePlan]:
    cells = []
    seen: set[str] = set()
    for name, term in statement.assignments:
        column = schema.column(name)
        if column.kind in (PARTITION_KEY, CLUSTERING):
            raise Invalid(f"PRIMARY KEY part {name} found in SET part")
        if name in seen:
            raise Invalid(f"Multiple definitions found for column {name}")
        seen.add(name)
        cells.append(_cell(name, column.kind, column.type,
                           binder.value(term, column.type, name)))
    restrictions = restrict(schema, statement.where, binder, allow_filtering=False,
                            modification=True)
    if restrictions.clustering_slice is not None:
        raise Invalid("Slice restrictions are not supported on the clustering columns in "
                      "UPDATE statements")
    only_static = all(cell.static for cell in cells)
    rows: list[tuple | None] | None = restrictions.full_clustering_keys(schema)
    if rows is None:
        if not only_static or restrictions.has_clustering_restrictions:
            named = len(restrictions.clustering_values)
            missing = [c.name for c in schema.clustering_columns][named:]
            raise Invalid(f"Some clustering keys are missing: {', '.join(missing)}")
        rows = [None]
    common = dict(timestamp=_timestamp(binder, statement.timestamp, timestamp),
                  ttl=binder.ttl(statement.ttl, schema.options.default_time_to_live))
    assert restrictions.partition_keys is not None
    return [_row_plan(schema, key, row, tuple(cells), **common)
            for key in restrictions.partition_keys for row in rows]


def plan_delete(statement: Delete, schema: TableSchema, binder: Binder,
                timestamp: int | None = None) -> list[WritePlan]:
    columns = []
    for name in dict.fromkeys(statement.columns):
        column = schema.column(name)
        if column.kind in (PARTITION_KEY, CLUSTERING):
            raise Invalid(f"Invalid identifier {name} for deletion (should not be a PRIMARY "
                          "KEY part)")
        columns.append(column)
    restrictions = restrict(schema, statement.where, binder, allow_filtering=False,
                            modification=True)
    assert restrictions.partition_keys is not None
    stamp = _timestamp(binder, statement.timestamp, timestamp)
    rows = restrictions.full_clustering_keys(schema)
    keys = restrictions.partition_keys
    if columns:
        only_static = all(c.kind == STATIC for c in columns)
        if only_static and not restrictions.has_clustering_restrictions:
            rows = [None]
        elif rows is None:
            raise Invalid("Range deletions are not supported for specific columns")
        cells = tuple(CellWrite(c.name, None, c.kind == STATIC) for c in columns)
        return [_row_plan(schema, key, row, cells, timestamp=stamp, ttl=0)
                for key in keys for row in rows]
    if not restrictions.has_clustering_restrictions:
        # As Cassandra: no clustering restriction (or no clustering columns) deletes the
        # whole partition.
        return [WritePlan(schema, key, None, (), delete_partition=True, timestamp=stamp)
                for key in keys]
    if rows is not None:
        return [WritePlan(schema, key, schema.encode_clustering(row), row, delete_row=True,
                          timestamp=stamp) for key in keys for row in rows]
    ranges = restrictions.clustering_ranges(schema)
    return [WritePlan(schema, key, None, (), delete_range=clustering_range, timestamp=stamp)
            for key in keys for clustering_range in ranges]


def plan_batch(statement: Batch, resolve: TableResolver, binder: Binder) -> list[WritePlan]:
    """Every statement's plans in order; a batch timestamp applies to all of them."""
    batch_timestamp = _timestamp(binder, statement.timestamp, None)
    plans: list[WritePlan] = []
    for inner in statement.statements:
        if batch_timestamp is not None and inner.timestamp is not None:
            raise Invalid("Timestamp must be set either on BATCH or individual statements")
        schema = resolve(inner.table)
        planner = _PLANNERS[type(inner)]
        plans.extend(planner(inner, schema, binder, batch_timestamp))
    return plans


def _row_plan(schema: TableSchema, key: PartitionKey, row: tuple | None,
              cells: tuple[CellWrite, ...], *, timestamp: int | None, ttl: int) -> WritePlan:
    if row is None:
        return WritePlan(schema, key, None, (), cells, timestamp=timestamp, ttl=ttl)
    return WritePlan(schema, key, schema.encode_clustering(row), row, cells,
                     timestamp=timestamp, ttl=ttl)


def _cell(name: str, kind: str, cql_type: Any, value: Any) -> CellWrite:
    serialized = None if value is None else cql_type.serialize(value)
    return CellWrite(name, serialized, kind == STATIC)


def _require(columns: list, given: dict[str, Any], missing_message: str, part: str) -> None:
    missing = [c.name for c in columns if c.name not in given]
    if missing:
        raise Invalid(missing_message + ", ".join(missing))
    for column in columns:
        if given[column.name] is None:
            raise Invalid(f"Invalid null value for {part} part {column.name}")


def _timestamp(binder: Binder, term: Any, default: int | None) -> int | None:
    value = binder.integer(term, "timestamp")
    return default if value is None else value


_PLANNERS: dict[type, Callable[..., list[WritePlan]]] = {
    Insert: plan_insert, Update: plan_update, Delete: plan_delete}
