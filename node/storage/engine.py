"""``ShardStorage``: the storage engine of one shard, the facade the shard calls.

Owns the shard's directory (``commitlog/``, ``tables/<keyspace>/<table>-<id>/``,
``quarantine/``), one commitlog, and a ``TableStore`` per table. A write is validated,
appended to the commitlog (fsynced first in ``batch`` mode), applied to the memtable
and only then acknowledged. A background maintenance task flushes sealed memtables
(retrying failed flushes every ``flush_retry_ms``), discards commitlog segments that
hold nothing unflushed, and runs size-tiered compactions.

Writes (and replayed records) stamped at or before a table's last TRUNCATE are
dropped (``truncation``), so nothing made before a TRUNCATE comes back.

Commitlog records of tables not known at ``open()`` are skipped and counted
(``commitlog_skipped_records``): the schema store gives every live table to
``open()``, so such records belong to dropped tables. A record that does not decode,
is not well-shaped (``check_shape``) or fails to apply is counted as corrupt
(``commitlog_corrupt_records``), logged and skipped: a shard always starts.

Invariant: a segment of the commitlog is deleted only when every record in it is in
an SSTable (or truncated away); a write that was acknowledged is readable after any
crash.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Iterable

import msgpack

from node.clock import Clock
from node.errors import Invalid, Overloaded
from node.schema.definitions import TableSchema
from node.storage.commitlog import Commitlog, list_segments, read_segment, segment_name
from node.storage.compaction import pending_compactions
from node.storage.disk import Disk
from node.storage.dropped_cells import mutation_without_dropped
from node.mutation.mutation import Mutation
from node.readers.position import Position
from node.readers.ranges import ClusteringSlice, PartitionRange
from node.storage.reader import ShardReader
from node.storage.settings import SYNC_BATCH, StorageSettings
from node.storage.statistics import Counters, StorageStatistics
from node.storage.table import TableStore, table_directory
from node.storage.truncation import mutation_after_truncation
from node.storage.validation import check_shape


class ShardStorage:
    def __init__(self, directory: Path, settings: StorageSettings, clock: Clock, log: Any) -> None:
        self.directory = Path(directory)
        self.settings = settings
        self.clock = clock
        self.log = log
        self.disk = Disk()
        self.counters = Counters()
        self.tables: dict[str, TableStore] = {}
        self.commitlog = Commitlog(self.directory / "commitlog", settings, clock, self.disk,
                                   self.counters, log)
        self._packer = msgpack.Packer(use_bin_type=True)
        self._wake = asyncio.Event()
        self._maintenance: asyncio.Task[None] | None = None
        self._opened = False
        self._closed = False

    # -- life cycle --------------------------------------------------------------------

    async def open(self, schemas: Iterable[TableSchema] = ()) -> None:
        """Load SSTables (quarantining unreadable ones), replay the commitlog, start."""
        assert not self._opened, "open() once"
        self._opened = True
        (self.directory / "commitlog").mkdir(parents=True, exist_ok=True)
        for schema in schemas:
            self._add_table_store(schema)
        self._replay()
        old_segments = list_segments(self.directory / "commitlog")
        highest = max([0, *old_segments,
                       *(t.max_commitlog_segment() for t in self.tables.values())])
        self.commitlog.start(highest + 1)
        self._discard_flushed_segments()
        self._maintenance = asyncio.get_running_loop().create_task(self._maintain())
        self._wake.set()

    def _replay(self) -> None:
        directory = self.directory / "commitlog"
        bounds = {table_id: table.replay_bound() for table_id, table in self.tables.items()}
        now_s = self.clock.now_s()
        for segment_id in list_segments(directory):
            path = directory / segment_name(segment_id)
            for position, payload in read_segment(path, segment_id, self.counters, self.log):
                try:
                    mutation = Mutation.from_wire(msgpack.unpackb(payload, raw=False))
                    check_shape(mutation)
                except Exception as exc:  # a checksummed record we cannot decode
                    self._count_unreplayable(path, position, exc)
                    continue
                table = self.tables.get(mutation.table_id)
                if table is None:
                    self.counters.commitlog_skipped_records += 1
                    continue
                bound = bounds[mutation.table_id]
                if bound is not None and position <= bound:
                    continue
                try:
                    kept = mutation_after_truncation(
                        mutation_without_dropped(mutation, table.schema.dropped),
                        table.truncated_at_us)
                    if kept is None:
                        continue
                    table.apply(kept, position, now_s, kept.size_bytes())
                except Exception as exc:  # safety net: a shard always starts
                    self._count_unreplayable(path, position, exc)
                    continue
                self.counters.commitlog_replayed_records += 1
        self.log.info("commitlog.replayed", records=self.counters.commitlog_replayed_records,
                      corrupt=self.counters.commitlog_corrupt_records,
                      skipped=self.counters.commitlog_skipped_records)

    def _count_unreplayable(self, path: Path, position: tuple[int, int],
                            error: Exception) -> None:
        self.counters.commitlog_corrupt_records += 1
        self.log.warning("commitlog.unreplayable_record", segment=path.name,
                         offset=position[1], error=repr(error))

    async def aclose(self) -> None:
        """Stop background work (waiting for it), sync the commitlog, close files."""
        if self._closed:
            return
        self._closed = True
        if self._maintenance is not None:
            self._maintenance.cancel()
            try:
                await self._maintenance
            except asyncio.CancelledError:
                pass
        for table in self.tables.values():
            async with table.flush_lock:
                pass
            async with table.compaction_lock:
                pass
        await self.commitlog.aclose()
        for table in self.tables.values():
            table.close()

    # -- schema ------------------------------------------------------------------------

    def _add_table_store(self, schema: TableSchema) -> TableStore:
        table = TableStore(schema, table_directory(self.directory, schema),
                           self.directory / "quarantine", self.settings, self.disk,
                           self.counters, self.log)
        table.load()
        self.tables[schema.id] = table
        return table

    def add_table(self, schema: TableSchema) -> None:
        if schema.id in self.tables:
            self.tables[schema.id].schema = schema
            return
        self._add_table_store(schema)

    def alter_table(self, schema: TableSchema) -> None:
        table = self._table(schema.id)
        table.schema = schema

    def drop_table(self, table_id: str) -> None:
        table = self.tables.pop(table_id, None)
        if table is not None:
            table.drop()
            self._discard_flushed_segments()

    def truncate(self, table_id: str, truncated_at_us: int | None = None) -> None:
        """Empty the table; with ``truncated_at_us`` (the TRUNCATE's time), every write
        stamped at or before it that arrives later (a hint, a late delivery, a read
        repair) or that the commitlog replays is dropped too."""
        table = self._table(table_id)
        table.truncate(self.commitlog.last_position, truncated_at_us)
        self._discard_flushed_segments()

    def truncated_at_us(self, table_id: str) -> int | None:
        """The time of the table's last TRUNCATE on this shard (None: never, or unknown table)."""
        table = self.tables.get(table_id)
        return None if table is None else table.truncated_at_us

    def _table(self, table_id: str) -> TableStore:
        table = self.tables.get(table_id)
        if table is None:
            raise Invalid(f"unknown table id {table_id}")
        return table

    # -- writes ------------------------------------------------------------------------

    async def apply(self, mutation: Mutation) -> None:
        """Validate, log, apply; return once the commitlog holds the write per the sync
        mode. Raises ``Invalid`` (bad mutation), ``Overloaded`` (memtables over their
        bound because flushes fail) or ``OSError`` (commitlog write failed)."""
        assert self._opened and not self._closed, "apply on a storage that is not open"
        table = self._table(mutation.table_id)
        mutation = table.validator.validate(mutation)  # minus the cells of dropped columns
        kept = mutation_after_truncation(mutation, table.truncated_at_us)
        if kept is None or (kept.partition_tombstone is None and kept.static_row is None
                            and not kept.rows and not kept.range_tombstones):
            return  # nothing left to write: truncated, or only dropped columns
        mutation = kept
        if self._memtable_bytes() > self.settings.memtable_memory_limit_bytes:
            self.counters.writes_refused += 1
            raise Overloaded("memtables are over their memory bound "
                             f"({self.settings.memtable_memory_limit_bytes} bytes): "
                             "flushes to disk are failing or behind; write refused",
                             table=table.schema.qualified_name)
        wire = mutation.to_wire()
        payload = self._packer.pack(wire)
        position = self.commitlog.append(payload)
        table.apply(mutation, position, self.clock.now_s(), len(payload) + 64)
        if table.active.size_bytes >= self.settings.memtable_flush_bytes:
            table.seal_active()
            self._wake.set()
        if self.settings.commitlog_sync == SYNC_BATCH:
            await self.commitlog.wait_durable(position)

    def _memtable_bytes(self) -> int:
        total = 0
        for table in self.tables.values():
            total += table.active.size_bytes
            for memtable in table.flushing:
                total += memtable.size_bytes
        return total

    # -- reads -------------------------------------------------------------------------

    def make_reader(self, schema: TableSchema, partition_range: PartitionRange,
                    clustering_slice: ClusteringSlice, now_s: float,
                    start_after: Position | None = None) -> ShardReader:
        """A reader of ``schema``'s table; ``start_after`` resumes a stream exactly after
        a position (the stateless paging path)."""
        table = self._table(schema.id)
        return ShardReader(table, partition_range, clustering_slice, now_s, self.counters,
                           start_after)

    # -- flush and compaction ----------------------------------------------------------

    async def flush(self, table_id: str | None = None) -> None:
        """Flush memtables now (all tables, or one). Raises OSError if a write fails;
        the memtable stays queued and the maintenance task retries it."""
        tables = [self._table(table_id)] if table_id is not None else list(self.tables.values())
        try:
            for table in tables:
                table.seal_active()
                await table.flush_sealed()
        finally:
            self._discard_flushed_segments()
            self._wake.set()

    async def compact(self, table_id: str | None = None) -> None:
        """A major compaction: every SSTable of the table(s) into one."""
        tables = [self._table(table_id)] if table_id is not None else list(self.tables.values())
        for table in tables:
            if len(table.sstables) > 1 or any(
                    s.statistics["max_deletion_time_s"] for s in table.sstables):
                await table.compact(list(table.sstables), self.clock.now_s())

    def set_disk_fail_writes(self, enabled: bool, include_commitlog: bool = True) -> None:
        """Fault injection: every data write (and commitlog write unless told not to)
        fails with OSError while enabled."""
        self.disk.fail_data_writes = enabled
        self.disk.fail_commitlog_writes = enabled and include_commitlog
        if not enabled:
            self._wake.set()

    def _discard_flushed_segments(self) -> None:
        if not self.commitlog.segment_id:
            return
        lowest = self.commitlog.segment_id
        for table in self.tables.values():
            for memtable in table.memtables:
                if memtable.min_position is not None:
                    lowest = min(lowest, memtable.min_position[0])
        removed = self.commitlog.discard_segments_before(lowest)
        if removed:
            self.log.debug("commitlog.segments_discarded", count=removed, below=lowest)

    async def _maintain(self) -> None:
        retry_s = self.settings.flush_retry_ms / 1000
        while True:
            await self._wake.wait()
            self._wake.clear()
            failed = False
            for table in list(self.tables.values()):
                if table.flushing:
                    try:
                        await table.flush_sealed()
                    except OSError:
                        failed = True
            self._discard_flushed_segments()
            if self.settings.background_compaction and not failed:
                for table in list(self.tables.values()):
                    for bucket in table.compaction_candidates()[:1]:
                        try:
                            await table.compact(bucket, self.clock.now_s())
                        except OSError:
                            failed = True
                        self._wake.set()   # look again: one bucket per round
            if failed:
                await self.clock.sleep(retry_s)
                self._wake.set()

    # -- accounting --------------------------------------------------------------------

    def statistics(self) -> StorageStatistics:
        c = self.counters
        tables = list(self.tables.values())
        return StorageStatistics(
            sstable_bytes_read=c.sstable_bytes_read, sstable_read_ops=c.sstable_read_ops,
            blocks_decompressed=c.blocks_decompressed, blocks_read=c.blocks_read,
            partitions_read=c.partitions_read, rows_read=c.rows_read,
            memtable_bytes=self._memtable_bytes(),
            memtable_count=sum(len(t.memtables) for t in tables),
            sstable_count=sum(len(t.sstables) for t in tables),
            sstable_bytes=sum(s.size_bytes for t in tables for s in t.sstables),
            commitlog_bytes=c.commitlog_bytes, commitlog_syncs=c.commitlog_syncs,
            commitlog_records=c.commitlog_records,
            commitlog_corrupt_records=c.commitlog_corrupt_records,
            commitlog_replayed_records=c.commitlog_replayed_records,
            commitlog_skipped_records=c.commitlog_skipped_records,
            commitlog_segments=len(list_segments(self.directory / "commitlog")),
            flushes=c.flushes, flush_failures=c.flush_failures, flushed_bytes=c.flushed_bytes,
            compactions=c.compactions, compaction_failures=c.compaction_failures,
            pending_compactions=sum(
                pending_compactions(t.sstables, self.settings.compaction_min_threshold,
                                    self.settings.compaction_max_threshold) for t in tables),
            quarantined_sstables=c.quarantined_sstables, writes_refused=c.writes_refused)

    def disk_bytes(self) -> int:
        """Bytes on disk: SSTables plus commitlog segments (the shard's load)."""
        total = sum(s.size_bytes for t in self.tables.values() for s in t.sstables)
        directory = self.directory / "commitlog"
        for segment_id in list_segments(directory):
            try:
                total += (directory / segment_name(segment_id)).stat().st_size
            except FileNotFoundError:
                pass
        return total
