"""Group 0 on a node: the Raft member on shard 0, and the client every shard's
coordinator uses to change the schema.

    client = Group0Client(messaging, node="n1", clock=clock, ddl_timeout_s=10.0)
    await client.change(build, description)   # build(store) -> SchemaChange | None

``change`` runs ScyllaDB's guarded loop: read barrier (the member's state is the
committed one, and this node's shards have it), compute the change from the local
store, propose it guarded by the state id seen; if another change won the race, go
round again. The member answers its node's shards over two local verbs
(``GROUP0_BARRIER``, ``GROUP0_PROPOSE``) and turns every way of not reaching a majority
in time into one answer, so the client raises ``NoQuorum`` ("cannot perform schema
change: no quorum").

Invariant: a change is acknowledged only once it is committed and applied on this
node; a DDL that gets no majority within ``timeouts.ddl_ms`` fails with ``NoQuorum``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from node.clock import Clock
from node.errors import Invalid, NoQuorum
from node.raft.errors import RaftError
from node.raft.group0.commands import ApplyResult, SchemaChange
from node.raft.server import RaftServer
from node.rpc.eager import continue_in_task
from node.rpc.errors import RpcError
from node.rpc.messaging import MessagingService
from node.rpc.transport import ShardId
from node.rpc.verbs import Verb
from node.schema.store import SchemaStore

MEMBER_SHARD = 0
WaitLocal = Callable[[int, float], Awaitable[bool]]  # (state id, timeout_s) -> reached
NO_QUORUM = "no_quorum"
MAX_GUARD_ROUNDS = 100
AGREEMENT_TIMEOUT_S = 2.0  # at most this long for live peers to apply a change   # racing changes: each round, another change was committed


class Group0Member:
    """Shard 0's side: runs the Raft server and answers its node's shards."""

    def __init__(self, raft: RaftServer, messaging: MessagingService, state_id: Callable[[], int]) -> None:
        self.raft = raft
        self._state_id = state_id
        messaging.register(Verb.GROUP0_BARRIER, self._on_barrier)
        messaging.register(Verb.GROUP0_PROPOSE, self._on_propose)

    async def _on_barrier(self, source: ShardId, payload: Any) -> Any:
        await continue_in_task()  # it waits under a deadline
        timeout_s = _timeout_of(payload)
        try:
            await self.raft.read_barrier(timeout_s=timeout_s)
        except RaftError as error:
            return [NO_QUORUM, f"{type(error).__name__}: {error}"]
        return ["ok", self._state_id()]

    async def _on_propose(self, source: ShardId, payload: Any) -> Any:
        await continue_in_task()  # it waits under a deadline
        if not (isinstance(payload, (list, tuple)) and len(payload) >= 2
                and isinstance(payload[0], bytes)):
            raise Invalid("malformed group 0 proposal")
        try:
            result = await self.raft.add_entry(payload[0], timeout_s=_timeout_of(payload[1]))
        except RaftError as error:
            return [NO_QUORUM, f"{type(error).__name__}: {error}"]
        return ["ok", result]


class Group0Client:
    """Every shard's way to change the schema through its node's group 0 member."""

    def __init__(self, messaging: MessagingService, store: SchemaStore, clock: Clock,
                 ddl_timeout_s: float, wait_local: WaitLocal,
                 live_peers: Callable[[], list[str]] = list, log: Any = None) -> None:
        self.messaging = messaging
        self.wait_local = wait_local
        self.live_peers = live_peers
        self.store = store
        self.clock = clock
        self.ddl_timeout_s = ddl_timeout_s
        self.member = ShardId(messaging.me.node, MEMBER_SHARD)
        self.log = log or structlog.get_logger()
        self.changes = 0
        self.guard_retries = 0

    async def read_barrier(self, timeout_s: float | None = None) -> int:
        """Wait until this node's schema holds every change committed before the call;
        the state id it reached."""
        deadline = self.clock.monotonic() + (self.ddl_timeout_s if timeout_s is None else timeout_s)
        return await self._barrier(deadline)

    async def change(self, build: Callable[[SchemaStore], SchemaChange | None]) -> bool:
        """Apply what ``build`` computes from the up-to-date schema, exactly once; False
        if ``build`` decided there was nothing to do (IF [NOT] EXISTS). ``build`` raises
        the statement's own errors (AlreadyExists, Invalid); the guard (``prev_state_id``)
        of the change it returns is set here."""
        deadline = self.clock.monotonic() + self.ddl_timeout_s
        for _ in range(MAX_GUARD_ROUNDS):
            state_id = await self._barrier(deadline)
            change = build(self.store)
            if change is None:
                return False
            change = SchemaChange(prev_state_id=state_id, entries=change.entries,
                                  stamp_us=max(change.stamp_us, self.clock.now_us()),
                                  description=change.description, truncation=change.truncation)
            result = await self._propose(change, deadline)
            if result.applied:
                self.changes += 1
                await self._wait_agreement(deadline)
                return True
            self.guard_retries += 1
            self.log.info("group0.guard_lost", change=change.description, seen=state_id,
                          now=result.state_id)
        raise NoQuorum("cannot perform schema change: too many concurrent schema changes")

    async def _wait_agreement(self, deadline: float) -> None:
        """Schema agreement, as drivers wait for it after a DDL: a read barrier on every
        live peer's member, so the change is applied on every node that is up when the
        statement answers. Best effort, bounded: a peer that cannot answer in time
        catches up from the log later."""
        timeout_s = min(AGREEMENT_TIMEOUT_S, deadline - self.clock.monotonic())
        if timeout_s <= 0:
            return
        peers = [ShardId(name, MEMBER_SHARD) for name in self.live_peers() if name != self.member.node]
        answers = await asyncio.gather(*(self.messaging.send(Verb.GROUP0_BARRIER, peer, timeout_s,
                                                             timeout_s=timeout_s + 0.5)
                                         for peer in peers), return_exceptions=True)
        behind = [str(p) for p, a in zip(peers, answers) if not (isinstance(a, list) and a[:1] == ["ok"])]
        if behind:
            self.log.warning("group0.agreement_incomplete", behind=behind)

    async def _barrier(self, deadline: float) -> int:
        """A read barrier on the node's member, then until this shard's own schema holds
        the state it reached: a change is computed from this shard's store."""
        state_id = int(await self._ask(Verb.GROUP0_BARRIER, deadline, lambda remaining: remaining))
        if not await self.wait_local(state_id, max(0.0, deadline - self.clock.monotonic())):
            raise NoQuorum(f"cannot perform schema change: no quorum (this shard's schema did "
                           f"not reach group 0 state {state_id} in time)")
        return state_id

    async def _propose(self, change: SchemaChange, deadline: float) -> ApplyResult:
        command = change.to_bytes()
        answer = await self._ask(Verb.GROUP0_PROPOSE, deadline, lambda remaining: [command, remaining])
        return ApplyResult.from_wire(answer)

    async def _ask(self, verb: Verb, deadline: float, payload_of: Callable[[float], Any]) -> Any:
        remaining = deadline - self.clock.monotonic()
        if remaining <= 0:
            raise NoQuorum(f"cannot perform schema change: no quorum within {self.ddl_timeout_s:g} s")
        try:
            answer = await self.messaging.send(verb, self.member, payload_of(remaining),
                                               timeout_s=remaining + 1.0)
        except RpcError as error:
            raise NoQuorum(f"cannot perform schema change: no quorum (group 0 member "
                           f"unreachable: {error})") from error
        if not (isinstance(answer, (list, tuple)) and len(answer) == 2):
            raise Invalid("malformed group 0 answer")
        if answer[0] == NO_QUORUM:
            raise NoQuorum(f"cannot perform schema change: no quorum ({answer[1]})")
        return answer[1]


def _timeout_of(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
        raise Invalid("malformed group 0 timeout")
    return float(value)
