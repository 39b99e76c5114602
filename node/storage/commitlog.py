"""The commitlog: append-only segments of checksummed records, written before a write
is acknowledged, replayed at start for whatever no flushed SSTable holds.

Record framing: ``[u32 payload length][u32 crc32(payload)][payload]``. A position is
``(segment id, offset of the record)``; positions grow across segments and restarts.
Sync modes: ``periodic`` fsyncs every ``sync_period_ms`` in the background; ``batch``
makes ``wait_durable`` fsync before the ack, one fsync for every write waiting at that
moment. A torn or corrupt record ends the reading of its segment: it is counted and
logged, and the shard starts anyway.

Invariant: a record is in the file (``os.write`` returned) before ``append`` returns,
and in ``batch`` mode fsynced before ``wait_durable`` returns; a failed append never
leaves a record after it in the same segment (the segment is retired).
"""

from __future__ import annotations

import asyncio
import os
import re
import struct
import zlib
from pathlib import Path
from typing import Any, Iterator

from node.clock import Clock
from node.storage.disk import Disk, fsync_and_close, fsync_directory
from node.storage.settings import SYNC_BATCH, StorageSettings
from node.storage.statistics import Counters

RECORD_HEADER = struct.Struct(">II")
SEGMENT_NAME = re.compile(r"^CommitLog-(\d+)\.log$")
Position = tuple[int, int]


def segment_name(segment_id: int) -> str:
    return f"CommitLog-{segment_id:012d}.log"


def list_segments(directory: Path) -> list[int]:
    found = []
    for entry in directory.iterdir():
        match = SEGMENT_NAME.match(entry.name)
        if match:
            found.append(int(match.group(1)))
    return sorted(found)


def read_segment(path: Path, segment_id: int, counters: Counters,
                 log: Any) -> Iterator[tuple[Position, bytes]]:
    """Every whole record of one segment, stopping at the first torn or corrupt one."""
    data = path.read_bytes()
    offset = 0
    while offset < len(data):
        if len(data) - offset < RECORD_HEADER.size:
            _corrupt(counters, log, path, offset, "torn record header")
            return
        length, crc = RECORD_HEADER.unpack_from(data, offset)
        start = offset + RECORD_HEADER.size
        payload = data[start:start + length]
        if len(payload) != length:
            _corrupt(counters, log, path, offset, "torn record")
            return
        if zlib.crc32(payload) != crc:
            _corrupt(counters, log, path, offset, "checksum mismatch")
            return
        yield (segment_id, offset), payload
        offset = start + length


def _corrupt(counters: Counters, log: Any, path: Path, offset: int, why: str) -> None:
    counters.commitlog_corrupt_records += 1
    log.warning("commitlog.corrupt_record", segment=path.name, offset=offset, reason=why)


