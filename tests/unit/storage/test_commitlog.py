"""Commitlog: replay, torn tails, corrupt records, batch syncs, segment deletion."""

from __future__ import annotations

import asyncio
import errno
import os
import random
import shutil
import threading

import pytest

from node.storage.commitlog import list_segments, segment_name
from tests.unit.storage.conftest import live_rows, open_storage, read_all


async def test_replay_restores_unflushed_writes(tmp_path, clock, schema, build) -> None:
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    for ck in range(20):
        await storage.apply(build.insert(1, ck, f"v{ck}", ts=100 + ck))
    await storage.flush()
    for ck in range(20, 30):
        await storage.apply(build.insert(1, ck, f"v{ck}", ts=100 + ck))
    await storage.aclose()
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        rows = live_rows(read_all(again, schema, clock.now_s()), schema, clock.now_s())
        assert sorted(ck for _, ck in rows) == list(range(30))
        # only what was not flushed is replayed
        assert again.statistics().commitlog_replayed_records == 10
    finally:
        await again.aclose()


async def test_torn_tail_loses_only_unacknowledged_records(tmp_path, clock, schema, build) -> None:
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    directory = tmp_path / "s" / "commitlog"
    ends = []   # file size after each acknowledged write
    for ck in range(40):
        await storage.apply(build.insert(1, ck, "x" * (ck % 7), ts=100 + ck))
        segment = directory / segment_name(list_segments(directory)[-1])
        ends.append(segment.stat().st_size)
    await storage.aclose()
    segment_file = segment_name(list_segments(directory)[-1])
    full_size = ends[-1]
    rng = random.Random(7)
    offsets = sorted({0, 1, full_size - 1, *(rng.randrange(full_size) for _ in range(12))})
    for trial, offset in enumerate(offsets):
        copy = tmp_path / f"trial{trial}"
        shutil.copytree(tmp_path / "s", copy)
        with open(copy / "commitlog" / segment_file, "r+b") as handle:
            handle.truncate(offset)
        again = open_storage(copy, clock)
        await again.open([schema])
        try:
            rows = live_rows(read_all(again, schema, clock.now_s()), schema, clock.now_s())
            whole = [ck for ck, end in enumerate(ends) if end <= offset]
            assert sorted(ck for _, ck in rows) == whole, offset
            torn = offset not in (0, *ends)
            assert again.statistics().commitlog_corrupt_records == (1 if torn else 0)
        finally:
            await again.aclose()


async def test_corrupt_record_is_skipped_and_counted(tmp_path, clock, schema, build) -> None:
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    for ck in range(5):
        await storage.apply(build.insert(1, ck, "value", ts=100))
    await storage.aclose()
    directory = tmp_path / "s" / "commitlog"
    path = directory / segment_name(list_segments(directory)[-1])
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF   # flip a byte of the last record's payload
    path.write_bytes(bytes(data))
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        rows = live_rows(read_all(again, schema, clock.now_s()), schema, clock.now_s())
        assert sorted(ck for _, ck in rows) == [0, 1, 2, 3]
        assert again.statistics().commitlog_corrupt_records == 1
    finally:
        await again.aclose()


async def test_batch_mode_one_fsync_for_concurrent_writers(storage, build) -> None:
    import asyncio
    before = storage.statistics().commitlog_syncs
    await asyncio.gather(*(storage.apply(build.insert(1, ck, "v", ts=100)) for ck in range(50)))
    syncs = storage.statistics().commitlog_syncs - before
    assert 1 <= syncs < 50


async def test_segments_deleted_once_flushed(tmp_path, clock, schema, build) -> None:
    storage = open_storage(tmp_path / "s", clock, commitlog_segment_bytes=2048)
    await storage.open([schema])
    try:
        for ck in range(200):
            await storage.apply(build.insert(1, ck, "payload" * 3, ts=100))
        assert storage.statistics().commitlog_segments > 3
        await storage.flush()
        assert storage.statistics().commitlog_segments == 1   # only the active one
    finally:
        await storage.aclose()


