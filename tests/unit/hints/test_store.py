"""A target's hint store: appends are durable, segments roll over and are sealed for
replay, a reopened store finds every segment, deletion removes only sealed ones."""

import asyncio
import errno
import os
import threading

import pytest

import structlog

from node.hints.segment import frame, list_segment_ids, read_records
from node.hints.store import HintStore

LOG = structlog.get_logger()


def record(i, size=100):
    return frame(bytes([i % 256]) * size)


async def test_append_wait_durable_and_reopen(tmp_path):
    store = HintStore(tmp_path / "n3", segment_bytes=1000, log=LOG)
    store.open()
    sequences = [store.append(record(i)) for i in range(25)]
    await asyncio.gather(*(store.wait_durable(s) for s in sequences))
    assert store.syncs >= 1 and store.pending_hints == 25
    assert len(list_segment_ids(tmp_path / "n3")) == 4  # 8 records of 112 bytes fit in 1000
    await store.aclose()
    again = HintStore(tmp_path / "n3", segment_bytes=1000, log=LOG)
    again.open()
    assert again.pending_hints == 25 and again.pending_bytes == 25 * len(record(0))
    assert again.sealed_ids() == list_segment_ids(tmp_path / "n3")
    assert again.append(record(99)) == 1  # a new segment after the old ones
    assert list_segment_ids(tmp_path / "n3")[-1] == 5
    await again.aclose()


async def test_one_fsync_serves_many_waiting_writers(tmp_path):
    store = HintStore(tmp_path / "n2", segment_bytes=1 << 20, log=LOG)
    store.open()
    sequences = [store.append(record(i)) for i in range(200)]
    await asyncio.gather(*(store.wait_durable(s) for s in sequences))
    assert store.syncs <= 2
    await store.aclose()


async def test_seal_makes_the_active_segment_replayable_and_delete_removes_it(tmp_path):
    store = HintStore(tmp_path / "n2", segment_bytes=1 << 20, log=LOG)
    store.open()
    for i in range(3):
        await store.wait_durable(store.append(record(i)))
    assert store.sealed_ids() == []
    store.seal()
    (segment,) = store.sealed_ids()
    assert [r.payload[0] for r in read_records(store.read(segment))] == [0, 1, 2]
    store.append(record(7))  # goes to a new active segment
    store.acknowledge(segment, 3)
    store.delete(segment)
    assert store.sealed_ids() == [] and store.pending_hints == 1
    assert list_segment_ids(tmp_path / "n2") == [segment + 1]
    await store.aclose()


async def test_seal_during_a_running_fsync_keeps_later_records_durable(tmp_path):
    store = HintStore(tmp_path / "n2", segment_bytes=1 << 20, log=LOG)
    store.open()
    first = store.append(record(1))
    waiting = asyncio.ensure_future(store.wait_durable(first))
    await asyncio.sleep(0)  # the sync round has started
    second = store.append(record(2))
    store.seal()
    third = store.append(record(3))
    await asyncio.gather(waiting, store.wait_durable(second), store.wait_durable(third))
    await store.aclose()
    again = HintStore(tmp_path / "n2", segment_bytes=1 << 20, log=LOG)
    again.open()
    assert again.pending_hints == 3


async def test_a_failed_fsync_of_a_sealed_segment_fails_only_its_round(tmp_path, monkeypatch):
    real_fsync = os.fsync
    failing = set()

    def fsync(descriptor):   # fails in the round's closing of retired segments
        if descriptor in failing and threading.current_thread() is threading.main_thread():
            failing.discard(descriptor)
            raise OSError(errno.EIO, "injected fsync failure")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    store = HintStore(tmp_path / "n2", segment_bytes=1 << 20, log=LOG)
    store.open()
    first = store.append(record(1))
    waiting = asyncio.ensure_future(store.wait_durable(first))
    await asyncio.sleep(0)  # the sync round has started
    second = store.append(record(2))
    sealed = store._descriptor
    store.seal()            # retired while the round runs
    failing.add(sealed)
    with pytest.raises(OSError):
        await asyncio.gather(waiting, store.wait_durable(second))
    assert store._retired == []
    with pytest.raises(OSError):
        os.fstat(sealed)     # closed
    third = store.append(record(3))
    await store.wait_durable(third)   # not stuck on the failed round
    syncs = store.syncs
    await store.wait_durable(store.append(record(4)))
    assert store.syncs == syncs + 1
    await store.aclose()


async def test_a_new_segment_and_its_folders_are_fsynced_into_their_parents(tmp_path,
                                                                           monkeypatch):
    real_fsync = os.fsync
    fsynced_inodes = []

    def fsync(descriptor):
        fsynced_inodes.append(os.fstat(descriptor).st_ino)
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    directory = tmp_path / "hints" / "0" / "n3"
    store = HintStore(directory, segment_bytes=1000, log=LOG)
    store.open()
    for i in range(9):   # 8 records of 112 bytes fill the first segment
        store.append(record(i))
        if i in (0, 8):   # a new segment: its entry is durable before a wait_durable
            assert fsynced_inodes[-1] == directory.stat().st_ino
    for folder in (tmp_path, tmp_path / "hints", tmp_path / "hints" / "0"):
        assert folder.stat().st_ino in fsynced_inodes
    await store.aclose()
