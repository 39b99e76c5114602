"""Reconciliation as Cassandra does it, for cells, rows and whole partitions.

Rules (per cell): the higher timestamp wins; on equal timestamps a dead cell (a
tombstone, or a cell expired at ``now_s``) wins over a live one; two dead cells: the
later deletion time; two live cells: the greater value (bytes order), then the later
expiry (no expiry counts as latest). A tombstone (row, range, partition) shadows every
cell and marker whose timestamp is <= its own.

Invariant: ``reconcile_cells`` is a pure function of its arguments and ``now_s``;
merging is commutative and associative for a fixed ``now_s``.
"""

from __future__ import annotations

from node.mutation.mutation import (
    NO_DELETION,
    Cell,
    RangeTombstone,
    Row,
    Tombstone,
    newer_tombstone,
)

_NEVER = float("inf")


def reconcile_cells(a: Cell, b: Cell, now_s: float) -> Cell:
    if a.timestamp_us != b.timestamp_us:
        return a if a.timestamp_us > b.timestamp_us else b
    a_live = a.is_live(now_s)
    b_live = b.is_live(now_s)
    if a_live != b_live:
        return b if a_live else a
    if not a_live:
        return a if a.local_deletion_time_s >= b.local_deletion_time_s else b
    if a.value != b.value:
        return a if a.value > b.value else b  # type: ignore[operator]
    a_expiry = a.local_deletion_time_s or _NEVER
    b_expiry = b.local_deletion_time_s or _NEVER
    return a if a_expiry >= b_expiry else b


def merge_rows(a: Row | None, b: Row, now_s: float) -> Row:
    """A new row holding the reconciliation of ``a`` and ``b`` (neither is changed)."""
    if a is None:
        return b
    if a.marker is None:
        marker = b.marker
    elif b.marker is None:
        marker = a.marker
    else:
        marker = reconcile_cells(a.marker, b.marker, now_s)
    cells = dict(a.cells)
    for name, cell in b.cells.items():
        mine = cells.get(name)
        cells[name] = cell if mine is None else reconcile_cells(mine, cell, now_s)
    return Row(marker, newer_tombstone(a.tombstone, b.tombstone), cells)


def shadow_row(row: Row, deletion: Tombstone | None, now_s: float) -> Row | None:
    """The row without what ``deletion`` (and its own tombstone) shadows, expired cells
    turned into tombstones; None if nothing is left."""
    tombstone = row.tombstone
    if deletion is not None and tombstone is not None \
            and tombstone.timestamp_us <= deletion.timestamp_us:
        tombstone = None
    shadow = newer_tombstone(deletion, tombstone)
    limit = shadow.timestamp_us if shadow is not None else -(1 << 63)
    marker = row.marker
    if marker is not None:
        if marker.timestamp_us <= limit:
            marker = None
        elif not marker.is_live(now_s) and marker.value is not None:
            marker = marker.as_dead()
    cells = {}
    for name, cell in row.cells.items():
        if cell.timestamp_us <= limit:
            continue
        if cell.value is not None and cell.local_deletion_time_s != NO_DELETION \
                and not cell.is_live(now_s):
            cell = cell.as_dead()
        cells[name] = cell
    if marker is None and tombstone is None and not cells:
        return None
    return Row(marker, tombstone, cells)


def purge_row(row: Row, gc_before_s: float, max_purgeable_timestamp_us: int) -> Row | None:
    """Drop tombstones (and expired cells, already dead) older than ``gc_before_s``.
    A tombstone is purged only below ``max_purgeable_timestamp_us`` so that it can
    shadow nothing outside the compaction."""
    def purgeable_cell(cell: Cell) -> bool:
        return cell.value is None and cell.local_deletion_time_s < gc_before_s \
            and cell.timestamp_us < max_purgeable_timestamp_us

    tombstone = row.tombstone
    if tombstone is not None and purgeable_tombstone(tombstone, gc_before_s,
                                                     max_purgeable_timestamp_us):
        tombstone = None
    marker = row.marker
    if marker is not None and purgeable_cell(marker):
        marker = None
    cells = {name: cell for name, cell in row.cells.items() if not purgeable_cell(cell)}
    if marker is None and tombstone is None and not cells:
        return None
    return Row(marker, tombstone, cells)


def purgeable_tombstone(tombstone: Tombstone, gc_before_s: float,
                        max_purgeable_timestamp_us: int) -> bool:
    return tombstone.deletion_time_s < gc_before_s \
        and tombstone.timestamp_us < max_purgeable_timestamp_us


def covering_deletion(partition_tombstone: Tombstone | None,
                      range_tombstones: list[RangeTombstone],
                      clustering: bytes) -> Tombstone | None:
    deletion = partition_tombstone
    for rt in range_tombstones:
        if rt.covers(clustering):
            deletion = newer_tombstone(deletion, rt.tombstone)
    return deletion