async def test_records_of_unknown_tables_are_skipped_and_counted(tmp_path, clock, schema,
                                                                 build) -> None:
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    await storage.apply(build.insert(1, 1, "v", ts=100))
    await storage.aclose()
    again = open_storage(tmp_path / "s", clock)
    await again.open([])
    try:
        assert again.statistics().commitlog_skipped_records == 1
    finally:
        await again.aclose()


class FailingFsync:
    """``os.fsync`` that fails once for the descriptors in ``failing``, on the loop's
    thread only (where a sync round fsyncs and closes the segments retired during it)."""

    def __init__(self, real) -> None:
        self.real = real
        self.failing: set[int] = set()

    def __call__(self, descriptor: int) -> None:
        if descriptor in self.failing and threading.current_thread() is threading.main_thread():
            self.failing.discard(descriptor)
            raise OSError(errno.EIO, "injected fsync failure")
        self.real(descriptor)


async def test_a_failed_fsync_of_a_retired_segment_fails_only_its_round(
        tmp_path, clock, schema, build, monkeypatch) -> None:
    fsync = FailingFsync(os.fsync)
    monkeypatch.setattr(os, "fsync", fsync)
    storage = open_storage(tmp_path / "s", clock, commitlog_segment_bytes=300)
    await storage.open([schema])
    commitlog = storage.commitlog
    try:
        first = asyncio.ensure_future(storage.apply(build.insert(1, 1, "x" * 100, ts=100)))
        await asyncio.sleep(0)   # its sync round is running
        assert commitlog._sync_task is not None
        old_descriptor = commitlog._descriptor
        second = asyncio.ensure_future(storage.apply(build.insert(1, 2, "x" * 200, ts=100)))
        await asyncio.sleep(0)   # appended to a new segment: the old one is retired
        assert commitlog._retired == [old_descriptor]
        fsync.failing.add(old_descriptor)
        results = await asyncio.gather(first, second, return_exceptions=True)
        assert any(isinstance(result, OSError) for result in results)
        assert commitlog._sync_task is None and commitlog._retired == []
        with pytest.raises(OSError):
            os.fstat(old_descriptor)   # closed
        # later rounds are not stuck on the failed one
        for ck in range(3, 6):
            await storage.apply(build.insert(1, ck, "y", ts=100))
        syncs = storage.statistics().commitlog_syncs
        await storage.apply(build.insert(1, 9, "y", ts=100))
        assert storage.statistics().commitlog_syncs > syncs
    finally:
        await storage.aclose()


async def test_a_segment_that_cannot_be_opened_fails_the_append_and_the_next_retries(
        tmp_path, clock, schema, build, monkeypatch) -> None:
    real_open = os.open
    refuse = {"count": 0}

    def fake_open(path, *args, **kwargs):
        if refuse["count"] and os.path.basename(str(path)).startswith("CommitLog-"):
            refuse["count"] -= 1
            raise OSError(errno.ENOSPC, "injected: no space left", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)
    storage = open_storage(tmp_path / "s", clock, commitlog_segment_bytes=300)
    await storage.open([schema])
    try:
        await storage.apply(build.insert(1, 1, "x" * 100, ts=100))
        refuse["count"] = 1
        with pytest.raises(OSError):
            await storage.apply(build.insert(1, 2, "x" * 200, ts=100))   # needs a new segment
        other = tmp_path / "other"
        other.write_bytes(b"not a commitlog")
        descriptor = os.open(other, os.O_RDWR)   # may take the closed segment's number
        await storage.apply(build.insert(1, 3, "x" * 200, ts=100))   # opens a segment
        os.fstat(descriptor)   # still open: the commitlog did not retire it
        os.close(descriptor)
        assert other.read_bytes() == b"not a commitlog"
    finally:
        await storage.aclose()
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        rows = live_rows(read_all(again, schema, clock.now_s()), schema, clock.now_s())
        assert sorted(ck for _, ck in rows) == [1, 3]
        assert again.statistics().commitlog_corrupt_records == 0
    finally:
        await again.aclose()
