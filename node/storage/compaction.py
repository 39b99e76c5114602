"""Compaction: which SSTables to merge (size-tiered) and how to merge them.

Size-tiered: SSTables are put in buckets of similar size (within 0.5x..1.5x of the
bucket's average; everything under ``SMALL_SSTABLE_BYTES`` shares one bucket); a bucket
with at least ``min_threshold`` members is a pending compaction, and the smallest such
bucket (at most ``max_threshold`` members) runs first.

Merging reconciles partitions, leaves out the cells of dropped columns, drops what
tombstones shadow, turns expired cells into tombstones, and purges tombstones whose
deletion time is older than ``gc_grace_seconds``
(and, so that a purge can never resurrect data, whose timestamp is below every
timestamp of data outside the compaction).

Invariant: the merged output holds, for every clustering position, exactly what a
reader of the inputs would see at ``now_s`` (purged tombstones aside).
"""

from __future__ import annotations

import heapq
from typing import Iterable, Iterator

from node.mutation.mutation import RangeTombstone, Row, newer_tombstone
from node.schema.definitions import DroppedColumns
from node.storage.dropped_cells import row_without_dropped
from node.storage.partition import Partition
from node.mutation.reconcile import (
    covering_deletion,
    merge_rows,
    purge_row,
    purgeable_tombstone,
    shadow_row,
)
from node.storage.sstable import SSTable

SMALL_SSTABLE_BYTES = 4 * 1024 * 1024


def size_tiered_buckets(sstables: list[SSTable], min_threshold: int,
                        max_threshold: int) -> list[list[SSTable]]:
    """The buckets that deserve a compaction, smallest total size first."""
    buckets: list[list[SSTable]] = []
    averages: list[float] = []
    for sstable in sorted(sstables, key=lambda s: s.size_bytes):
        size = sstable.size_bytes
        for index, average in enumerate(averages):
            if (size < SMALL_SSTABLE_BYTES and average < SMALL_SSTABLE_BYTES) \
                    or 0.5 * average <= size <= 1.5 * average:
                buckets[index].append(sstable)
                averages[index] = sum(s.size_bytes for s in buckets[index]) / len(buckets[index])
                break
        else:
            buckets.append([sstable])
            averages.append(size)
    ready = [bucket[:max_threshold] for bucket in buckets if len(bucket) >= min_threshold]
    ready.sort(key=lambda bucket: sum(s.size_bytes for s in bucket))
    return ready


def pending_compactions(sstables: list[SSTable], min_threshold: int, max_threshold: int) -> int:
    total = 0
    for bucket in size_tiered_buckets(sstables, min_threshold, max_threshold):
        total += max(1, len(bucket) // max_threshold)
    return total


def merge_for_compaction(inputs: Iterable[Iterator[Partition]], now_s: float,
                         gc_grace_seconds: int, max_purgeable_timestamp_us: int,
                         dropped: DroppedColumns | None = None) -> Iterator[Partition]:
    """The merged partitions of ``inputs``, leaving out the cells ``dropped`` leaves out."""
    gc_before_s = now_s - gc_grace_seconds
    group: list[Partition] = []
    for partition in heapq.merge(*inputs, key=lambda p: p.position):
        if group and group[0].position != partition.position:
            merged = _merge_group(group, now_s, gc_before_s, max_purgeable_timestamp_us, dropped)
            if merged is not None:
                yield merged
            group = []
        group.append(partition)
    if group:
        merged = _merge_group(group, now_s, gc_before_s, max_purgeable_timestamp_us, dropped)
        if merged is not None:
            yield merged


def _merge_group(group: list[Partition], now_s: float, gc_before_s: float,
                 max_purgeable_us: int, dropped: DroppedColumns | None) -> Partition | None:
    tombstone = None
    static_row: Row | None = None
    range_tombstones: list[RangeTombstone] = []
    seen: set[tuple] = set()
    for part in group:
        tombstone = newer_tombstone(tombstone, part.tombstone)
        if part.static_row is not None:
            static_row = merge_rows(static_row, part.static_row, now_s)
        for rt in part.range_tombstones:
            identity = (rt.start, rt.end, rt.tombstone.timestamp_us, rt.tombstone.deletion_time_s)
            if identity not in seen:
                seen.add(identity)
                range_tombstones.append(rt)
    if len(group) == 1:
        rows = group[0].rows
    else:
        merged: dict[bytes, Row] = {}
        for part in group:
            for clustering, row in part.rows:
                merged[clustering] = merge_rows(merged.get(clustering), row, now_s)
        rows = sorted(merged.items(), key=lambda item: item[0])
    if tombstone is not None:
        range_tombstones = [rt for rt in range_tombstones
                            if rt.tombstone.timestamp_us > tombstone.timestamp_us]
    kept_rows = []
    for clustering, row in rows:
        if dropped:
            row = row_without_dropped(row, dropped)  # type: ignore[assignment]
            if row is None:
                continue
        deletion = covering_deletion(tombstone, range_tombstones, clustering)
        shadowed = shadow_row(row, deletion, now_s)
        if shadowed is not None:
            shadowed = purge_row(shadowed, gc_before_s, max_purgeable_us)
        if shadowed is not None:
            kept_rows.append((clustering, shadowed))
    if static_row is not None and dropped:
        static_row = row_without_dropped(static_row, dropped)
    if static_row is not None:
        static_row = shadow_row(static_row, tombstone, now_s)
        if static_row is not None:
            static_row = purge_row(static_row, gc_before_s, max_purgeable_us)
    range_tombstones = [rt for rt in range_tombstones
                        if not purgeable_tombstone(rt.tombstone, gc_before_s, max_purgeable_us)]
    if tombstone is not None and purgeable_tombstone(tombstone, gc_before_s, max_purgeable_us):
        tombstone = None
    if tombstone is None and static_row is None and not range_tombstones and not kept_rows:
        return None
    first = group[0]
    return Partition(first.token, first.key, tombstone, static_row, kept_rows, range_tombstones)
