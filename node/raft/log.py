"""The in-memory Raft log of one member: its latest snapshot, the entries after it (and
a few trailing entries before it, kept for slow followers), and what changed since the
last time the changes were handed out for persisting.

    snapshot.index ─┐
    [first_index ... snapshot.index ... last_index]      entries, contiguous

Invariant: entries are contiguous with non-decreasing terms; ``first_index <=
snapshot.index + 1``; ``last_index >= snapshot.index``; an entry at or below the commit
index is never replaced (``maybe_append`` asserts it: that would break Raft's safety).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from node.raft.messages import EMPTY_SNAPSHOT, LogEntry, Snapshot


@dataclass(frozen=True)
class Unpersisted:
    """What changed since the last ``take_unpersisted``: either a new snapshot (then
    ``entries`` is the whole log, which replaces the persisted one) or the entries
    from ``entries_from`` on, which replace the persisted suffix from there."""

    snapshot: Snapshot | None
    entries_from: int | None
    entries: list[LogEntry]


class RaftLog:
    def __init__(self, snapshot: Snapshot | None = None,
                 entries: Sequence[LogEntry] = ()) -> None:
        self.snapshot = snapshot or EMPTY_SNAPSHOT
        self._entries: list[LogEntry] = list(entries)
        self._first = self._entries[0].index if self._entries else self.snapshot.index + 1
        assert self._first <= self.snapshot.index + 1, "no gap after the snapshot"
        assert self.last_index >= self.snapshot.index, "the log reaches the snapshot"
        assert all(entry.index == self._first + position
                   for position, entry in enumerate(self._entries)), "entries are contiguous"
        self._dirty_from: int | None = None
        self._snapshot_dirty = False

    # --- reading ------------------------------------------------------------------

    @property
    def first_index(self) -> int:
        return self._first

    @property
    def last_index(self) -> int:
        return self._entries[-1].index if self._entries else self.snapshot.index

    @property
    def last_term(self) -> int:
        term = self.term_at(self.last_index)
        assert term is not None
        return term

    def term_at(self, index: int) -> int | None:
        """The term of the entry at ``index``; None if compacted away or not there."""
        if index == self.snapshot.index:
            return self.snapshot.term
        if self._first <= index <= self.last_index:
            return self._entries[index - self._first].term
        if index == 0:
            return 0
        return None

    def entry(self, index: int) -> LogEntry:
        assert self._first <= index <= self.last_index, "the entry is in memory"
        return self._entries[index - self._first]

    def entries(self, low: int, high: int, *, count_max: int, bytes_max: int) -> list[LogEntry]:
        """Entries ``low..high`` (inclusive), at most ``count_max`` and ``bytes_max`` but
        at least one if ``low <= high``."""
        assert self._first <= low, "the entries are in memory"
        high = min(high, self.last_index, low + count_max - 1)
        taken: list[LogEntry] = []
        size = 0
        for index in range(low, high + 1):
            entry = self._entries[index - self._first]
            size += entry.size_bytes
            if taken and size > bytes_max:
                break
            taken.append(entry)
        return taken

    def all_entries(self) -> list[LogEntry]:
        return list(self._entries)

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a log ending at ``(last_index, last_term)`` is at least as up to date
        as this one (Raft §5.4.1)."""
        return (last_term, last_index) >= (self.last_term, self.last_index)

    # --- changing -----------------------------------------------------------------

    def append(self, entry: LogEntry) -> None:
        """A leader's new entry at the end."""
        assert entry.index == self.last_index + 1, "appended at the end"
        assert entry.term >= self.last_term, "terms never decrease along the log"
        if not self._entries:
            self._first = entry.index
        self._entries.append(entry)
        self._mark_dirty(entry.index)

    def maybe_append(self, prev_index: int, prev_term: int, entries: Sequence[LogEntry],
                     commit_index: int) -> int | None:
        """A follower takes a leader's entries after ``(prev_index, prev_term)``: the
        index up to which it now matches the leader, or None if it has no entry
        ``prev_index`` of ``prev_term``. A conflicting suffix is replaced."""
        if prev_index < self.snapshot.index:
            # Everything up to the snapshot is committed, so it matches any leader's log.
            skipped = self.snapshot.index - prev_index
            if skipped >= len(entries):
                return self.snapshot.index
            assert entries[skipped - 1].term == self.snapshot.term, "committed entry differs"
            entries = entries[skipped:]
            prev_index, prev_term = self.snapshot.index, self.snapshot.term
        if self.term_at(prev_index) != prev_term:
            return None
        for position, entry in enumerate(entries):
            existing = self.term_at(entry.index)
            if existing == entry.term:
                continue
            if existing is not None:
                assert entry.index > commit_index, "a committed entry is never replaced"
                self._truncate_from(entry.index)
            for new in entries[position:]:
                self.append(new)
            break
        return prev_index + len(entries)

    def _truncate_from(self, index: int) -> None:
        assert index > self.snapshot.index, "the snapshot is never truncated"
        del self._entries[index - self._first:]
        self._mark_dirty(index)

    def install(self, snapshot: Snapshot) -> None:
        """A snapshot from the leader: entries after it are kept if this log has its
        last entry (Raft §7), otherwise the whole log is dropped."""
        assert snapshot.index > self.snapshot.index, "snapshots move forward"
        if self.term_at(snapshot.index) == snapshot.term:
            self._entries = self._entries[snapshot.index + 1 - self._first:]
        else:
            self._entries = []
        self._first = snapshot.index + 1
        self.snapshot = snapshot
        self._snapshot_dirty = True

    def compact(self, snapshot: Snapshot, trailing: int) -> None:
        """A local snapshot of applied entries: drop entries before it, but ``trailing``."""
        assert self.snapshot.index < snapshot.index <= self.last_index, "a newer, known index"
        assert self.term_at(snapshot.index) == snapshot.term, "the snapshot's entry is ours"
        keep_from = max(self._first, snapshot.index + 1 - trailing)
        self._entries = self._entries[keep_from - self._first:]
        self._first = keep_from
        self.snapshot = snapshot
        self._snapshot_dirty = True

    def _mark_dirty(self, index: int) -> None:
        if self._dirty_from is None or index < self._dirty_from:
            self._dirty_from = index

    def take_unpersisted(self) -> Unpersisted | None:
        if self._snapshot_dirty:
            change = Unpersisted(self.snapshot, None, list(self._entries))
        elif self._dirty_from is not None:
            start = self._dirty_from - self._first
            change = Unpersisted(None, self._dirty_from, self._entries[start:])
        else:
            return None
        self._snapshot_dirty = False
        self._dirty_from = None
        return change
