"""What a TRUNCATE at time T leaves of a mutation, as Cassandra's ``truncatedAt``:
cells, row markers, row, range and partition tombstones with a timestamp at or before
T are gone. Replicas apply this to every incoming mutation (writes, read repair,
hints) and to commitlog replay, and hint replay to the hints it sends, so a mutation
made before a TRUNCATE never brings truncated data back, however late it arrives.

Invariant: a mutation with nothing at or before T is returned as the same object;
``None`` means nothing is left to apply.
"""

from __future__ import annotations

from node.mutation.mutation import Mutation, Row


def _row_after(row: Row, truncated_at_us: int) -> Row | None:
    marker = row.marker if row.marker is not None and row.marker.timestamp_us > truncated_at_us \
        else None
    tombstone = row.tombstone if row.tombstone is not None \
        and row.tombstone.timestamp_us > truncated_at_us else None
    cells = {name: cell for name, cell in row.cells.items() if cell.timestamp_us > truncated_at_us}
    if marker is row.marker and tombstone is row.tombstone and len(cells) == len(row.cells):
        return row
    kept = Row(marker, tombstone, cells)
    return None if kept.is_empty() else kept


def mutation_after_truncation(mutation: Mutation, truncated_at_us: int | None) -> Mutation | None:
    """``mutation`` without what a TRUNCATE at ``truncated_at_us`` removed (None: no
    truncation); None when nothing is left."""
    if truncated_at_us is None:
        return mutation
    tombstone = mutation.partition_tombstone
    if tombstone is not None and tombstone.timestamp_us <= truncated_at_us:
        tombstone = None
    static_row = mutation.static_row
    if static_row is not None:
        static_row = _row_after(static_row, truncated_at_us)
    changed = tombstone is not mutation.partition_tombstone or static_row is not mutation.static_row
    rows = {}
    for clustering, row in mutation.rows.items():
        kept = _row_after(row, truncated_at_us)
        changed = changed or kept is not row
        if kept is not None:
            rows[clustering] = kept
    range_tombstones = [rt for rt in mutation.range_tombstones
                        if rt.tombstone.timestamp_us > truncated_at_us]
    changed = changed or len(range_tombstones) != len(mutation.range_tombstones)
    if not changed:
        return mutation
    if tombstone is None and static_row is None and not rows and not range_tombstones:
        return None
    return Mutation(mutation.table_id, mutation.key, mutation.token, tombstone, static_row, rows,
                    range_tombstones)
