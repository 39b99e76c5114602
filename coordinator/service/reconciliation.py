"""Reconciling what several replicas answered for the same partitions, and the
repair mutations that bring each stale replica up to the reconciled state.

A replica's answer is a fragment stream; ``partitions_from_fragments`` turns it into
``PartitionData`` values (tombstone, static row, rows by clustering bytes, range
tombstones). ``merge`` reconciles them with the storage's rules (last write wins per
cell, tombstones win ties). ``repair_mutation`` is what one replica lacks: every
row, cell and tombstone of the merged data that the replica's version does not equal.

Invariant: applying ``repair_mutation(merged, version)`` to a replica that answered
``version`` makes its answer reconcile to ``merged``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from node.readers.fragments import (ClusteringRow, PartitionEnd, PartitionStart,
                                    RangeTombstoneFragment, StaticRow, fragment_from_wire)
from node.mutation.mutation import Mutation, RangeTombstone, Row, Tombstone, newer_tombstone
from node.mutation.reconcile import covering_deletion, merge_rows, shadow_row


@dataclass
class PartitionData:
    token: int
    key: bytes
    tombstone: Tombstone | None = None
    static_row: Row | None = None
    rows: dict[bytes, Row] = field(default_factory=dict)
    range_tombstones: list[RangeTombstone] = field(default_factory=list)

    @property
    def position(self) -> tuple[int, bytes]:
        return (self.token, self.key)

    def live_rows(self, now_s: float, reversed_order: bool = False) -> list[tuple[bytes, Row]]:
        """Rows that exist for CQL after every deletion, in clustering (or reversed) order."""
        out = []
        for clustering in sorted(self.rows, reverse=reversed_order):
            deletion = covering_deletion(self.tombstone, self.range_tombstones, clustering)
            row = shadow_row(self.rows[clustering], deletion, now_s)
            if row is not None and row.is_live(now_s):
                out.append((clustering, row))
        return out

    def live_static(self, now_s: float) -> Row | None:
        if self.static_row is None:
            return None
        row = shadow_row(self.static_row, self.tombstone, now_s)
        return row if row is not None and row.is_live(now_s) else None


def partitions_from_fragments(wire: Iterable[Any]) -> list[PartitionData]:
    partitions: list[PartitionData] = []
    current: PartitionData | None = None
    for item in wire:
        fragment = fragment_from_wire(item)
        if isinstance(fragment, PartitionStart):
            current = PartitionData(fragment.token, fragment.key, fragment.tombstone)
            partitions.append(current)
        elif current is None:
            raise ValueError("a fragment outside a partition")
        elif isinstance(fragment, StaticRow):
            current.static_row = fragment.row
        elif isinstance(fragment, RangeTombstoneFragment):
            current.range_tombstones.append(fragment.range_tombstone)
        elif isinstance(fragment, ClusteringRow):
            current.rows[fragment.clustering] = fragment.row
        elif isinstance(fragment, PartitionEnd):
            current = None
    return partitions


def merge(versions: list[PartitionData], now_s: float) -> PartitionData:
    """One partition reconciled from every replica's version of it."""
    assert versions, "at least one version"
    first = versions[0]
    merged = PartitionData(first.token, first.key)
    seen_rts: set[tuple] = set()
    for version in versions:
        merged.tombstone = newer_tombstone(merged.tombstone, version.tombstone)
        if version.static_row is not None:
            merged.static_row = merge_rows(merged.static_row, version.static_row, now_s)
        for clustering, row in version.rows.items():
            merged.rows[clustering] = merge_rows(merged.rows.get(clustering), row, now_s)
        for rt in version.range_tombstones:
            marker = (rt.start, rt.end, rt.tombstone.timestamp_us, rt.tombstone.deletion_time_s)
            if marker not in seen_rts:
                seen_rts.add(marker)
                merged.range_tombstones.append(rt)
    return merged


def _row_difference(merged: Row, mine: Row | None) -> Row | None:
    if mine is None:
        return merged
    marker = merged.marker if merged.marker is not None and merged.marker != mine.marker else None
    tombstone = (merged.tombstone if merged.tombstone is not None
                 and merged.tombstone != mine.tombstone else None)
    cells = {name: cell for name, cell in merged.cells.items() if mine.cells.get(name) != cell}
    if marker is None and tombstone is None and not cells:
        return None
    return Row(marker, tombstone, cells)


def repair_mutation(table_id: str, merged: PartitionData, version: PartitionData | None) -> Mutation | None:
    """What a replica that answered ``version`` (None: nothing) lacks, or None."""
    if version is None:
        version = PartitionData(merged.token, merged.key)
    tombstone = (merged.tombstone if merged.tombstone is not None
                 and merged.tombstone != version.tombstone else None)
    static = None
    if merged.static_row is not None:
        static = _row_difference(merged.static_row, version.static_row)
    rows = {}
    for clustering, row in merged.rows.items():
        difference = _row_difference(row, version.rows.get(clustering))
        if difference is not None:
            rows[clustering] = difference
    have = {(rt.start, rt.end, rt.tombstone.timestamp_us) for rt in version.range_tombstones}
    range_tombstones = [rt for rt in merged.range_tombstones
                        if (rt.start, rt.end, rt.tombstone.timestamp_us) not in have]
    if tombstone is None and static is None and not rows and not range_tombstones:
        return None
    return Mutation(table_id, merged.key, merged.token, tombstone, static, rows, range_tombstones)
