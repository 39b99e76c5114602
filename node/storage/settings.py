"""Settings of one shard's storage engine, built once by the cluster config.

Invariant: every limit has a bound; the values are validated here, never re-checked in
the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

SYNC_PERIODIC = "periodic"
SYNC_BATCH = "batch"


@dataclass(frozen=True)
class StorageSettings:
    commitlog_sync: str = SYNC_PERIODIC          # "periodic" or "batch"
    commitlog_sync_period_ms: int = 10_000       # periodic mode: fsync this often
    commitlog_segment_bytes: int = 32 * 1024 * 1024
    memtable_flush_bytes: int = 32 * 1024 * 1024
    memtable_memory_limit_bytes: int = 256 * 1024 * 1024  # refuse writes above this
    flush_retry_ms: int = 1_000                  # a failed flush is retried this often
    compaction_min_threshold: int = 4
    compaction_max_threshold: int = 32
    sstable_block_bytes: int = 64 * 1024
    background_compaction: bool = True

    def __post_init__(self) -> None:
        if self.commitlog_sync not in (SYNC_PERIODIC, SYNC_BATCH):
            raise ValueError(f"commitlog.sync must be 'periodic' or 'batch', "
                             f"not {self.commitlog_sync!r}")
        for name in ("commitlog_sync_period_ms", "commitlog_segment_bytes",
                     "memtable_flush_bytes", "memtable_memory_limit_bytes",
                     "flush_retry_ms", "sstable_block_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not 2 <= self.compaction_min_threshold <= self.compaction_max_threshold:
            raise ValueError("need 2 <= compaction_min_threshold <= compaction_max_threshold")
