"""Raft as a deterministic state machine: one member's roles, elections, replication,
commit and ReadIndex, with no I/O and no clock of its own.

Inputs: ``tick()`` (one tick of the injected clock), ``step(source, message)``,
``propose(command)``, ``start_read(read_id)``, ``compact(index, data)``. Output:
``take_ready()`` hands out what changed, and the driver must, in this order, persist
``term``/``vote`` and the log changes (fsync), then send ``messages``. So every vote
and every append acknowledgement leaves only once what it promises is on disk.
Committed entries are read from ``log`` up to ``commit_index`` by the applier.

Elections use pre-vote and check-quorum (Raft thesis §9.6): a member that timed out
first asks whether a majority would vote for it, without changing any term; a member
that heard from a leader within the minimum election timeout refuses (pre-)votes; a
leader that has not heard from a majority within an election timeout steps down. So a
member cut off from some peers cannot force elections on the others.

Invariant (the Raft safety properties, checked by tests/unit/raft/test_fsm_random.py):
at most one leader per term; logs that share an entry share every entry before it; a
leader holds every entry committed before its term; no two members apply different
commands at one index.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from node.raft.config import MESSAGE_OVERHEAD_BYTES, RaftConfig
from node.raft.errors import CommandTooLarge, NotLeader, TooManyPending
from node.raft.log import RaftLog
from node.raft.messages import (COMMAND, NOOP, AppendEntries, AppendReply, InstallSnapshot,
                                LogEntry, Message, Snapshot, SnapshotReply, VoteReply,
                                VoteRequest)
from node.raft.progress import Progress
from node.raft.read_index import ReadIndexQueue


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True)
class PersistedState:
    """What a member keeps on disk, and starts from."""

    term: int = 0
    vote: str | None = None
    snapshot: Snapshot | None = None
    entries: tuple[LogEntry, ...] = ()


@dataclass
class Ready:
    """What the driver must do after an input, in field order."""

    term: int
    vote: str | None
    hard_state_changed: bool
    snapshot: Snapshot | None          # persist it; ``entries`` is then the whole log
    entries_from: int | None           # else: the log from here on is ``entries``
    entries: list[LogEntry]
    messages: list[tuple[str, Message]] = field(default_factory=list)
    reads_done: list[tuple[int, int]] = field(default_factory=list)   # (read_id, index)
    reads_failed: list[int] = field(default_factory=list)

    @property
    def must_persist(self) -> bool:
        return self.hard_state_changed or self.snapshot is not None or self.entries_from is not None


@dataclass
class _IncomingSnapshot:
    term: int           # the leader's term
    index: int
    snapshot_term: int
    data: bytearray


class RaftFsm:
    def __init__(self, me: str, members: Sequence[str], state: PersistedState,
                 config: RaftConfig, rng: random.Random) -> None:
        assert me in members, "a member of its own group"
        assert len(set(members)) == len(members), "members are distinct"
        self.me = me
        self.members = tuple(sorted(members))
        self.peers = tuple(member for member in self.members if member != me)
        self.quorum = len(self.members) // 2 + 1
        self.config = config
        self._rng = rng
        self.term = state.term
        self.voted_for = state.vote
        self.log = RaftLog(state.snapshot, state.entries)
        self.commit_index = self.log.snapshot.index
        self.role = Role.FOLLOWER
        self.leader: str | None = None
        self._ticks = 0
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._timeout = self._random_timeout()
        self._votes: dict[str, bool] = {}
        self._progress: dict[str, Progress] = {}
        self._active: set[str] = set()
        self._reads = ReadIndexQueue(config.max_pending_reads)
        self._incoming: _IncomingSnapshot | None = None
        self._hard_state_changed = False
        self._messages: list[tuple[str, Message]] = []
        self._reads_done: list[tuple[int, int]] = []
        self._reads_failed: list[int] = []

    # --- inputs -------------------------------------------------------------------

    def tick(self) -> None:
        self._ticks += 1
        if self.role is Role.LEADER:
            self._tick_leader()
            return
        self._election_elapsed += 1
        if self._election_elapsed >= self._timeout:
            self._start_pre_vote()

    def step(self, source: str, message: Message) -> None:
        """A message from the member ``source`` (messages from non-members are ignored)."""
        if source not in self.peers:
            return
        if isinstance(message, VoteRequest):
            self._on_vote_request(source, message)
            return
        if message.term > self.term:
            if isinstance(message, VoteReply) and message.pre_vote and message.granted:
                pass  # a granted pre-vote carries the term we would take, not the voter's
            else:
                is_leader = isinstance(message, AppendEntries | InstallSnapshot)
                self._become_follower(message.term, source if is_leader else None)
        elif message.term < self.term:
            if isinstance(message, AppendEntries | InstallSnapshot):
                # Tell a stale leader about the newer term, so that it steps down.
                self._send(source, AppendReply(self.term, False))
            return
        if isinstance(message, AppendEntries):
            self._on_append(source, message)
        elif isinstance(message, AppendReply):
            self._on_append_reply(source, message)
        elif isinstance(message, VoteReply):
            self._on_vote_reply(source, message)
        elif isinstance(message, InstallSnapshot):
            self._on_install_snapshot(source, message)
        elif isinstance(message, SnapshotReply):
            self._on_snapshot_reply(source, message)

    def propose(self, command: bytes) -> tuple[int, int]:
        """Append a command as leader: its ``(index, term)``. Raises ``NotLeader``,
        ``CommandTooLarge`` or ``TooManyPending``."""
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        if len(command) > self.config.max_command_bytes:
            raise CommandTooLarge(f"command of {len(command)} bytes is over the limit of "
                                  f"{self.config.max_command_bytes}", size_bytes=len(command))
        if self.log.last_index - self.commit_index >= self.config.max_uncommitted_entries:
            raise TooManyPending("too many uncommitted entries",
                                 limit=self.config.max_uncommitted_entries)
        entry = LogEntry(self.term, self.log.last_index + 1, COMMAND, command)
        self.log.append(entry)
        for peer in self.peers:
            self._send_append(peer)
        self._maybe_commit()
        return entry.index, entry.term

    def start_read(self, read_id: int) -> None:
        """Begin a ReadIndex read as leader; its index comes in ``Ready.reads_done``
        (or its failure in ``reads_failed``). Raises ``NotLeader``, ``TooManyPending``."""
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        if self._reads.is_full():
            raise TooManyPending("too many reads waiting", limit=self._reads.capacity)
        if self._reads.add(read_id, self.commit_index if self._committed_in_term() else None):
            self._send_read_round()
        self._take_ready_reads()

    def compact(self, index: int, data: bytes) -> bool:
        """The state machine's snapshot as of applied ``index``: it replaces the log up
        to there (but trailing entries). False if the log already has a newer one."""
        if index <= self.log.snapshot.index or index > self.commit_index:
            return False
        term = self.log.term_at(index)
        assert term is not None, "an index above the snapshot is in the log"
        self.log.compact(Snapshot(index, term, data), self.config.snapshot_trailing_entries)
        return True

    def take_ready(self) -> Ready:
        change = self.log.take_unpersisted()
        ready = Ready(self.term, self.voted_for, self._hard_state_changed,
                      change.snapshot if change else None,
                      change.entries_from if change else None,
                      change.entries if change else [],
                      self._messages, self._reads_done, self._reads_failed)
        self._hard_state_changed = False
        self._messages, self._reads_done, self._reads_failed = [], [], []
        return ready

    # --- roles --------------------------------------------------------------------

    def _random_timeout(self) -> int:
        return self.config.election_ticks + self._rng.randrange(self.config.election_ticks)

    def _reset_election_timer(self) -> None:
        self._election_elapsed = 0
        self._timeout = self._random_timeout()

    def _set_term(self, term: int) -> None:
        assert term > self.term, "terms only grow"
        self.term = term
        self.voted_for = None
        self._hard_state_changed = True

    def _become_follower(self, term: int, leader: str | None) -> None:
        if term > self.term:
            self._set_term(term)
        if self.role is Role.LEADER:
            self._reads_failed.extend(self._reads.fail_all())
            self._progress.clear()
        self.role = Role.FOLLOWER
        self.leader = leader
        self._votes = {}
        self._reset_election_timer()

    def _start_pre_vote(self) -> None:
        self.role = Role.PRE_CANDIDATE
        self.leader = None
        self._votes = {self.me: True}
        self._reset_election_timer()
        if self._tally() is not None:
            self._start_election()
            return
        request = VoteRequest(self.term + 1, self.log.last_index, self.log.last_term, True)
        for peer in self.peers:
            self._send(peer, request)

    def _start_election(self) -> None:
        self._set_term(self.term + 1)
        self.voted_for = self.me
        self.role = Role.CANDIDATE
        self.leader = None
        self._votes = {self.me: True}
        self._reset_election_timer()
        if self._tally() is not None:
            self._become_leader()
            return
        request = VoteRequest(self.term, self.log.last_index, self.log.last_term, False)
        for peer in self.peers:
            self._send(peer, request)

    def _tally(self) -> bool | None:
        """True: a majority granted; False: a majority refused; None: not yet known."""
        granted = sum(1 for vote in self._votes.values() if vote)
        if granted >= self.quorum:
            return True
        if len(self._votes) - granted > len(self.members) - self.quorum:
            return False
        return None

    def _become_leader(self) -> None:
        self.role = Role.LEADER
        self.leader = self.me
        self._election_elapsed = self._heartbeat_elapsed = 0
        self._active = {self.me}
        self._progress = {peer: Progress(self.log.last_index + 1) for peer in self.peers}
        # Entries of earlier terms commit only through an entry of this term (§5.4.2).
        self.log.append(LogEntry(self.term, self.log.last_index + 1, NOOP))
        for peer in self.peers:
            self._send_append(peer)
        self._maybe_commit()

    def _tick_leader(self) -> None:
        self._election_elapsed += 1
        if self._election_elapsed >= self.config.election_ticks:
            self._election_elapsed = 0
            if len(self._active) < self.quorum:
                self._become_follower(self.term, None)  # check-quorum: a lost majority
                return
            self._active = {self.me}
        self._heartbeat_elapsed += 1
        if self._heartbeat_elapsed >= self.config.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            self._broadcast_heartbeat()

    # --- votes --------------------------------------------------------------------

    def _in_lease(self) -> bool:
        """Heard from a leader within the minimum election timeout (or is the leader)."""
        if self.role is Role.LEADER:
            return True
        return self.leader is not None and self._election_elapsed < self.config.election_ticks

    def _on_vote_request(self, source: str, request: VoteRequest) -> None:
        if request.term < self.term or (request.term > self.term and self._in_lease()):
            self._send(source, VoteReply(self.term, False, request.pre_vote))
            return
        if request.term > self.term and not request.pre_vote:
            self._become_follower(request.term, None)
        if request.pre_vote:
            may_vote = (request.term > self.term or self.voted_for == source
                        or (self.voted_for is None and self.leader is None))
        else:
            may_vote = self.voted_for == source or (self.voted_for is None and self.leader is None)
        granted = may_vote and self.log.is_up_to_date(request.last_index, request.last_term)
        if granted and not request.pre_vote:
            self.voted_for = source
            self._hard_state_changed = True
            self._reset_election_timer()
        term = request.term if granted and request.pre_vote else self.term
        self._send(source, VoteReply(term, granted, request.pre_vote))

    def _on_vote_reply(self, source: str, reply: VoteReply) -> None:
        if reply.pre_vote:
            if self.role is not Role.PRE_CANDIDATE:
                return
            if reply.granted and reply.term != self.term + 1:
                return  # a grant for an earlier round of ours
        elif self.role is not Role.CANDIDATE:
            return
        self._votes[source] = reply.granted
        outcome = self._tally()
        if outcome is True:
            if self.role is Role.PRE_CANDIDATE:
                self._start_election()
            else:
                self._become_leader()
        elif outcome is False:
            self._become_follower(self.term, None)

    # --- replication: follower side -----------------------------------------------

    def _heard_from_leader(self, source: str) -> None:
        assert self.role is not Role.LEADER, "two leaders in one term"
        if self.role is not Role.FOLLOWER or self.leader != source:
            self._become_follower(self.term, source)
        self._election_elapsed = 0

    def _on_append(self, source: str, message: AppendEntries) -> None:
        self._heard_from_leader(source)
        match = self.log.maybe_append(message.prev_index, message.prev_term, message.entries,
                                      self.commit_index)
        if match is None:
            self._send(source, AppendReply(self.term, False, rejected_index=message.prev_index,
                                           last_index=self.log.last_index,
                                           read_seq=message.read_seq))
            return
        self.commit_index = max(self.commit_index, min(message.commit_index, match))
        self._send(source, AppendReply(self.term, True, match_index=match,
                                       read_seq=message.read_seq))

    def _on_install_snapshot(self, source: str, message: InstallSnapshot) -> None:
        self._heard_from_leader(source)
        if message.index <= self.commit_index:
            self._incoming = None
            self._send(source, SnapshotReply(self.term, message.index, done=True,
                                             match_index=self.commit_index,
                                             read_seq=message.read_seq))
            return
        incoming = self._incoming
        if (incoming is None or message.offset == 0
                or (incoming.term, incoming.index) != (self.term, message.index)):
            incoming = self._incoming = _IncomingSnapshot(self.term, message.index,
                                                          message.snapshot_term, bytearray())
        size = len(incoming.data) + len(message.data)
        if message.offset == len(incoming.data) and size <= self.config.max_snapshot_bytes:
            incoming.data += message.data
            if message.done:
                self._incoming = None
                self.log.install(Snapshot(message.index, message.snapshot_term,
                                          bytes(incoming.data)))
                self.commit_index = message.index
                self._send(source, SnapshotReply(self.term, message.index, done=True,
                                                 match_index=message.index,
                                                 read_seq=message.read_seq))
                return
        self._send(source, SnapshotReply(self.term, message.index,
                                         next_offset=len(incoming.data),
                                         read_seq=message.read_seq))

    # --- replication: leader side -------------------------------------------------

    def _send_append(self, peer: str, *, heartbeat: bool = False) -> None:
        """Send what ``peer`` lacks, if flow control allows; ``heartbeat``: send even an
        empty append, and resend an unanswered one."""
        progress = self._progress[peer]
        overdue = self._ticks - progress.sent_tick >= self.config.heartbeat_ticks
        if progress.snapshot_index is not None:
            if progress.snapshot_index != self.log.snapshot.index:
                self._send_snapshot(peer, restart=True)  # a newer snapshot replaced it
            elif heartbeat and overdue:
                self._send_snapshot(peer, restart=False)
            return
        if progress.in_flight_until is not None and not (heartbeat and overdue):
            return
        prev_index = progress.next_index - 1
        prev_term = self.log.term_at(prev_index)
        if prev_term is None or progress.next_index < self.log.first_index:
            self._send_snapshot(peer, restart=True)
            return
        entries = self.log.entries(progress.next_index, self.log.last_index,
                                   count_max=self.config.max_entries_per_message,
                                   bytes_max=self.config.max_message_bytes
                                   - MESSAGE_OVERHEAD_BYTES)
        if not entries and not heartbeat:
            return
        self._send(peer, AppendEntries(self.term, prev_index, prev_term, tuple(entries),
                                       self.commit_index, self._reads.current_seq))
        progress.sent_tick = self._ticks
        if entries:
            progress.in_flight_until = entries[-1].index

    def _send_snapshot(self, peer: str, *, restart: bool) -> None:
        progress = self._progress[peer]
        snapshot = self.log.snapshot
        if restart:
            progress.snapshot_index = snapshot.index
            progress.snapshot_offset = 0
            progress.in_flight_until = None
        offset = progress.snapshot_offset
        chunk = snapshot.data[offset:offset + self.config.snapshot_chunk_bytes]
        done = offset + len(chunk) >= len(snapshot.data)
        self._send(peer, InstallSnapshot(self.term, snapshot.index, snapshot.term, offset,
                                         chunk, done, self._reads.current_seq))
        progress.sent_tick = self._ticks

    def _broadcast_heartbeat(self) -> None:
        for peer in self.peers:
            self._send_append(peer, heartbeat=True)

    def _send_read_round(self) -> None:
        """An empty append to every follower now, carrying the newest read round; it
        leaves flow control alone (it claims no more than the follower's known match)."""
        for peer, progress in self._progress.items():
            prev_term = self.log.term_at(progress.match_index)
            if progress.snapshot_index is not None or prev_term is None:
                continue  # the next chunk or heartbeat carries the round
            self._send(peer, AppendEntries(self.term, progress.match_index, prev_term, (),
                                           self.commit_index, self._reads.current_seq))

    def _heard_from_follower(self, source: str, read_seq: int) -> Progress | None:
        if self.role is not Role.LEADER:
            return None
        self._active.add(source)
        progress = self._progress[source]
        progress.read_seq = max(progress.read_seq, read_seq)
        self._take_ready_reads()
        return progress

    def _on_append_reply(self, source: str, reply: AppendReply) -> None:
        progress = self._heard_from_follower(source, reply.read_seq)
        if progress is None or progress.snapshot_index is not None:
            return
        if reply.success:
            if progress.matched(reply.match_index):
                self._maybe_commit()
            self._send_append(source)
        elif progress.rejected(reply.rejected_index, reply.last_index):
            self._send_append(source)

    def _on_snapshot_reply(self, source: str, reply: SnapshotReply) -> None:
        progress = self._heard_from_follower(source, reply.read_seq)
        if progress is None or progress.snapshot_index != reply.index:
            return
        if reply.done:
            progress.snapshot_index = None
            progress.matched(reply.match_index)
            self._maybe_commit()
            self._send_append(source)
        elif reply.next_offset != progress.snapshot_offset:
            # The follower took a chunk or lost its place; an answer that expects the
            # chunk already sent waits for the retry timer instead, so no duplicates.
            progress.snapshot_offset = min(reply.next_offset, len(self.log.snapshot.data))
            self._send_snapshot(source, restart=False)

    def _maybe_commit(self) -> None:
        matches = sorted([self.log.last_index]
                         + [progress.match_index for progress in self._progress.values()],
                         reverse=True)
        candidate = matches[self.quorum - 1]
        if candidate <= self.commit_index or self.log.term_at(candidate) != self.term:
            return
        first_in_term = not self._committed_in_term()
        self.commit_index = candidate
        if first_in_term and self._reads.start_deferred(self.commit_index):
            self._send_read_round()
            self._take_ready_reads()
        for peer in self.peers:  # tell followers now rather than at the next heartbeat
            self._send_append(peer, heartbeat=True)

    def _committed_in_term(self) -> bool:
        return self.log.term_at(self.commit_index) == self.term

    def _take_ready_reads(self) -> None:
        own = self._reads.current_seq
        acknowledged = [own] + [progress.read_seq for progress in self._progress.values()]
        self._reads_done.extend(self._reads.take_ready(acknowledged, self.quorum))

    def _send(self, target: str, message: Message) -> None:
        self._messages.append((target, message))
