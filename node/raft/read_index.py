"""The leader's side of ReadIndex (Raft thesis §6.4): a read is safe at the commit
index of the moment it arrived, once a majority has answered a heartbeat sent after it
(so no newer leader existed then) and the leader has committed an entry of its term.

Reads arriving before that first commit wait for it; reads then get a round number
(``seq``), which the leader's next messages carry and followers echo. A read is
ready when a majority (the leader included) has echoed its round or a later one.

Invariant: reads become ready in arrival order, each with the commit index it was
given, never one below an index an earlier read got.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass
class PendingRead:
    read_id: int
    seq: int | None = None      # None: waiting for the leader's first commit in its term
    index: int = 0


class ReadIndexQueue:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._reads: deque[PendingRead] = deque()
        self._seq = 0

    def __len__(self) -> int:
        return len(self._reads)

    def is_full(self) -> bool:
        return len(self._reads) >= self.capacity

    def add(self, read_id: int, commit_index: int | None) -> int | None:
        """Queue a read; ``commit_index`` None: the leader has not committed in its term
        yet. Returns the round to broadcast, or None if none is needed yet."""
        read = PendingRead(read_id)
        self._reads.append(read)
        if commit_index is None:
            return None
        return self._assign([read], commit_index)

    def start_deferred(self, commit_index: int) -> int | None:
        """The leader's first commit in its term: give waiting reads a round."""
        waiting = [read for read in self._reads if read.seq is None]
        return self._assign(waiting, commit_index) if waiting else None

    def _assign(self, reads: list[PendingRead], commit_index: int) -> int:
        self._seq += 1
        for read in reads:
            read.seq, read.index = self._seq, commit_index
        return self._seq

    @property
    def current_seq(self) -> int:
        return self._seq

    def take_ready(self, acknowledged_seqs: list[int], quorum: int) -> list[tuple[int, int]]:
        """``(read_id, index)`` of reads a majority confirmed; ``acknowledged_seqs`` has
        one round per member, the leader's own being the current round."""
        ready: list[tuple[int, int]] = []
        while self._reads and self._reads[0].seq is not None:
            seq = self._reads[0].seq
            if sum(1 for acknowledged in acknowledged_seqs if acknowledged >= seq) < quorum:
                break
            read = self._reads.popleft()
            ready.append((read.read_id, read.index))
        return ready

    def fail_all(self) -> list[int]:
        failed = [read.read_id for read in self._reads]
        self._reads.clear()
        return failed
