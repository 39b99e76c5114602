"""Where a member keeps its term, vote, log and snapshot: the interface, the order in
which a ``Ready`` is persisted, and an in-memory store for tests and the simulation.

    store.load() -> PersistedState
    store.save_term_vote(term, vote)
    store.write_entries(first_index, entries)   # the log from first_index on is `entries`
    store.save_snapshot(snapshot, entries)      # the snapshot, and the whole log is `entries`

Every call is durable (fsynced) when it returns; a call that raises ``OSError`` may
have left any prefix of its change, which ``load`` reads back consistently.

Invariant: ``load`` returns exactly what the completed calls left, in their order.
"""

from __future__ import annotations

from node.raft.fsm import PersistedState, Ready
from node.raft.messages import LogEntry, Snapshot


class LogStore:
    def load(self) -> PersistedState:
        raise NotImplementedError

    def save_term_vote(self, term: int, vote: str | None) -> None:
        raise NotImplementedError

    def write_entries(self, first_index: int, entries: list[LogEntry]) -> None:
        raise NotImplementedError

    def save_snapshot(self, snapshot: Snapshot, entries: list[LogEntry]) -> None:
        raise NotImplementedError

    def persist(self, ready: Ready) -> None:
        """What the FSM handed out, before any of its messages may leave."""
        if ready.hard_state_changed:
            self.save_term_vote(ready.term, ready.vote)
        if ready.snapshot is not None:
            self.save_snapshot(ready.snapshot, ready.entries)
        elif ready.entries_from is not None:
            self.write_entries(ready.entries_from, ready.entries)

    def close(self) -> None:
        pass


class MemoryLogStore(LogStore):
    """Keeps what a disk would, in memory: survives the member (a simulated restart),
    not the process."""

    def __init__(self) -> None:
        self.term = 0
        self.vote: str | None = None
        self.snapshot: Snapshot | None = None
        self.entries: list[LogEntry] = []
        self.writes = 0

    def load(self) -> PersistedState:
        return PersistedState(self.term, self.vote, self.snapshot, tuple(self.entries))

    def save_term_vote(self, term: int, vote: str | None) -> None:
        self.term, self.vote = term, vote
        self.writes += 1

    def write_entries(self, first_index: int, entries: list[LogEntry]) -> None:
        start = self.entries[0].index if self.entries else first_index
        assert start <= first_index <= start + len(self.entries), "the log stays contiguous"
        del self.entries[first_index - start:]
        self.entries.extend(entries)
        self.writes += 1

    def save_snapshot(self, snapshot: Snapshot, entries: list[LogEntry]) -> None:
        self.snapshot = snapshot
        self.entries = list(entries)
        self.writes += 1
