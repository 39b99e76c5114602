"""What a leader knows of one follower: how far its log matches, what to send it next,
and whether an append or a snapshot transfer is waiting for its answer.

Flow control is one message with entries in flight per follower: the next batch goes
when the answer to the last arrives, or again after ``heartbeat_ticks`` without one (a
lost message). Group 0 carries schema changes, so one round trip per batch of up to
``max_entries_per_message`` is plenty, and a slow follower never gets a pile of
duplicates.

Invariant: ``match_index < next_index``; ``match_index`` never decreases within a term.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Progress:
    next_index: int
    match_index: int = 0
    in_flight_until: int | None = None   # last index of the unanswered append with entries
    sent_tick: int = 0                   # when the last append or chunk went out
    snapshot_index: int | None = None    # a snapshot transfer in progress
    snapshot_offset: int = 0             # the chunk the follower expects next
    read_seq: int = 0                    # the newest read round the follower answered

    def matched(self, index: int) -> bool:
        """Record that the follower matches up to ``index``; True if that is news."""
        self.next_index = max(self.next_index, index + 1)
        if self.in_flight_until is not None and index >= self.in_flight_until:
            self.in_flight_until = None
        if index <= self.match_index:
            return False
        self.match_index = index
        return True

    def rejected(self, rejected_index: int, last_index: int) -> bool:
        """The follower has no entry ``rejected_index`` of the term we sent; step back.
        False if the answer is stale (it rejects an append sent before the last step)."""
        if rejected_index != self.next_index - 1:
            return False
        self.next_index = max(self.match_index + 1, min(rejected_index, last_index + 1))
        self.in_flight_until = None
        return True
