"""Counters of one shard's storage engine: mutable ``Counters`` inside, a frozen
``StorageStatistics`` snapshot outside (the metrics endpoint's source).

Invariant: counters only grow (gauges such as sizes excepted), and every file read
of an SSTable adds exactly one to ``sstable_read_ops`` and its length to
``sstable_bytes_read``.
"""

from __future__ import annotations

from dataclasses import dataclass


class Counters:
    """Plain attributes bumped by the engine's parts; shared by reference."""

    def __init__(self) -> None:
        self.sstable_bytes_read = 0
        self.sstable_read_ops = 0
        self.blocks_decompressed = 0
        self.blocks_read = 0
        self.partitions_read = 0
        self.rows_read = 0
        self.commitlog_bytes = 0
        self.commitlog_syncs = 0
        self.commitlog_records = 0
        self.commitlog_corrupt_records = 0
        self.commitlog_replayed_records = 0
        self.commitlog_skipped_records = 0
        self.flushes = 0
        self.flush_failures = 0
        self.flushed_bytes = 0
        self.compactions = 0
        self.compaction_failures = 0
        self.quarantined_sstables = 0
        self.writes_refused = 0


@dataclass(frozen=True)
class StorageStatistics:
    sstable_bytes_read: int
    sstable_read_ops: int
    blocks_decompressed: int
    blocks_read: int
    partitions_read: int
    rows_read: int
    memtable_bytes: int
    memtable_count: int
    sstable_count: int
    sstable_bytes: int
    commitlog_bytes: int
    commitlog_syncs: int
    commitlog_records: int
    commitlog_corrupt_records: int
    commitlog_replayed_records: int
    commitlog_skipped_records: int
    commitlog_segments: int
    flushes: int
    flush_failures: int
    flushed_bytes: int
    compactions: int
    compaction_failures: int
    pending_compactions: int
    quarantined_sstables: int
    writes_refused: int
