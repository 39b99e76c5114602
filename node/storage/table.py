"""One table's storage on one shard: its memtables, its SSTables, flush and compaction.

Memtables: one active memtable takes writes; a full one is sealed and queued for
flushing (``flushing``, oldest first) while writes go to a fresh one. Flushes run in
order: a memtable is flushed only after every older one, so the commitlog position
recorded in an SSTable means "everything of this table up to here is on disk".
``sources_version`` grows whenever the set of memtables or SSTables changes, which
tells open readers to re-seek.

A TRUNCATE records, in ``truncated_at``, the commitlog position and the TRUNCATE's
time (``truncated_at_us``): the engine then drops every later-arriving write stamped
at or before that time (``truncation``).

Invariant: a memtable leaves ``flushing`` only once its SSTable is renamed into place
and opened; a failed flush keeps it (and its commitlog segments) for a retry. An
SSTable whose commitlog position is at or before ``truncated_at`` is never loaded,
nor is an input of a finished compaction (``compaction_log``).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from typing import Any

import msgpack

from node.schema.definitions import TableSchema
from node.storage.compaction import merge_for_compaction, size_tiered_buckets
from node.storage.compaction_log import finish_logged_compactions, remove_log, write_log
from node.storage.disk import Disk, fsync_directory
from node.storage.memtable import Memtable
from node.mutation.mutation import Mutation
from node.storage.partition import memtable_partitions
from node.storage.settings import StorageSettings
from node.storage.sstable import CorruptSSTable, SSTable, SSTableCursor
from node.storage.sstable_writer import write_sstable
from node.storage.statistics import Counters
from node.storage.validation import MutationValidator

SSTABLE_NAME = re.compile(r"^(\d+)\.sst$")
TRUNCATION_FILE = "truncated_at"


def table_directory(root: Path, schema: TableSchema) -> Path:
    return root / "tables" / schema.keyspace / f"{schema.name}-{schema.id}"


class TableStore:
    def __init__(self, schema: TableSchema, directory: Path, quarantine: Path,
                 settings: StorageSettings, disk: Disk, counters: Counters, log: Any) -> None:
        self._schema = schema
        self.validator = MutationValidator(schema)
        self.directory = directory
        self.quarantine = quarantine
        self.settings = settings
        self.disk = disk
        self.counters = counters
        self.log = log
        self.active = Memtable()
        self.flushing: list[Memtable] = []
        self.sstables: list[SSTable] = []
        self.sources_version = 0
        self.truncated_at: tuple[int, int] | None = None
        self.truncated_at_us: int | None = None   # Cassandra's truncatedAt: older writes are gone
        self.flush_lock = asyncio.Lock()
        self.compaction_lock = asyncio.Lock()
        self.compacting: set[int] = set()
        self._next_generation = 1

    @property
    def schema(self) -> TableSchema:
        return self._schema

    @schema.setter
    def schema(self, schema: TableSchema) -> None:
        self._schema = schema
        self.validator = MutationValidator(schema)

    @property
    def memtables(self) -> list[Memtable]:
        return [*self.flushing, self.active]

    def memtable_bytes(self) -> int:
        return self.active.size_bytes + sum(m.size_bytes for m in self.flushing)

    # -- loading ---------------------------------------------------------------------

    def load(self) -> None:
        """Finish logged compactions (delete their inputs); open every whole SSTable;
        delete leftovers of interrupted writes and SSTables a truncate made obsolete
        (a reader held them, or a flush finished during the truncate, when the shard
        stopped); quarantine what cannot be read."""
        if not self.directory.exists():
            self.directory.mkdir(parents=True)
            _fsync_parents(self.directory)   # the SSTables and marker in it must last
        logged = finish_logged_compactions(self.directory, self.log)
        self._next_generation = max(self._next_generation, logged + 1)
        marker = self.directory / TRUNCATION_FILE
        if marker.exists():
            # [segment, offset] or, since truncation times, [segment, offset, truncated_at_us]
            recorded = msgpack.unpackb(marker.read_bytes())
            self.truncated_at = (recorded[0], recorded[1])
            self.truncated_at_us = recorded[2] if len(recorded) > 2 else None
        for entry in sorted(self.directory.iterdir()):
            if entry.name.endswith(".tmp"):
                entry.unlink()
                self.log.info("sstable.removed_temporary", path=str(entry))
                continue
            match = SSTABLE_NAME.match(entry.name)
            if not match:
                continue
            generation = int(match.group(1))
            self._next_generation = max(self._next_generation, generation + 1)
            try:
                sstable = SSTable(entry, generation, self.counters)
                if sstable.table_id != self.schema.id:
                    sstable.close()
                    raise CorruptSSTable(f"{entry}: belongs to table {sstable.table_id}")
            except (CorruptSSTable, OSError, ValueError, KeyError, TypeError,
                    msgpack.UnpackException) as exc:
                self._quarantine(entry, exc)
                continue
            if self._truncated_away(sstable):
                continue
            self.sstables.append(sstable)
        self.sources_version += 1

    def _truncated_away(self, sstable: SSTable) -> bool:
        """Delete ``sstable`` if every record in it is at or before the truncation."""
        position = sstable.commitlog_position
        if self.truncated_at is None or position is None or position > self.truncated_at:
            return False
        sstable.obsolete = True
        sstable.close()   # the last reference: the file goes now
        self.log.info("sstable.removed_truncated", path=str(sstable.path),
                      commitlog_position=list(position), truncated_at=list(self.truncated_at))
        return True

    def _quarantine(self, path: Path, error: Exception) -> None:
        self.quarantine.mkdir(parents=True, exist_ok=True)
        target = self.quarantine / f"{self.schema.keyspace}.{self.schema.name}-{path.name}"
        os.replace(path, target)
        self.counters.quarantined_sstables += 1
        self.log.error("sstable.quarantined", path=str(path), moved_to=str(target),
                       error=str(error))

    def replay_bound(self) -> tuple[int, int] | None:
        """Commitlog records at or below this position are already on disk (or were
        truncated away)."""
        bound = self.truncated_at
        for sstable in self.sstables:
            position = sstable.commitlog_position
            if position is not None and (bound is None or position > bound):
                bound = position
        return bound

    def max_commitlog_segment(self) -> int:
        bound = self.replay_bound()
        return 0 if bound is None else bound[0]

    # -- writes ------------------------------------------------------------------------

    def apply(self, mutation: Mutation, position: tuple[int, int] | None, now_s: float,
              size_bytes: int) -> None:
        self.active.apply(mutation, position, now_s, size_bytes)

    def seal_active(self) -> bool:
        """Move a non-empty active memtable to the flush queue."""
        if self.active.is_empty():
            return False
        self.active.sealed = True
        self.flushing.append(self.active)
        self.active = Memtable()
        self.sources_version += 1
        return True

    async def flush_sealed(self) -> int:
        """Flush queued memtables oldest first; raise OSError at the first failure."""
        flushed = 0
        async with self.flush_lock:
            while self.flushing:
                memtable = self.flushing[0]
                generation = self._next_generation
                self._next_generation += 1
                path = self.directory / f"{generation:08d}.sst"
                try:
                    size = await asyncio.to_thread(
                        self._write, path, memtable_partitions(memtable), len(memtable),
                        memtable.max_position)
                    sstable = SSTable(path, generation, self.counters)
                except (OSError, CorruptSSTable) as exc:
                    self.counters.flush_failures += 1
                    self.log.error("memtable.flush_failed", table=self.schema.qualified_name,
                                   error=str(exc))
                    raise OSError(f"flush of {self.schema.qualified_name} failed: {exc}") from exc
                if not self.flushing or self.flushing[0] is not memtable:
                    sstable.obsolete = True   # truncated or dropped while writing
                    sstable.close()
                    continue
                self.sstables.append(sstable)
                self.flushing.pop(0)
                self.sources_version += 1
                self.counters.flushes += 1
                self.counters.flushed_bytes += size
                flushed += 1
                self.log.debug("memtable.flushed", table=self.schema.qualified_name,
                               generation=generation, bytes=size)
        return flushed

    def _write(self, path: Path, partitions: Any, expected: int,
               position: tuple[int, int] | None) -> int:
        try:
            return write_sstable(path, partitions, table_id=self.schema.id,
                                 compression=self.schema.options.compression,
                                 block_bytes=self.settings.sstable_block_bytes,
                                 commitlog_position=position, disk=self.disk,
                                 expected_partitions=expected)
        except BaseException:
            path.with_name(path.name + ".tmp").unlink(missing_ok=True)
            raise

    # -- compaction --------------------------------------------------------------------

    def compaction_candidates(self) -> list[list[SSTable]]:
        available = [s for s in self.sstables if s.generation not in self.compacting]
        return size_tiered_buckets(available, self.settings.compaction_min_threshold,
                                   self.settings.compaction_max_threshold)

    async def compact(self, inputs: list[SSTable], now_s: float) -> None:
        """Merge ``inputs`` into one SSTable and swap it in."""
        if not inputs:
            return
        async with self.compaction_lock:
            inputs = [s for s in inputs if s in self.sstables]
            if not inputs:
                return
            for sstable in inputs:
                sstable.acquire()
                self.compacting.add(sstable.generation)
            try:
                await self._compact(inputs, now_s)
            finally:
                for sstable in inputs:
                    self.compacting.discard(sstable.generation)
                    sstable.release()

    async def _compact(self, inputs: list[SSTable], now_s: float) -> None:
        others = [s.min_timestamp_us for s in self.sstables if s not in inputs
                  and s.min_timestamp_us is not None]
        others += [m.min_timestamp_us for m in self.memtables if m.min_timestamp_us is not None]
        max_purgeable = min(others) if others else (1 << 63)
        positions = [s.commitlog_position for s in inputs if s.commitlog_position is not None]
        position = max(positions) if positions else None
        generation = self._next_generation
        self._next_generation += 1
        path = self.directory / f"{generation:08d}.sst"
        private = Counters()   # compaction reads are not query reads
        # cursors are made (and closed) here on the loop: reference counts never move
        # in the worker thread, which only reads the files
        cursors = [SSTableCursor(s, private) for s in inputs]
        streams = [cursor.partitions(None, None) for cursor in cursors]
        merged = merge_for_compaction(streams, now_s, self.schema.options.gc_grace_seconds,
                                      max_purgeable, self.schema.dropped)
        expected = sum(s.partition_count for s in inputs)
        try:
            await asyncio.to_thread(self._write, path, merged, expected, position)
            output = SSTable(path, generation, self.counters)
        except (OSError, CorruptSSTable) as exc:
            self.counters.compaction_failures += 1
            self.log.error("compaction.failed", table=self.schema.qualified_name, error=str(exc))
            raise OSError(f"compaction of {self.schema.qualified_name} failed: {exc}") from exc
        finally:
            for cursor in cursors:
                cursor.close()
        if any(s not in self.sstables for s in inputs):
            output.obsolete = True   # truncated or dropped while compacting
            output.close()
            return
        try:
            # before any input may go: a crash from here on finishes the deletions
            log_file = await asyncio.to_thread(write_log, self.disk, self.directory,
                                               generation, [s.generation for s in inputs])
        except OSError as exc:
            output.obsolete = True
            output.close()
            self.counters.compaction_failures += 1
            self.log.error("compaction.failed", table=self.schema.qualified_name, error=str(exc))
            raise OSError(f"compaction of {self.schema.qualified_name} failed: {exc}") from exc
        self._remove_log_once_deleted(inputs, log_file)
        if any(s not in self.sstables for s in inputs):
            output.obsolete = True   # truncated or dropped while logging
            output.close()
            return
        kept = [s for s in self.sstables if s not in inputs]
        self.sstables = kept + [output]
        self.sources_version += 1
        for sstable in inputs:
            sstable.obsolete = True
            sstable.close()   # the file goes when the last reader lets go
        self.counters.compactions += 1
        self.log.info("compaction.done", table=self.schema.qualified_name,
                      inputs=[s.generation for s in inputs], output=generation,
                      bytes=output.size_bytes)

    def _remove_log_once_deleted(self, inputs: list[SSTable], log_file: Path) -> None:
        """Remove the compaction log when the last of ``inputs`` is deleted (each is
        still held by ``compact``, so none is deleted yet)."""
        remaining = len(inputs)

        def deleted() -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0:
                try:
                    remove_log(log_file)
                except OSError as exc:   # harmless: load() finishes it
                    self.log.warning("compaction_log.remove_failed", path=str(log_file),
                                     error=str(exc))

        for sstable in inputs:
            sstable.on_deleted = deleted

    # -- truncate and drop --------------------------------------------------------------

    def truncate(self, position: tuple[int, int], truncated_at_us: int | None = None) -> None:
        """Forget every write at or before ``position``: memtables, SSTables; and, from
        now on, every write with a timestamp at or before ``truncated_at_us`` (the
        TRUNCATE's time; a later truncation time never moves back). Both are on disk
        (fsynced, folder too) before anything is dropped, so ``load`` deletes any
        SSTable of those writes a crash leaves behind."""
        if truncated_at_us is None or (self.truncated_at_us is not None
                                       and self.truncated_at_us > truncated_at_us):
            truncated_at_us = self.truncated_at_us
        recorded = list(position) if truncated_at_us is None else [*position, truncated_at_us]
        self.disk.write_file_atomically(self.directory / TRUNCATION_FILE, msgpack.packb(recorded))
        self.truncated_at = position
        self.truncated_at_us = truncated_at_us
        self._discard_everything()

    def _discard_everything(self) -> None:
        self.active = Memtable()
        self.flushing = []
        for sstable in self.sstables:
            sstable.obsolete = True
            sstable.close()
        self.sstables = []
        self.sources_version += 1

    def drop(self) -> None:
        self._discard_everything()
        shutil.rmtree(self.directory, ignore_errors=True)

    def close(self) -> None:
        for sstable in self.sstables:
            sstable.close()
        self.sstables = []


def _fsync_parents(directory: Path) -> None:
    """Make a new ``tables/<keyspace>/<table>`` folder durable (the entries of the
    table, keyspace and ``tables`` folders in their parents)."""
    for parent in list(directory.parents)[:3]:
        fsync_directory(parent)
