"""A Raft member on a shard: runs the FSM over the messaging service and a store.

    server = RaftServer(me="n1", members=["n1", "n2", "n3"], messaging=messaging,
                        store=DiskLogStore(path, disk), state_machine=machine,
                        clock=clock, rng=random.Random(seed))
    await server.start()
    result = await server.add_entry(command)   # committed and applied here
    await server.read_barrier()                # this member's state is up to date
    await server.aclose()

After every input (a message, a tick, a proposal) the driver persists what the FSM
handed out, fsynced, and only then queues its messages; so no vote and no append
acknowledgement ever leaves before what it promises is on disk. Ticks come from the
injected clock. One applier task applies committed entries in log order.

Proposals on a follower are forwarded to the leader (RAFT_ADD_ENTRY), as ScyllaDB's
raft does, and a call arriving while there is no leader waits for one: either way the
caller gets the outcome once the entry is applied on its own member. A read barrier
is ReadIndex: the leader confirms its leadership with a majority round, a follower asks
the leader for that index (RAFT_READ_BARRIER); then the caller waits until its own
member has applied up to it.

Invariant: every message sent reflects persisted state; every task this server starts
ends in ``aclose``; every waiting call ends by its timeout at the latest.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from node.clock import Clock
from node.errors import Invalid, RequestError
from node.errors import from_wire as request_error_from_wire
from node.raft.applier import Applier
from node.raft.config import RaftConfig
from node.raft.errors import (CommandTooLarge, EntryDropped, NoQuorum, NotLeader, RaftClosed,
                              RaftError, RaftFailed)
from node.raft.errors import from_wire as raft_error_from_wire
from node.raft.errors import to_wire as raft_error_to_wire
from node.raft.fsm import RaftFsm, Role
from node.raft.log_store import LogStore
from node.raft.messages import (DROPPED, FAILED, MEMBER_VERBS, NO_QUORUM, NOT_LEADER, OK,
                                AddEntryReply, AddEntryRequest, ReadBarrierReply,
                                ReadBarrierRequest, decode, decode_add_entry_reply,
                                decode_read_barrier_reply, encode, encode_answer, verb_of)
from node.raft.sender import PeerSender
from node.raft.state_machine import StateMachine
from node.raft.waiters import Applied, ApplyWaiters
from node.rpc.eager import continue_in_task
from node.rpc.errors import ConnectionLost, PeerUnreachable, RpcError, TransportClosed
from node.rpc.messaging import MessagingService
from node.rpc.timers import Timers
from node.rpc.transport import ShardId
from node.rpc.verbs import Verb

_RETRY = object()   # the leader moved: ask again


@dataclass(frozen=True)
class RaftStatistics:
    role: str
    term: int
    leader: str | None
    commit_index: int
    applied_index: int
    last_index: int
    snapshot_index: int
    messages_sent: int
    messages_dropped: int      # by full send queues
    send_failures: int
    snapshots_taken: int
    snapshots_restored: int
    waiting_calls: int


class RaftServer:
    def __init__(self, *, me: str, members: Sequence[str], messaging: MessagingService,
                 store: LogStore, state_machine: StateMachine, clock: Clock,
                 rng: random.Random, config: RaftConfig | None = None, group: int = 0,
                 shard: int = 0, log: Any = None) -> None:
        assert me in members, "a member of its own group"
        assert messaging.me == ShardId(me, shard), "the member lives on its messaging shard"
        self.me = me
        self.members = tuple(sorted(members))
        self.messaging = messaging
        self.store = store
        self.clock = clock
        self.config = config or RaftConfig()
        self.group = group
        self.shard = shard
        self.log = log or structlog.get_logger().bind(node=me, shard=shard, raft_group=group)
        self._rng = rng
        self._timers = Timers(clock)
        self._waiters = ApplyWaiters(self.config.max_waiters)
        self._applier = Applier(state_machine, self._waiters, self.config, self.log)
        self._senders = {peer: PeerSender(messaging, ShardId(peer, shard), self.config, self.log)
                         for peer in self.members if peer != me}
        self._reads: dict[int, asyncio.Future[int | None]] = {}
        self._read_ids = itertools.count(1)
        self._fsm: RaftFsm | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self._last_state: tuple[Role, int, str | None] | None = None
        self._failure: RaftError | None = None
        self._closed = False

    # --- life -----------------------------------------------------------------------

    async def start(self) -> None:
        """Load the persisted state (``LogCorrupted`` if damaged), restore the state
        machine from the snapshot, then take part in the group."""
        assert self._fsm is None, "started once"
        state = self.store.load()
        self._fsm = RaftFsm(self.me, self.members, state, self.config, self._rng)
        if state.snapshot is not None and state.snapshot.index > 0:
            await self._applier.restore(state.snapshot)
        self._last_state = (self._fsm.role, self._fsm.term, self._fsm.leader)
        self.log.info("raft.started", term=state.term, vote=state.vote,
                      last_index=self._fsm.log.last_index,
                      snapshot_index=self._fsm.log.snapshot.index)
        for verb in MEMBER_VERBS:
            self.messaging.register(verb, self._member_handler(verb))
        self.messaging.register(Verb.RAFT_ADD_ENTRY, self._on_add_entry)
        self.messaging.register(Verb.RAFT_READ_BARRIER, self._on_read_barrier)
        for sender in self._senders.values():
            sender.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._tick_loop()), loop.create_task(self._apply_loop())]

    async def aclose(self) -> None:
        """Stop taking part; calls still waiting fail with ``RaftClosed``."""
        if self._closed:
            return
        self._closed = True
        for verb in (*MEMBER_VERBS, Verb.RAFT_ADD_ENTRY, Verb.RAFT_READ_BARRIER):
            self.messaging.unregister(verb)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sender in self._senders.values():
            await sender.aclose()
        closed = RaftClosed("the raft member is closed")
        self._waiters.fail_all(closed)
        for future in self._reads.values():
            if not future.done():
                future.set_exception(closed)
        self._notify_change()
        await self._timers.aclose()
        self.store.close()

    # --- what callers see -----------------------------------------------------------

    @property
    def fsm(self) -> RaftFsm:
        assert self._fsm is not None, "the server is started"
        return self._fsm

    @property
    def role(self) -> Role:
        return self.fsm.role

    @property
    def term(self) -> int:
        return self.fsm.term

    @property
    def leader(self) -> str | None:
        return self.fsm.leader

    @property
    def applied_index(self) -> int:
        return self._applier.applied_index

    def statistics(self) -> RaftStatistics:
        fsm = self.fsm
        senders = self._senders.values()
        return RaftStatistics(fsm.role.value, fsm.term, fsm.leader, fsm.commit_index,
                              self._applier.applied_index, fsm.log.last_index,
                              fsm.log.snapshot.index, sum(s.sent for s in senders),
                              sum(s.dropped for s in senders), sum(s.failed for s in senders),
                              self._applier.snapshots_taken, self._applier.snapshots_restored,
                              len(self._waiters))

    async def wait_for_leader(self, *, timeout_s: float | None = None) -> str:
        """The leader, once there is one; ``NoQuorum`` after the timeout."""
        deadline = self._deadline(timeout_s)
        while True:
            self._check_running()
            leader = self.fsm.leader
            if leader is not None:
                return leader
            if not await self._wait_change(deadline - self.clock.monotonic()):
                raise NoQuorum("no leader was elected in time", uncertain=False)

    async def add_entry(self, command: bytes, *, timeout_s: float | None = None) -> Any:
        """Replicate ``command`` and return the state machine's result once it is
        applied on this member (a ``RequestError`` outcome is raised). Raises
        ``NoQuorum`` on timeout, ``EntryDropped``, ``CommandTooLarge``,
        ``TooManyPending``, ``OutcomeUnknown``, ``RaftClosed``, ``RaftFailed``."""
        if len(command) > self.config.max_command_bytes:
            raise CommandTooLarge(f"command of {len(command)} bytes is over the limit of "
                                  f"{self.config.max_command_bytes}", size_bytes=len(command))
        deadline = self._deadline(timeout_s)
        while True:
            self._check_running()
            self._waiters.check_room()
            fsm = self.fsm
            if fsm.role is Role.LEADER:
                return (await self._propose_and_wait(command, deadline)).unwrap()
            if fsm.leader is not None:
                outcome = await self._forward(fsm.leader, command, deadline)
                if outcome is not _RETRY:
                    return outcome
            if not await self._wait_change(min(deadline - self.clock.monotonic(),
                                               self.config.tick_s)):
                if self.clock.monotonic() >= deadline:
                    raise NoQuorum("no leader accepted the command in time", uncertain=False)

    async def read_barrier(self, *, timeout_s: float | None = None) -> int:
        """Wait until this member has applied every entry committed before the call
        (linearizable reads of its state may follow); returns that index. Raises
        ``NoQuorum`` on timeout, ``RaftClosed``, ``RaftFailed``."""
        deadline = self._deadline(timeout_s)
        while True:
            self._check_running()
            fsm = self.fsm
            index: int | None = None
            if fsm.role is Role.LEADER:
                index = await self._leader_read_index(deadline)
            elif fsm.leader is not None:
                index = await self._forward_read(fsm.leader, deadline)
            if index is not None:
                await self._wait_applied(index, deadline)
                return index
            if not await self._wait_change(min(deadline - self.clock.monotonic(),
                                               self.config.tick_s)):
                if self.clock.monotonic() >= deadline:
                    raise NoQuorum("no leader confirmed a read in time", uncertain=False)

    # --- leader side ----------------------------------------------------------------

    async def _propose_and_wait(self, command: bytes, deadline: float) -> Applied:
        self._waiters.check_room()
        index, term = self.fsm.propose(command)
        self._process()
        waiter = self._waiters.wait_for(index, term)
        try:
            outcome = await self._within(deadline, waiter)
        except TimeoutError:
            raise NoQuorum(f"entry {index} was not committed in time: it may still be",
                           uncertain=True, index=index) from None
        finally:
            self._waiters.discard(index, waiter)
        assert isinstance(outcome, Applied)
        return outcome

    async def _leader_read_index(self, deadline: float) -> int | None:
        """The read index once a majority confirmed this leader; None if it lost the
        leadership meanwhile."""
        read_id = next(self._read_ids)
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._reads[read_id] = future
        try:
            self.fsm.start_read(read_id)
        except NotLeader:
            del self._reads[read_id]
            return None
        try:
            self._process()
            return await self._within(deadline, future)
        except TimeoutError:
            raise NoQuorum("a majority did not confirm the leader in time",
                           uncertain=False) from None
        finally:
            del self._reads[read_id]

    async def _on_add_entry(self, source: ShardId, payload: Any) -> dict[str, Any]:
        await continue_in_task()  # it waits under a deadline
        request = self._decode_request(Verb.RAFT_ADD_ENTRY, source, payload)
        assert isinstance(request, AddEntryRequest)
        if self._failure is not None or self.fsm.role is not Role.LEADER:
            return encode_answer(AddEntryReply(NOT_LEADER, leader=self._leader_hint()))
        timeout_s = min(float(request.timeout_s), self.config.max_timeout_s)
        try:
            outcome = await self._propose_and_wait(request.command,
                                                   self.clock.monotonic() + timeout_s)
        except EntryDropped:
            return encode_answer(AddEntryReply(DROPPED, uncertain=False))
        except NoQuorum as error:
            return encode_answer(AddEntryReply(NO_QUORUM, uncertain=error.uncertain))
        except RaftError as error:
            return encode_answer(AddEntryReply(FAILED, error=raft_error_to_wire(error)))
        error = outcome.error.to_wire() if outcome.error is not None else None
        return encode_answer(AddEntryReply(OK, self.me, outcome.index, outcome.term,
                                           outcome.result, error, uncertain=False))

    async def _on_read_barrier(self, source: ShardId, payload: Any) -> dict[str, Any]:
        await continue_in_task()  # it waits under a deadline
        request = self._decode_request(Verb.RAFT_READ_BARRIER, source, payload)
        assert isinstance(request, ReadBarrierRequest)
        if self._failure is not None or self.fsm.role is not Role.LEADER:
            return encode_answer(ReadBarrierReply(NOT_LEADER, leader=self._leader_hint()))
        timeout_s = min(float(request.timeout_s), self.config.max_timeout_s)
        try:
            index = await self._leader_read_index(self.clock.monotonic() + timeout_s)
        except NoQuorum:
            return encode_answer(ReadBarrierReply(NO_QUORUM))
        if index is None:
            return encode_answer(ReadBarrierReply(NOT_LEADER, leader=self._leader_hint()))
        return encode_answer(ReadBarrierReply(OK, index, self.me))

    # --- follower side --------------------------------------------------------------

    async def _forward(self, leader: str, command: bytes, deadline: float) -> Any:
        """Have ``leader`` replicate the command; its result once applied here, or
        ``_RETRY`` if the leader moved before taking it."""
        remaining = deadline - self.clock.monotonic()
        request = AddEntryRequest(command, timeout_s=remaining * 0.9)
        try:
            payload = await self.messaging.send(Verb.RAFT_ADD_ENTRY, ShardId(leader, self.shard),
                                                encode(request, self.group), remaining)
            reply = decode_add_entry_reply(payload)
        except TransportClosed as error:
            raise RaftClosed("messaging is closed") from error
        except PeerUnreachable as error:
            if isinstance(error, ConnectionLost):
                raise NoQuorum(f"the leader {leader} went away with the command",
                               uncertain=True) from error
            return _RETRY  # never sent
        except (RpcError, RequestError, ValueError) as error:
            raise NoQuorum(f"the leader {leader} did not answer in time: the command may "
                           f"still be applied", uncertain=True) from error
        if reply.outcome == NOT_LEADER:
            return _RETRY
        if reply.outcome == DROPPED:
            raise EntryDropped("a new leader replaced the entry: it is never applied")
        if reply.outcome == NO_QUORUM:
            raise NoQuorum("the leader could not commit the command in time",
                           uncertain=reply.uncertain)
        if reply.outcome != OK:
            raise raft_error_from_wire(reply.error)
        await self._wait_applied(reply.index, deadline, committed=True)
        if reply.error is not None:
            raise request_error_from_wire(reply.error)
        return reply.result

    async def _forward_read(self, leader: str, deadline: float) -> int | None:
        remaining = deadline - self.clock.monotonic()
        request = ReadBarrierRequest(timeout_s=remaining * 0.9)
        try:
            payload = await self.messaging.send(Verb.RAFT_READ_BARRIER, ShardId(leader, self.shard),
                                                encode(request, self.group), remaining)
            reply = decode_read_barrier_reply(payload)
        except TransportClosed as error:
            raise RaftClosed("messaging is closed") from error
        except (RpcError, RequestError, ValueError):
            return None   # a read is safe to ask again
        return reply.index if reply.outcome == OK else None

    async def _wait_applied(self, index: int, deadline: float, *, committed: bool = False) -> None:
        if self._applier.applied_index >= index:
            return
        waiter = self._waiters.wait_for(index)
        try:
            await self._within(deadline, waiter)
        except TimeoutError:
            raise NoQuorum(f"index {index} was not applied on this member in time",
                           uncertain=committed, index=index) from None
        finally:
            self._waiters.discard(index, waiter)

    # --- the driver -----------------------------------------------------------------

    def _member_handler(self, verb: int) -> Any:
        async def handle(source: ShardId, payload: Any) -> None:
            message = self._decode_request(verb, source, payload)
            if self._failure is None and not self._closed:
                self.fsm.step(source.node, message)
                self._process()
        return handle

    def _decode_request(self, verb: int, source: ShardId, payload: Any) -> Any:
        try:
            group, message = decode(verb, payload)
        except ValueError as error:
            raise Invalid(f"malformed raft message: {error}") from error
        if group != self.group or source.node not in self.members or source.shard != self.shard:
            raise Invalid(f"{source} is not a member of raft group {group} here")
        return message

    async def _tick_loop(self) -> None:
        while True:
            await self.clock.sleep(self.config.tick_s)
            if self._failure is None:
                self.fsm.tick()
                self._process()

    async def _apply_loop(self) -> None:
        try:
            await self._applier.run(self._fsm_or_fail, self._compact)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the state machine failed: stop the member
            self._fail("state_machine", error)

    def _fsm_or_fail(self) -> RaftFsm:
        if self._failure is not None:
            raise self._failure
        return self.fsm

    def _compact(self, index: int, data: bytes) -> bool:
        if not self.fsm.compact(index, data):
            return False
        self._process()
        return True

    def _process(self) -> None:
        """Persist what the FSM handed out, then send its messages and wake waiters."""
        if self._failure is not None:
            return
        fsm = self.fsm
        ready = fsm.take_ready()
        if ready.must_persist:
            try:
                self.store.persist(ready)
            except OSError as error:
                self._fail("storage", error)
                return
        for target, message in ready.messages:
            self._senders[target].put(verb_of(message), encode(message, self.group))
        for read_id, index in ready.reads_done:
            self._resolve_read(read_id, index)
        for read_id in ready.reads_failed:
            self._resolve_read(read_id, None)
        if (fsm.commit_index > self._applier.applied_index
                or fsm.log.snapshot.index > self._applier.applied_index):
            self._applier.wake()
        state = (fsm.role, fsm.term, fsm.leader)
        if state != self._last_state:
            self._log_transition(state)
            self._last_state = state
            self._notify_change()

    def _resolve_read(self, read_id: int, index: int | None) -> None:
        future = self._reads.get(read_id)
        if future is not None and not future.done():
            future.set_result(index)

    def _log_transition(self, state: tuple[Role, int, str | None]) -> None:
        role, term, leader = state
        if role is Role.LEADER:
            self.log.info("raft.became_leader", term=term)
        elif role is Role.CANDIDATE:
            self.log.info("raft.election_started", term=term)
        elif role is Role.FOLLOWER:
            self.log.info("raft.following", term=term, leader=leader)

    def _fail(self, cause: str, error: BaseException) -> None:
        if self._failure is not None:
            return
        self.log.error("raft.member_failed", cause=cause, error=f"{type(error).__name__}: {error}")
        self._failure = RaftFailed(f"the raft member stopped after a {cause} failure: {error}",
                                   cause=cause)
        self._waiters.fail_all(self._failure)
        for future in self._reads.values():
            if not future.done():
                future.set_exception(self._failure)
        self._notify_change()

    def _notify_change(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _leader_hint(self) -> str | None:
        return None if self._failure is not None else self.fsm.leader

    def _check_running(self) -> None:
        if self._closed:
            raise RaftClosed("the raft member is closed")
        if self._failure is not None:
            raise self._failure
        assert self._fsm is not None, "the server is started"

    def _deadline(self, timeout_s: float | None) -> float:
        return self.clock.monotonic() + (timeout_s if timeout_s is not None
                                         else self.config.default_timeout_s)

    async def _wait_change(self, seconds: float) -> bool:
        """Wait at most ``seconds`` for a change of role, term or leader."""
        if seconds <= 0:
            return False
        changed = self._changed
        try:
            async with self._timers.deadline(seconds):
                await changed.wait()
        except TimeoutError:
            return False
        return True

    async def _within(self, deadline: float, awaitable: Any) -> Any:
        """``await awaitable``, raising ``TimeoutError`` at ``deadline`` (clock time)."""
        remaining = deadline - self.clock.monotonic()
        if remaining <= 0:
            raise TimeoutError
        async with self._timers.deadline(remaining):
            return await awaitable
