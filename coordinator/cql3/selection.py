"""SELECT to ``ReadPlan``: selectors, restrictions, ordering and limits, checked.

Invariant: a ``ReadPlan`` only names columns of its table, its ``reversed`` flag is the
one place ORDER BY shows up, and every selector has an output name and CQL type.
"""

from __future__ import annotations

from coordinator.cql3.binding import Binder
from coordinator.service.plans import FULL_TOKEN_RANGE, ReadPlan, SelectorPlan
from coordinator.cql3.restrictions import Restrictions, restrict
from coordinator.cql3.statements import Select, Selector
from node.errors import Invalid
from node.schema.definitions import CLUSTERING, PARTITION_KEY, TableSchema
from node.schema.types import TYPES


def plan_select(statement: Select, schema: TableSchema, binder: Binder) -> ReadPlan:
    restrictions = restrict(schema, statement.where, binder,
                            allow_filtering=statement.allow_filtering, modification=False)
    selectors = _selectors(statement.selectors, schema)
    reversed_order = _reversed(statement.order_by, schema, restrictions)
    limit = _limit(binder, statement.limit, "LIMIT")
    per_partition_limit = _limit(binder, statement.per_partition_limit, "PER PARTITION LIMIT")
    wanted = [s.column for s in selectors if s.column is not None]
    wanted += [f.column for f in restrictions.filters]
    columns = tuple(dict.fromkeys(
        name for name in wanted
        if schema.column(name).kind not in (PARTITION_KEY, CLUSTERING)))
    return ReadPlan(
        table=schema,
        partition_keys=restrictions.partition_keys,
        token_range=restrictions.token_range or FULL_TOKEN_RANGE,
        clustering_ranges=restrictions.clustering_ranges(schema),
        reversed=reversed_order,
        selectors=selectors,
        filters=tuple(restrictions.filters),
        limit=limit,
        per_partition_limit=per_partition_limit,
        is_count=any(s.kind == "count" for s in selectors),
        columns=columns,
    )


def star_columns(schema: TableSchema) -> list[str]:
    """``SELECT *`` order, as Cassandra: partition key, clustering, then static and
    regular columns, each group by name."""
    statics = sorted(c.name for c in schema.static_columns)
    regulars = sorted(c.name for c in schema.regular_columns)
    return ([c.name for c in schema.partition_key_columns]
            + [c.name for c in schema.clustering_columns] + statics + regulars)


def _selectors(selectors: tuple[Selector, ...] | None, schema: TableSchema
               ) -> tuple[SelectorPlan, ...]:
    if selectors is None:
        return tuple(SelectorPlan("column", name, name, schema.column(name).type)
                     for name in star_columns(schema))
    plans = tuple(_selector(selector, schema) for selector in selectors)
    if any(p.kind == "count" for p in plans) and any(p.kind != "count" for p in plans):
        raise Invalid("COUNT(*) cannot be mixed with other selectors in shardsim")
    return plans


def _selector(selector: Selector, schema: TableSchema) -> SelectorPlan:
    kind = selector.kind
    if kind == "count":
        return SelectorPlan("count", None, selector.alias or "count", TYPES["bigint"])
    if kind == "token":
        expected = tuple(c.name for c in schema.partition_key_columns)
        if selector.columns != expected:
            raise Invalid("The token function arguments must be in the partition key order: "
                          + ", ".join(expected))
        name = selector.alias or f"system.token({', '.join(expected)})"
        return SelectorPlan("token", None, name, TYPES["bigint"])
    (column_name,) = selector.columns
    column = schema.column(column_name)
    if kind == "column":
        return SelectorPlan("column", column.name, selector.alias or column.name, column.type)
    if column.kind in (PARTITION_KEY, CLUSTERING):
        raise Invalid(f"Cannot use selection function {kind} on PRIMARY KEY part {column.name}")
    result_type = TYPES["int"] if kind == "ttl" else TYPES["bigint"]
    return SelectorPlan(kind, column.name, selector.alias or f"{kind}({column.name})", result_type)


def _reversed(order_by: tuple[tuple[str, bool], ...], schema: TableSchema,
              restrictions: Restrictions) -> bool:
    if not order_by:
        return False
    if restrictions.partition_keys is None:
        raise Invalid("ORDER BY is only supported when the partition key is restricted by an "
                      "EQ or an IN.")
    clustering = schema.clustering_columns
    positions = {c.name: i for i, c in enumerate(clustering)}
    reversed_order: bool | None = None
    last = -1
    for name, descending in order_by:
        column = schema.column(name)
        if column.kind != CLUSTERING:
            raise Invalid(f"Order by is currently only supported on the clustered columns of "
                          f"the PRIMARY KEY, got {name}")
        if positions[name] <= last:
            raise Invalid("Order by currently only supports the ordering of columns following "
                          "their declared order in the PRIMARY KEY")
        last = positions[name]
        flips = descending != column.descending
        if reversed_order is None:
            reversed_order = flips
        elif reversed_order != flips:
            raise Invalid("Unsupported order by relation")
    assert reversed_order is not None
    return reversed_order


def _limit(binder: Binder, term: object, what: str) -> int | None:
    value = binder.integer(term, what)
    if value is not None and value <= 0:
        raise Invalid(f"{what} must be strictly positive")
    return value


__all__ = ["plan_select", "star_columns"]