class Commitlog:
    def __init__(self, directory: Path, settings: StorageSettings, clock: Clock, disk: Disk,
                 counters: Counters, log: Any) -> None:
        self.directory = directory
        self.settings = settings
        self.clock = clock
        self.disk = disk
        self.counters = counters
        self.log = log
        self.segment_id = 0
        self._descriptor: int | None = None
        self._offset = 0
        self._last_offset = -1
        self._written: Position = (0, 0)
        self._synced: Position = (0, 0)
        self._retired: list[int] = []
        self._sync_task: asyncio.Task[None] | None = None
        self._periodic_task: asyncio.Task[None] | None = None
        self._closed = False

    def start(self, first_segment_id: int) -> None:
        """Open a fresh segment (ids below ``first_segment_id`` belong to the past)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_id = first_segment_id - 1
        self._open_next_segment()
        if self.settings.commitlog_sync != SYNC_BATCH:
            self._periodic_task = asyncio.get_running_loop().create_task(self._sync_periodically())

    def segments(self) -> list[int]:
        return list_segments(self.directory)

    def _open_next_segment(self) -> None:
        """Retire the active segment and open the next one. If that fails (ENOSPC,
        EMFILE) there is no active segment and the next append tries again."""
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            self._retire(descriptor)
        path = self.directory / segment_name(self.segment_id + 1)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fsync_directory(self.directory)
        except OSError:
            os.close(descriptor)   # the empty file is reopened by the next try
            raise
        self.segment_id += 1
        self._descriptor = descriptor
        self._offset = 0
        self._last_offset = -1

    def _retire(self, descriptor: int) -> None:
        if self._sync_task is not None:
            self._retired.append(descriptor)   # the running sync round closes it
            return
        try:
            if self._written > self._synced:
                os.fsync(descriptor)
                self.counters.commitlog_syncs += 1
                self._synced = self._written
        finally:
            os.close(descriptor)

    def append(self, payload: bytes) -> Position:
        """Write one record; return its position (in the file when this returns).
        Raises OSError if the record could not be written (nothing acknowledged)."""
        assert not self._closed, "append to a closed commitlog"
        record = RECORD_HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        if self._descriptor is None or (
                self._offset and self._offset + len(record) > self.settings.commitlog_segment_bytes):
            self._open_next_segment()
        self.disk.check_commitlog_write(self.directory)
        try:
            written = os.write(self._descriptor, record)  # type: ignore[arg-type]
            if written != len(record):
                raise OSError(f"short commitlog write: {written} of {len(record)} bytes")
        except OSError:
            try:
                self._open_next_segment()   # never append after a possibly torn record
            except OSError as exc:
                self.log.error("commitlog.segment_open_failed", error=str(exc))
            raise
        position = (self.segment_id, self._offset)
        self._last_offset = self._offset
        self._offset += len(record)
        self._written = (self.segment_id, self._offset)
        self.counters.commitlog_bytes += len(record)
        self.counters.commitlog_records += 1
        return position

    @property
    def end_position(self) -> Position:
        return self._written

    @property
    def last_position(self) -> Position:
        """The position of the last record appended (every record so far is at or
        before it; every later record is after it)."""
        return (self.segment_id, self._last_offset)

    async def wait_durable(self, position: Position) -> None:
        """Batch mode: return once the record at ``position`` is fsynced."""
        target = (position[0], position[1] + 1)
        while self._synced < target:
            if self._sync_task is None:
                self._sync_task = asyncio.get_running_loop().create_task(self._sync_round())
            await asyncio.shield(self._sync_task)

    async def _sync_round(self) -> None:
        """fsync the active segment, then the segments retired while it ran (they may
        hold records past this round's target), closing those. A failure fails the
        writers waiting on this round (their records are not acknowledged); the next
        round starts afresh."""
        try:
            target = self._written
            descriptors = [self._descriptor]
            self.disk.check_commitlog_write(self.directory)
            await asyncio.to_thread(_fsync_all, descriptors)
            self.counters.commitlog_syncs += 1
            if target > self._synced:
                self._synced = target
        finally:
            self._sync_task = None   # first: whatever fails below, the next round runs
            retired, self._retired = self._retired, []
            fsync_and_close(retired)

    async def _sync_periodically(self) -> None:
        period_s = self.settings.commitlog_sync_period_ms / 1000
        while True:
            await self.clock.sleep(period_s)
            if self._written > self._synced:
                try:
                    if self._sync_task is None:
                        self._sync_task = asyncio.get_running_loop().create_task(self._sync_round())
                    await asyncio.shield(self._sync_task)
                except OSError as exc:
                    self.log.error("commitlog.sync_failed", error=str(exc))

    def discard_segments_before(self, segment_id: int) -> int:
        """Delete whole segments older than ``segment_id`` (never the active one)."""
        removed = 0
        for found in list_segments(self.directory):
            if found < segment_id and found != self.segment_id:
                (self.directory / segment_name(found)).unlink(missing_ok=True)
                removed += 1
        return removed

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._periodic_task is not None:
            self._periodic_task.cancel()
            try:
                await self._periodic_task
            except asyncio.CancelledError:
                pass
        if self._sync_task is not None:
            try:
                await self._sync_task
            except OSError:
                pass
        if self._descriptor is not None:
            descriptor, self._descriptor = self._descriptor, None
            try:
                fsync_and_close([descriptor])   # closed even if the fsync fails
            except OSError:
                pass


def _fsync_all(descriptors: list[int | None]) -> None:
    for descriptor in descriptors:
        if descriptor is not None:
            os.fsync(descriptor)
