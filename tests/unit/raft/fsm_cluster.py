"""A simulated cluster of Raft FSMs for randomized tests: one seeded ``random.Random``
drives message delivery (in any order), loss, duplication, partitions, ticks,
proposals, reads, crashes and restarts from what each member persisted. A
``SafetyChecker`` verifies Raft's properties after every event.

The driver loop here is the same contract ``RaftServer`` follows: after each input,
persist the ``Ready`` to the member's store, then release its messages; apply committed
entries in order; snapshot after ``snapshot_threshold_entries`` applied entries.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from node.raft.config import RaftConfig
from node.raft.errors import NotLeader, TooManyPending
from node.raft.fsm import RaftFsm, Ready, Role
from node.raft.log_store import LogStore, MemoryLogStore
from node.raft.messages import LogEntry, Message

SIM_CONFIG = RaftConfig(election_ticks=6, heartbeat_ticks=2, max_entries_per_message=4,
                        snapshot_threshold_entries=8, snapshot_trailing_entries=2,
                        snapshot_chunk_bytes=64, max_uncommitted_entries=32)


def chain(previous: bytes, entry: LogEntry) -> bytes:
    """The state of the simulated state machine: a hash of every entry applied."""
    return hashlib.blake2b(previous + bytes([entry.kind]) + entry.command,
                           digest_size=8).digest()


@dataclass
class Member:
    name: str
    store: LogStore
    fsm: RaftFsm | None = None
    incarnation: int = 0
    applied: int = 0
    state: bytes = b""
    seen_commit: int = 0


@dataclass
class SafetyChecker:
    """Raft's safety properties, over the whole history of one run."""

    leaders: dict[int, str] = field(default_factory=dict)           # term -> leader
    entries: dict[tuple[int, int], LogEntry] = field(default_factory=dict)  # (index, term)
    committed: dict[int, LogEntry] = field(default_factory=dict)    # index -> entry
    commit_terms: dict[int, int] = field(default_factory=dict)      # index -> first term seen
    applied_states: dict[int, bytes] = field(default_factory=dict)  # index -> state
    max_commit: int = 0

    def check_leader(self, member: Member) -> None:
        fsm = member.fsm
        assert fsm is not None
        if fsm.role is not Role.LEADER:
            return
        other = self.leaders.setdefault(fsm.term, member.name)
        assert other == member.name, f"two leaders in term {fsm.term}: {other}, {member.name}"
        # Leader completeness: an entry committed in an earlier term is in its log.
        for index, entry in self.committed.items():
            if index > fsm.log.snapshot.index and self.commit_terms[index] < fsm.term:
                assert fsm.log.term_at(index) == entry.term, (
                    f"leader {member.name} (term {fsm.term}) lacks committed entry {index}")

    def check_entries(self, member: Member, entries: list[LogEntry]) -> None:
        for entry in entries:
            known = self.entries.setdefault((entry.index, entry.term), entry)
            assert known == entry, f"two different entries at {entry.index} in term {entry.term}"

    def check_commit(self, member: Member) -> None:
        fsm = member.fsm
        assert fsm is not None
        assert fsm.commit_index >= member.seen_commit, "commit index went back"
        for index in range(member.seen_commit + 1, fsm.commit_index + 1):
            if fsm.log.term_at(index) is None or index < fsm.log.first_index:
                continue  # came with a snapshot
            entry = fsm.log.entry(index)
            known = self.committed.setdefault(index, entry)
            assert known == entry, f"{member.name} committed a different entry at {index}"
            self.commit_terms.setdefault(index, fsm.term)
        member.seen_commit = fsm.commit_index
        self.max_commit = max(self.max_commit, fsm.commit_index)

    def check_applied(self, member: Member) -> None:
        known = self.applied_states.setdefault(member.applied, member.state)
        assert known == member.state, f"{member.name} applied differently up to {member.applied}"


def check_log_matching(a: RaftFsm, b: RaftFsm) -> None:
    """If two logs hold an entry of the same index and term, they agree up to it."""
    low = max(a.log.first_index, b.log.first_index)
    high = min(a.log.last_index, b.log.last_index)
    agreed = None
    for index in range(high, low - 1, -1):
        if a.log.term_at(index) == b.log.term_at(index):
            agreed = index
            break
    if agreed is None:
        return
    for index in range(low, agreed + 1):
        assert a.log.entry(index) == b.log.entry(index), (
            f"{a.me} and {b.me} share entry {agreed} but differ at {index}")


