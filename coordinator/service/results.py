"""Result rows: reconciled partitions into the rows a SELECT returns.

Per partition: its live rows in clustering order (reversed for DESC reads), or, when
it has no live row but a live static row and the query does not restrict clustering,
one row of static values with null clustering columns, as Cassandra returns. Each
row is checked against the filters (ALLOW FILTERING), counted against PER PARTITION
LIMIT, and projected onto the selectors (columns, ``token``, ``ttl``, ``writetime``).

Invariant: values are Python values of the selector's type, or None; JSON happens at
the HTTP boundary (``to_json``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from coordinator.service.plans import ReadPlan, SelectorPlan
from coordinator.service.reconciliation import PartitionData
from node.schema.definitions import CLUSTERING, PARTITION_KEY, STATIC
from node.mutation.mutation import Cell, Row


class _RowView:
    """One result row's sources: partition key values, clustering values, static and
    regular cells."""

    __slots__ = ("partition", "key_values", "clustering_values", "static", "row")

    def __init__(self, partition: PartitionData, key_values: list[Any],
                 clustering_values: tuple, static: Row | None, row: Row | None) -> None:
        self.partition = partition
        self.key_values = key_values
        self.clustering_values = clustering_values
        self.static = static
        self.row = row


def _cell(plan: ReadPlan, view: _RowView, column: str) -> Cell | None:
    definition = plan.table.column(column)
    source = view.static if definition.kind == STATIC else view.row
    if source is None:
        return None
    return source.cells.get(column)


def _value(plan: ReadPlan, view: _RowView, column: str, now_s: float) -> Any:
    definition = plan.table.column(column)
    if definition.kind == PARTITION_KEY:
        index = [c.name for c in plan.table.partition_key_columns].index(column)
        return view.key_values[index]
    if definition.kind == CLUSTERING:
        index = [c.name for c in plan.table.clustering_columns].index(column)
        return view.clustering_values[index] if index < len(view.clustering_values) else None
    cell = _cell(plan, view, column)
    if cell is None or not cell.is_live(now_s):
        return None
    return definition.type.deserialize(cell.value)


def _project(plan: ReadPlan, selector: SelectorPlan, view: _RowView, now_s: float) -> Any:
    if selector.kind == "column":
        return _value(plan, view, selector.column, now_s)
    if selector.kind == "token":
        return view.partition.token
    cell = _cell(plan, view, selector.column)
    if cell is None or not cell.is_live(now_s):
        return None
    if selector.kind == "writetime":
        return cell.timestamp_us
    if selector.kind == "ttl":
        if not cell.ttl_s:
            return None
        return max(0, math.ceil(cell.local_deletion_time_s - now_s))
    raise AssertionError(f"unknown selector kind {selector.kind}")


def _views(plan: ReadPlan, partition: PartitionData, now_s: float) -> Iterator[_RowView]:
    key_values = plan.table.deserialize_partition_key(partition.key)
    static = partition.live_static(now_s)
    live = partition.live_rows(now_s, reversed_order=plan.reversed)
    live = [(c, r) for c, r in live if any(rng.contains(c) for rng in plan.clustering_ranges)]
    if not live:
        unrestricted = all(rng.is_full for rng in plan.clustering_ranges)
        if static is not None and unrestricted:
            yield _RowView(partition, key_values, (), static, None)
        return
    for clustering, row in live:
        yield _RowView(partition, key_values, plan.table.decode_clustering(clustering), static, row)


def partition_rows(plan: ReadPlan, partition: PartitionData, now_s: float,
                   limit: int | None = None) -> list[list[Any]]:
    """The selected rows of one partition, after filters and PER PARTITION LIMIT."""
    out = []
    cap = plan.per_partition_limit
    for view in _views(plan, partition, now_s):
        if plan.filters and not all(f.matches(_value(plan, view, f.column, now_s)) for f in plan.filters):
            continue
        out.append([_project(plan, s, view, now_s) for s in plan.selectors if s.kind != "count"])
        if cap is not None and len(out) >= cap:
            break
        if limit is not None and len(out) >= limit:
            break
    return out


def to_json(plan: ReadPlan, rows: list[list[Any]]) -> list[list[Any]]:
    selectors = [s for s in plan.selectors if s.kind != "count"]
    return [[None if value is None else selector.type.to_json(value)
             for selector, value in zip(selectors, row)] for row in rows]


def column_specs(plan: ReadPlan) -> list[dict[str, str]]:
    if plan.is_count:
        return [{"name": s.name, "type": s.type.name} for s in plan.selectors if s.kind == "count"]
    return [{"name": s.name, "type": s.type.name} for s in plan.selectors]


def selected_rows(plan: ReadPlan, partition: PartitionData, now_s: float,
                  static_only_allowed: bool = True) -> Iterator[tuple[bytes | None, list[Any], int]]:
    """The rows of one partition that pass the filters, each as (clustering bytes, or
    None for the static-only row; projected values; approximate size in bytes), in
    read order, before PER PARTITION LIMIT (the pager applies it across pages)."""
    key_values = plan.table.deserialize_partition_key(partition.key)
    static = partition.live_static(now_s)
    static_size = static.size_bytes() if static is not None else 0
    found = False
    for clustering, row in partition.live_rows(now_s, reversed_order=plan.reversed):
        if not any(rng.contains(clustering) for rng in plan.clustering_ranges):
            continue
        found = True
        view = _RowView(partition, key_values, plan.table.decode_clustering(clustering), static, row)
        if plan.filters and not all(f.matches(_value(plan, view, f.column, now_s)) for f in plan.filters):
            continue
        yield (clustering, [_project(plan, s, view, now_s) for s in plan.selectors if s.kind != "count"],
               len(clustering) + row.size_bytes() + static_size)
    if found or static is None or not static_only_allowed:
        return
    if not all(rng.is_full for rng in plan.clustering_ranges):
        return
    view = _RowView(partition, key_values, (), static, None)
    if plan.filters and not all(f.matches(_value(plan, view, f.column, now_s)) for f in plan.filters):
        return
    yield None, [_project(plan, s, view, now_s) for s in plan.selectors if s.kind != "count"], static_size
