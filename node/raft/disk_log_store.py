"""The Raft store on a shard's disk, through the disk seam: three files in one folder.

    term_vote   one record {term, vote}, replaced atomically (write, fsync, rename)
    snapshot    one record {index, term, data}, replaced atomically
    log         append-only records {first, entries}: the log from ``first`` on is
                ``entries`` (so a record both truncates a conflicting suffix and
                appends); fsynced after each record; rewritten atomically with the
                entries kept after a snapshot

A snapshot is saved before the log is rewritten. A crash in between leaves the new
snapshot and the old log; ``load`` keeps the old log only where it agrees with the
snapshot (it holds the snapshot's entry, or starts right after it), else drops it, so
no entry of a log that the snapshot superseded survives next to it.

Invariant: when a call returns, its change is fsynced; ``load`` never fails on a torn
tail of the log (it is cut off) and always fails on damage before valid records.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgpack

from node.raft.errors import LogCorrupted
from node.raft.fsm import PersistedState
from node.raft.log_store import LogStore
from node.raft.messages import LogEntry, Snapshot
from node.raft.records import frame, read_records, read_single
from node.storage.disk import Disk, fsync_directory

TERM_VOTE = "term_vote"
SNAPSHOT = "snapshot"
LOG = "log"
REWRITE_RECORD_BYTES = 1024 * 1024   # entries per record when the log is rewritten


class DiskLogStore(LogStore):
    def __init__(self, directory: Path, disk: Disk) -> None:
        self.directory = directory
        self.disk = disk
        self._descriptor: int | None = None
        self.torn_bytes_dropped = 0       # at the last load, for tests and statistics

    # --- loading ------------------------------------------------------------------

    def load(self) -> PersistedState:
        if not self.directory.is_dir():
            self.directory.mkdir(parents=True)
            fsync_directory(self.directory.parent)
        term, vote = self._load_term_vote()
        snapshot = self._load_snapshot()
        entries = self._load_log()
        if snapshot is not None:
            entries = _agreeing_with(snapshot, entries)
        return PersistedState(term, vote, snapshot, tuple(entries))

    def _load_term_vote(self) -> tuple[int, str | None]:
        path = self.directory / TERM_VOTE
        if not path.exists():
            return 0, None
        value = _unpack(read_single(path.read_bytes(), TERM_VOTE), TERM_VOTE)
        term, vote = value.get("term"), value.get("vote")
        if not isinstance(term, int) or not (vote is None or isinstance(vote, str)):
            raise LogCorrupted(f"{TERM_VOTE}: malformed", file=TERM_VOTE)
        return term, vote

    def _load_snapshot(self) -> Snapshot | None:
        path = self.directory / SNAPSHOT
        if not path.exists():
            return None
        value = _unpack(read_single(path.read_bytes(), SNAPSHOT), SNAPSHOT)
        index, term, data = value.get("index"), value.get("term"), value.get("data")
        if not (isinstance(index, int) and isinstance(term, int) and isinstance(data, bytes)):
            raise LogCorrupted(f"{SNAPSHOT}: malformed", file=SNAPSHOT)
        return Snapshot(index, term, data)

    def _load_log(self) -> list[LogEntry]:
        path = self.directory / LOG
        if not path.exists():
            return []
        data = path.read_bytes()
        records = read_records(data, LOG)
        self.torn_bytes_dropped = len(data) - records.valid_bytes
        if self.torn_bytes_dropped:
            self.disk.check_data_write(path)
            os.truncate(path, records.valid_bytes)
            _fsync_file(path)
        entries: list[LogEntry] = []
        for payload in records.payloads:
            value = _unpack(payload, LOG)
            first, wire = value.get("first"), value.get("entries")
            if not isinstance(first, int) or not isinstance(wire, list):
                raise LogCorrupted(f"{LOG}: malformed record", file=LOG)
            start = entries[0].index if entries else first
            if not start <= first <= start + len(entries):
                raise LogCorrupted(f"{LOG}: a record leaves a gap at {first}", file=LOG)
            del entries[first - start:]
            try:
                entries.extend(LogEntry.from_wire(item) for item in wire)
            except ValueError as error:
                raise LogCorrupted(f"{LOG}: {error}", file=LOG) from error
            if any(entry.index != first + position
                   for position, entry in enumerate(entries[first - start:])):
                raise LogCorrupted(f"{LOG}: entries out of order at {first}", file=LOG)
        return entries

    # --- writing ------------------------------------------------------------------

    def save_term_vote(self, term: int, vote: str | None) -> None:
        payload = msgpack.packb({"term": term, "vote": vote}, use_bin_type=True)
        self.disk.write_file_atomically(self.directory / TERM_VOTE, frame(payload))

    def write_entries(self, first_index: int, entries: list[LogEntry]) -> None:
        path = self.directory / LOG
        self.disk.check_data_write(path)
        record = frame(_entries_payload(first_index, entries))
        descriptor = self._log_descriptor()
        size_before = os.fstat(descriptor).st_size
        try:
            written = 0
            while written < len(record):
                written += os.write(descriptor, record[written:])
            os.fsync(descriptor)
        except OSError:
            # Leave no partial record for a later append to follow (that would read
            # back as damage, not as a torn tail); the caller stops the member.
            try:
                os.ftruncate(descriptor, size_before)
            except OSError:
                pass
            self._close_log()
            raise

    def save_snapshot(self, snapshot: Snapshot, entries: list[LogEntry]) -> None:
        payload = msgpack.packb({"index": snapshot.index, "term": snapshot.term,
                                 "data": snapshot.data}, use_bin_type=True)
        self.disk.write_file_atomically(self.directory / SNAPSHOT, frame(payload))
        self._close_log()
        self.disk.write_file_atomically(self.directory / LOG, _log_image(entries))

    def _log_descriptor(self) -> int:
        if self._descriptor is None:
            path = self.directory / LOG
            existed = path.exists()
            self._descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if not existed:
                fsync_directory(self.directory)
        return self._descriptor

    def _close_log(self) -> None:
        if self._descriptor is not None:
            descriptor, self._descriptor = self._descriptor, None
            os.close(descriptor)

    def close(self) -> None:
        self._close_log()


def _agreeing_with(snapshot: Snapshot, entries: list[LogEntry]) -> list[LogEntry]:
    """The persisted entries, if they agree with the snapshot; else none."""
    if not entries:
        return entries
    first, last = entries[0].index, entries[-1].index
    if first <= snapshot.index <= last:
        if entries[snapshot.index - first].term == snapshot.term:
            return entries
        return []
    return entries if first == snapshot.index + 1 else []


def _entries_payload(first_index: int, entries: list[LogEntry]) -> bytes:
    return msgpack.packb({"first": first_index, "entries": [e.to_wire() for e in entries]},
                         use_bin_type=True)


def _log_image(entries: list[LogEntry]) -> bytes:
    """A whole log file holding ``entries``, in records of about a MiB."""
    parts: list[bytes] = []
    batch: list[LogEntry] = []
    size = 0
    for entry in entries:
        if batch and size + entry.size_bytes > REWRITE_RECORD_BYTES:
            parts.append(frame(_entries_payload(batch[0].index, batch)))
            batch, size = [], 0
        batch.append(entry)
        size += entry.size_bytes
    if batch:
        parts.append(frame(_entries_payload(batch[0].index, batch)))
    return b"".join(parts)


def _unpack(payload: bytes, name: str) -> dict[str, Any]:
    try:
        value = msgpack.unpackb(payload, raw=False)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as error:
        raise LogCorrupted(f"{name}: {error}", file=name) from error
    if not isinstance(value, dict):
        raise LogCorrupted(f"{name}: not a map", file=name)
    return value


def _fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_WRONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
