"""The Raft stores: one conformance suite for the memory and the disk store, then what
only the disk has (restarts, torn tails, damage, a crash between snapshot and log,
injected write failures)."""

import os

import pytest

from node.raft.disk_log_store import LOG, SNAPSHOT, TERM_VOTE, DiskLogStore
from node.raft.errors import LogCorrupted
from node.raft.fsm import PersistedState
from node.raft.log_store import MemoryLogStore
from node.raft.messages import NOOP, LogEntry, Snapshot
from node.storage.disk import Disk


def entries(first, last, term=1):
    return [LogEntry(term, index, command=f"c{index}".encode()) for index in range(first, last + 1)]


@pytest.fixture(params=["memory", "disk"])
def reopen(request, tmp_path):
    """A function giving the store as a restarted member would find it."""
    memory = MemoryLogStore()
    opened = []

    def open_store():
        if request.param == "memory":
            return memory
        store = DiskLogStore(tmp_path / "raft", Disk())
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def test_an_empty_store_loads_term_zero_and_no_log(reopen):
    assert reopen().load() == PersistedState(0, None, None, ())


def test_term_and_vote_survive_a_restart(reopen):
    store = reopen()
    store.load()
    store.save_term_vote(3, "n2")
    store.save_term_vote(4, None)
    store.close()
    assert reopen().load() == PersistedState(4, None, None, ())


def test_appends_and_a_conflicting_suffix_replaced(reopen):
    store = reopen()
    store.load()
    store.write_entries(1, entries(1, 3))
    store.write_entries(4, entries(4, 5))
    store.write_entries(3, entries(3, 4, term=2))   # truncates 3..5, appends 3..4
    store.close()
    state = reopen().load()
    assert state.entries == tuple(entries(1, 2) + entries(3, 4, term=2))


def test_a_snapshot_replaces_the_log_with_the_entries_kept(reopen):
    store = reopen()
    store.load()
    store.write_entries(1, entries(1, 10))
    snapshot = Snapshot(8, 1, b"state at 8")
    store.save_snapshot(snapshot, entries(7, 10))   # two trailing entries
    store.write_entries(11, [LogEntry(2, 11, NOOP)])
    store.close()
    state = reopen().load()
    assert state.snapshot == snapshot
    assert state.entries == tuple(entries(7, 10) + [LogEntry(2, 11, NOOP)])


def test_a_snapshot_from_the_leader_may_drop_the_whole_log(reopen):
    store = reopen()
    store.load()
    store.write_entries(1, entries(1, 5))
    store.save_snapshot(Snapshot(20, 3, b"s"), [])
    store.write_entries(21, entries(21, 22, term=3))
    store.close()
    state = reopen().load()
    assert state.snapshot == Snapshot(20, 3, b"s")
    assert state.entries == tuple(entries(21, 22, term=3))


# --- the disk store only -------------------------------------------------------------


@pytest.fixture
def directory(tmp_path):
    return tmp_path / "raft"


def disk_store(directory, disk=None):
    store = DiskLogStore(directory, disk or Disk())
    store.load()
    return store


def test_a_torn_tail_is_cut_off_at_load_and_appends_go_on_after_it(directory):
    store = disk_store(directory)
    store.write_entries(1, entries(1, 3))
    store.write_entries(4, entries(4, 4))
    store.close()
    path = directory / LOG
    data = path.read_bytes()
    path.write_bytes(data[:-5])                 # the last record lost its end
    reopened = DiskLogStore(directory, Disk())
    state = reopened.load()
    assert state.entries == tuple(entries(1, 3))
    assert reopened.torn_bytes_dropped > 0 and path.stat().st_size < len(data) - 5
    reopened.write_entries(4, entries(4, 5, term=2))
    reopened.close()
    assert DiskLogStore(directory, Disk()).load().entries == tuple(entries(1, 3) + entries(4, 5, 2))


def test_a_torn_header_and_garbage_at_the_tail_are_cut_off_too(directory):
    store = disk_store(directory)
    store.write_entries(1, entries(1, 2))
    store.close()
    with open(directory / LOG, "ab") as handle:
        handle.write(b"RAF")
    assert DiskLogStore(directory, Disk()).load().entries == tuple(entries(1, 2))


def test_damage_before_valid_records_refuses_to_load(directory):
    store = disk_store(directory)
    store.write_entries(1, entries(1, 1))
    store.write_entries(2, entries(2, 2))
    store.close()
    path = directory / LOG
    data = bytearray(path.read_bytes())
    data[14] ^= 0xFF                             # inside the first record's payload
    path.write_bytes(bytes(data))
    with pytest.raises(LogCorrupted):
        DiskLogStore(directory, Disk()).load()


def test_damaged_term_vote_or_snapshot_files_refuse_to_load(directory):
    store = disk_store(directory)
    store.save_term_vote(2, "n1")
    store.save_snapshot(Snapshot(3, 1, b"data"), [])
    store.close()
    for name in (TERM_VOTE, SNAPSHOT):
        path = directory / name
        good = path.read_bytes()
        path.write_bytes(good[:-1])
        with pytest.raises(LogCorrupted):
            DiskLogStore(directory, Disk()).load()
        path.write_bytes(good)
    assert DiskLogStore(directory, Disk()).load().term == 2


def test_a_crash_between_snapshot_and_log_rewrite_keeps_only_an_agreeing_log(directory):
    store = disk_store(directory)
    store.write_entries(1, entries(1, 6))       # the old log, all of term 1
    store.close()
    old_log = (directory / LOG).read_bytes()
    # The snapshot agrees with the old log at index 4: the old log is kept.
    store = disk_store(directory)
    store.save_snapshot(Snapshot(4, 1, b"s4"), entries(5, 6))
    store.close()
    (directory / LOG).write_bytes(old_log)
    assert DiskLogStore(directory, Disk()).load().entries == tuple(entries(1, 6))
    # A leader's snapshot of another term at index 5: the old log disagrees, it goes.
    store = disk_store(directory)
    store.save_snapshot(Snapshot(5, 2, b"s5"), [])
    store.close()
    (directory / LOG).write_bytes(old_log)
    state = DiskLogStore(directory, Disk()).load()
    assert state.snapshot == Snapshot(5, 2, b"s5") and state.entries == ()
    # An old log that ends before the snapshot goes as well.
    store = disk_store(directory)
    store.save_snapshot(Snapshot(9, 2, b"s9"), [])
    store.close()
    (directory / LOG).write_bytes(old_log)
    assert DiskLogStore(directory, Disk()).load().entries == ()


def test_an_injected_write_failure_raises_and_leaves_no_partial_record(directory):
    disk = Disk()
    store = disk_store(directory, disk)
    store.write_entries(1, entries(1, 2))
    disk.fail_data_writes = True
    with pytest.raises(OSError):
        store.write_entries(3, entries(3, 3))
    with pytest.raises(OSError):
        store.save_term_vote(5, "n3")
    disk.fail_data_writes = False
    store.write_entries(3, entries(3, 4))
    store.close()
    state = DiskLogStore(directory, disk).load()
    assert state.entries == tuple(entries(1, 4)) and state.term == 0


def test_every_write_is_fsynced_before_it_returns(directory, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(descriptor):
        synced.append(descriptor)
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    store = disk_store(directory)
    for call in (lambda: store.write_entries(1, entries(1, 1)),
                 lambda: store.save_term_vote(1, "n1"),
                 lambda: store.save_snapshot(Snapshot(1, 1, b""), [])):
        before = len(synced)
        call()
        assert len(synced) > before
    store.close()
