"""Leaving out the cells of dropped columns (``TableSchema.dropped``): what readers,
compaction, commitlog replay and incoming mutations (writes, read repair, hints) do
with a cell whose column was dropped at or after the cell's timestamp.

Only cells go: row markers, row, range and partition tombstones belong to no column
and stay. A row left with nothing at all is no row.

Invariant: with no dropped column every function returns its input object unchanged
(no copy on the hot path); a cell left out here is never handed to a reader, a
compaction output or a memtable.
"""

from __future__ import annotations

from node.mutation.mutation import Mutation, Row
from node.schema.definitions import DroppedColumns


def row_without_dropped(row: Row, dropped: DroppedColumns) -> Row | None:
    """``row`` without the cells ``dropped`` leaves out; None if nothing is left."""
    if not dropped or all(dropped.keeps(name, cell.timestamp_us) for name, cell in row.cells.items()):
        return row
    cells = {name: cell for name, cell in row.cells.items() if dropped.keeps(name, cell.timestamp_us)}
    kept = Row(row.marker, row.tombstone, cells)
    return None if kept.is_empty() else kept


def mutation_without_dropped(mutation: Mutation, dropped: DroppedColumns) -> Mutation:
    """``mutation`` without the cells of dropped columns (the same object if it has none)."""
    if not dropped:
        return mutation
    static_row = mutation.static_row
    if static_row is not None:
        static_row = row_without_dropped(static_row, dropped)
    rows = {}
    changed = static_row is not mutation.static_row
    for clustering, row in mutation.rows.items():
        kept = row_without_dropped(row, dropped)
        changed = changed or kept is not row
        if kept is not None:
            rows[clustering] = kept
    if not changed:
        return mutation
    return Mutation(mutation.table_id, mutation.key, mutation.token, mutation.partition_tombstone,
                    static_row, rows, mutation.range_tombstones)