class FsmCluster:
    def __init__(self, seed: int, size: int, *, config: RaftConfig = SIM_CONFIG,
                 store_factory: Callable[[str], LogStore] | None = None,
                 reopen: Callable[[Member, random.Random], LogStore] | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.config = config
        self.names = [f"n{number}" for number in range(1, size + 1)]
        self._store_factory = store_factory or (lambda name: MemoryLogStore())
        self._reopen = reopen or (lambda member, rng: member.store)
        self._read_ids = 0
        self.members = {name: Member(name, self._store_factory(name)) for name in self.names}
        self.in_flight: list[tuple[str, str, Message]] = []
        self.cut: set[frozenset[str]] = set()
        self.checker = SafetyChecker()
        self.commands = 0
        self.snapshots_installed = 0
        self.reads: dict[int, tuple[str, int]] = {}   # read_id -> (member, max commit then)
        self.reads_done = 0
        for member in self.members.values():
            self.start(member)

    # --- life of members ------------------------------------------------------------

    def start(self, member: Member) -> None:
        member.incarnation += 1
        state = member.store.load()
        rng = random.Random(f"{self.seed}/{member.name}/{member.incarnation}")
        member.fsm = RaftFsm(member.name, self.names, state, self.config, rng)
        snapshot = state.snapshot
        if snapshot is not None and snapshot.index:
            member.applied, member.state = msgpack.unpackb(snapshot.data)
        else:
            member.applied, member.state = 0, b""
        member.seen_commit = member.fsm.commit_index
        self.checker.check_applied(member)

    def crash(self, member: Member) -> None:
        member.fsm = None
        member.store.close()
        member.store = self._reopen(member, self.rng)

    def up(self) -> list[Member]:
        return [member for member in self.members.values() if member.fsm is not None]

    def leader(self) -> Member | None:
        leaders = [m for m in self.up() if m.fsm is not None and m.fsm.role is Role.LEADER]
        return max(leaders, key=lambda m: m.fsm.term) if leaders else None  # type: ignore[union-attr]

    # --- the driver contract --------------------------------------------------------

    def after_input(self, member: Member) -> None:
        fsm = member.fsm
        assert fsm is not None
        ready = fsm.take_ready()
        self._persist(member, ready)
        for target, message in ready.messages:
            self.in_flight.append((member.name, target, message))
        for read_id, index in ready.reads_done:
            _, commit_before = self.reads.pop(read_id)
            assert index >= commit_before, f"read {read_id} at {index} misses commit {commit_before}"
            self.reads_done += 1
        for read_id in ready.reads_failed:
            self.reads.pop(read_id)
        self.checker.check_commit(member)
        self._apply(member)
        self.checker.check_leader(member)

    def _persist(self, member: Member, ready: Ready) -> None:
        member.store.persist(ready)
        if ready.snapshot is not None or ready.entries_from is not None:
            self.checker.check_entries(member, ready.entries)

    def _apply(self, member: Member) -> None:
        fsm = member.fsm
        assert fsm is not None
        snapshot = fsm.log.snapshot
        if snapshot.index > member.applied:
            self.snapshots_installed += 1
            member.applied, member.state = msgpack.unpackb(snapshot.data)
            assert member.applied == snapshot.index
            self.checker.check_applied(member)
        while member.applied < fsm.commit_index:
            entry = fsm.log.entry(member.applied + 1)
            member.state = chain(member.state, entry)
            member.applied = entry.index
            self.checker.check_applied(member)
        if member.applied - snapshot.index >= self.config.snapshot_threshold_entries:
            data = msgpack.packb([member.applied, member.state])
            if fsm.compact(member.applied, data):
                self.after_input(member)

    # --- events ---------------------------------------------------------------------

    def deliver(self, position: int, *, keep: bool = False) -> None:
        source, target, message = self.in_flight[position] if keep else self.in_flight.pop(position)
        member = self.members[target]
        if member.fsm is None or frozenset((source, target)) in self.cut:
            return
        member.fsm.step(source, message)
        self.after_input(member)

    def tick(self, member: Member) -> None:
        assert member.fsm is not None
        member.fsm.tick()
        self.after_input(member)

    def propose(self, member: Member) -> bool:
        assert member.fsm is not None
        self.commands += 1
        try:
            member.fsm.propose(f"{self.seed}:{self.commands}".encode())
        except (NotLeader, TooManyPending):
            return False
        self.after_input(member)
        return True

    def start_read(self, member: Member) -> None:
        assert member.fsm is not None
        self._read_ids += 1
        read_id = self._read_ids
        try:
            member.fsm.start_read(read_id)
        except (NotLeader, TooManyPending):
            return
        self.reads[read_id] = (member.name, self.checker.max_commit)
        self.after_input(member)

    def check_all_logs(self) -> None:
        up = [m.fsm for m in self.up() if m.fsm is not None]
        for position, a in enumerate(up):
            for b in up[position + 1:]:
                check_log_matching(a, b)

    def random_event(self) -> None:
        rng = self.rng
        roll = rng.random()
        up = self.up()
        if roll < 0.50 and self.in_flight:
            self.deliver(rng.randrange(len(self.in_flight)))
        elif roll < 0.53 and self.in_flight:
            self.in_flight.pop(rng.randrange(len(self.in_flight)))           # loss
        elif roll < 0.54 and self.in_flight:
            self.deliver(rng.randrange(len(self.in_flight)), keep=True)    # duplicate
        elif roll < 0.84 and up:
            self.tick(rng.choice(up))
        elif roll < 0.90 and up:
            leader = self.leader()
            self.propose(leader if leader is not None and rng.random() < 0.9 else rng.choice(up))
        elif roll < 0.91 and up:
            leader = self.leader()
            self.start_read(leader if leader is not None else rng.choice(up))
        elif roll < 0.93:
            if rng.random() < 0.4:
                self.cut.clear()
            else:
                a, b = rng.sample(self.names, 2)
                self.cut.add(frozenset((a, b)))
        elif roll < 0.935:
            leader = self.leader()
            if leader is not None:   # isolate the leader
                self.cut.update(frozenset((leader.name, other)) for other in self.names
                                if other != leader.name)
        elif roll < 0.94 and up:
            self.crash(rng.choice(up))
        elif roll < 0.96:
            down = [m for m in self.members.values() if m.fsm is None]
            if down:
                self.start(rng.choice(down))
        self.check_all_logs()

    def run_round(self, *, tick: bool = True) -> None:
        """Deliver every message in flight (in order; cut links lose theirs), then
        tick every member that is up."""
        messages, self.in_flight = self.in_flight, []
        for source, destination, message in messages:
            member = self.members[destination]
            if member.fsm is None or frozenset((source, destination)) in self.cut:
                continue
            member.fsm.step(source, message)
            self.after_input(member)
        if tick:
            for member in self.up():
                self.tick(member)
        self.check_all_logs()

    def run_until(self, condition: Callable[[], bool], rounds_max: int = 200) -> int:
        for round_number in range(rounds_max):
            if condition():
                return round_number
            self.run_round()
        raise AssertionError(f"condition not reached in {rounds_max} rounds")

    def heal_and_wait_for_commit(self, rounds_max: int = 400) -> int:
        """Heal every fault, then run in rounds (deliver everything, tick everyone)
        until a new command is applied on every member; the rounds it took."""
        self.cut.clear()
        for member in self.members.values():
            if member.fsm is None:
                self.start(member)
        proposed_in: int | None = None     # the term of the leader that took our command
        target = 0
        for round_number in range(rounds_max):
            self.run_round()
            leader = self.leader()
            if leader is not None and leader.fsm is not None and proposed_in != leader.fsm.term:
                # A new leader may have dropped the command: propose (again) to this one.
                if self.propose(leader):
                    proposed_in, target = leader.fsm.term, leader.fsm.log.last_index
            if proposed_in is not None and all(m.applied >= target for m in self.members.values()):
                return round_number
        raise AssertionError(f"seed {self.seed}: no command committed on all members after "
                             f"healing ({rounds_max} rounds)")


def run(seed: int, size: int, events: int, **options: Any) -> FsmCluster:
    cluster = FsmCluster(seed, size, **options)
    for _ in range(events):
        cluster.random_event()
    cluster.heal_and_wait_for_commit()
    return cluster
