"""Write plans into storage mutations, stamped with the coordinator's time.

A ``WritePlan`` (one partition's part of an INSERT, UPDATE or DELETE) becomes one
``Mutation``: cells with the write timestamp (``USING TIMESTAMP`` or the node's
clock in microseconds) and TTL, a row marker for INSERT, and row, partition or range
tombstones dated ``now`` (seconds) for deletes.

Invariant: every part of one statement carries the same timestamp.
"""

from __future__ import annotations

from coordinator.service.plans import WritePlan
from node.mutation.mutation import Cell, Mutation, RangeTombstone, Row, Tombstone


def build_mutation(plan: WritePlan, timestamp_us: int, now_s: int) -> Mutation:
    timestamp = plan.timestamp if plan.timestamp is not None else timestamp_us
    mutation = Mutation(plan.table.id, plan.partition.key, plan.partition.token)
    deletion = Tombstone(timestamp, now_s)
    if plan.delete_partition:
        mutation.partition_tombstone = deletion
    if plan.delete_range is not None:
        start, end = plan.delete_range.start, plan.delete_range.end
        range_tombstone = RangeTombstone.from_prefixes(
            start.prefix if start else b"", start.inclusive if start else True,
            end.prefix if end else b"", end.inclusive if end else True, deletion)
        if range_tombstone is not None:
            mutation.range_tombstones.append(range_tombstone)
    row: Row | None = None
    if plan.clustering is not None and (plan.row_marker or plan.delete_row
                                        or any(not c.static for c in plan.cells)):
        row = mutation.rows.setdefault(plan.clustering, Row())
        if plan.row_marker:
            row.marker = Cell.live(timestamp, b"", plan.ttl, now_s)
        if plan.delete_row:
            row.tombstone = deletion
    for write in plan.cells:
        if write.value is None:
            cell = Cell.tombstone(timestamp, now_s)
        else:
            cell = Cell.live(timestamp, write.value, plan.ttl, now_s)
        if write.static:
            if mutation.static_row is None:
                mutation.static_row = Row()
            mutation.static_row.cells[write.column] = cell
        else:
            assert row is not None, "a regular cell belongs to a row"
            row.cells[write.column] = cell
    return mutation
