"""The hints of one target on one coordinator shard: a folder of append-only
segments (``hints/<shard>/<target>/Hints-<id>.log``).

New hints go to the active segment; it is sealed when it reaches ``segment_bytes`` or
when a replay round starts, so a sender only ever reads sealed segments, oldest
first, and deletes a segment once every hint in it is acknowledged. Durability is
grouped like a batch commitlog: ``append`` writes the record (``os.write``) and
``wait_durable`` returns once an fsync that began after that write has finished; all
the hints waiting at that moment share one fsync.

Invariant: a record is in the file before ``append`` returns and fsynced before
``wait_durable`` returns; a segment is deleted only by ``delete`` (the sender, after
every hint in it was acknowledged or discarded); the active segment is never read.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.hints.segment import list_segment_ids, read_records, segment_name
from node.storage.disk import fsync_and_close, fsync_directory


@dataclass
class SegmentState:
    segment_id: int
    size_bytes: int = 0
    hints: int = 0          # records written (or found at open)
    remaining: int = 0      # records not yet acknowledged or discarded


class HintStore:
    def __init__(self, directory: Path, segment_bytes: int, log: Any) -> None:
        assert segment_bytes > 0, "segments have a size bound"
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.log = log
        self._segments: dict[int, SegmentState] = {}   # id order: ids only grow
        self._active: SegmentState | None = None
        self._descriptor: int | None = None
        self._next_id = 1
        self._written = 0     # records appended since open
        self._synced = 0      # records known fsynced
        self._sync_task: asyncio.Task[None] | None = None
        self._retired: list[int] = []  # sealed descriptors a running sync round closes
        self.syncs = 0
        self._closed = False

    def open(self) -> None:
        """Find the segments a previous run left (all of them sealed now)."""
        for segment_id in list_segment_ids(self.directory):
            path = self.directory / segment_name(segment_id)
            data = path.read_bytes()
            count = sum(1 for _ in read_records(data))
            self._segments[segment_id] = SegmentState(segment_id, len(data), count, count)
            self._next_id = segment_id + 1

    # --- what is pending -------------------------------------------------------

    @property
    def pending_bytes(self) -> int:
        return sum(segment.size_bytes for segment in self._segments.values())

    @property
    def pending_hints(self) -> int:
        return sum(segment.remaining for segment in self._segments.values())

    def has_pending(self) -> bool:
        return bool(self._segments)

    def sealed_ids(self) -> list[int]:
        active = self._active.segment_id if self._active is not None else None
        return [segment_id for segment_id in self._segments if segment_id != active]

    # --- writing ----------------------------------------------------------------

    def append(self, record: bytes) -> int:
        """Write one framed record; the sequence number to pass to ``wait_durable``.
        Raises OSError when the disk refuses (nothing counted then)."""
        assert not self._closed, "no append after aclose"
        if self._active is not None and self._active.size_bytes + len(record) > self.segment_bytes \
                and self._active.hints > 0:
            self.seal()
        if self._active is None:
            self._open_segment()
        view = memoryview(record)
        while view:
            written = os.write(self._descriptor, view)
            view = view[written:]
        self._active.size_bytes += len(record)
        self._active.hints += 1
        self._active.remaining += 1
        self._written += 1
        return self._written

    def _open_segment(self) -> None:
        """Create the next segment; its folder entry (and any folder made for it) is
        fsynced, so a hint made durable in it cannot vanish with the entry."""
        _make_durable_directory(self.directory)
        segment_id = self._next_id
        self._next_id += 1
        path = self.directory / segment_name(segment_id)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fsync_directory(self.directory)
        except OSError:
            os.close(descriptor)
            raise
        self._descriptor = descriptor
        self._active = self._segments[segment_id] = SegmentState(segment_id)

    def seal(self) -> None:
        """Close the active segment (if it holds anything) so that it can be replayed."""
        if self._active is None or self._active.hints == 0:
            return
        descriptor, self._descriptor, self._active = self._descriptor, None, None
        if self._sync_task is not None:
            self._retired.append(descriptor)  # the running sync round fsyncs and closes it
            return
        fsync_and_close([descriptor])
        self._synced = self._written

    async def wait_durable(self, sequence: int) -> None:
        """Return once record ``sequence`` is fsynced (one fsync for all waiting)."""
        while self._synced < sequence:
            if self._sync_task is None:
                self._sync_task = asyncio.get_running_loop().create_task(self._sync_round())
            await asyncio.shield(self._sync_task)

    async def _sync_round(self) -> None:
        """fsync the active and retired segments; then fsync and close the segments
        retired meanwhile (they may hold later records). A failure fails the writers
        waiting on this round (their hints are not durable); the next round starts
        afresh."""
        try:
            target = self._written
            descriptors = [d for d in [self._descriptor, *self._retired] if d is not None]
            await asyncio.to_thread(_fsync_all, descriptors)
            self.syncs += 1
            self._synced = max(self._synced, target)
        finally:
            self._sync_task = None   # first: whatever fails below, the next round runs
            retired, self._retired = self._retired, []
            fsync_and_close(retired)

    # --- replaying --------------------------------------------------------------

    def read(self, segment_id: int) -> bytes:
        assert segment_id in self.sealed_ids(), "only sealed segments are read"
        return (self.directory / segment_name(segment_id)).read_bytes()

    def acknowledge(self, segment_id: int, count: int = 1) -> None:
        """``count`` hints of a segment were delivered or discarded."""
        segment = self._segments.get(segment_id)
        if segment is not None:
            segment.remaining = max(0, segment.remaining - count)

    def delete(self, segment_id: int) -> None:
        """Every hint of a sealed segment is acknowledged: remove its file."""
        assert segment_id in self.sealed_ids(), "the active segment is never deleted"
        (self.directory / segment_name(segment_id)).unlink(missing_ok=True)
        del self._segments[segment_id]

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._sync_task is not None:
            try:
                await asyncio.shield(self._sync_task)
            except OSError:
                pass
        if self._descriptor is not None:
            descriptor, self._descriptor = self._descriptor, None
            try:
                fsync_and_close([descriptor])   # closed even if the fsync fails
            except OSError:
                pass


def _make_durable_directory(directory: Path) -> None:
    """Create ``directory`` and missing parents, fsyncing the parent of each."""
    if directory.is_dir():
        return
    _make_durable_directory(directory.parent)
    directory.mkdir(exist_ok=True)
    fsync_directory(directory.parent)


def _fsync_all(descriptors: list[int]) -> None:
    for descriptor in descriptors:
        os.fsync(descriptor)
