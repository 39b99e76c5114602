"""The coordinator's write path: send a mutation to its replicas and answer at the
consistency level, as storage_proxy's ``mutate`` does.

For each partition mutation: the replicas of its token; ``Unavailable`` (nothing
sent) when too few are alive; otherwise the mutation goes to every live replica's
owning shard at once, and the write answers as soon as the level's acks are in, or
with ``WriteTimeout`` (received/required) after ``timeouts.write_ms``. Deliveries
that are still running go on in the background; a replica that was down, failed or
did not answer by the timeout gets a hint (when a hint sink is wired and hinted
handoff is on). With ``ANY``, a stored hint counts as the ack.

Invariant: an acknowledged write is on at least the level's number of replicas (or,
for ANY, durably in a hint); the background deliveries are owned by this object and
``aclose`` waits for them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from coordinator.service.consistency import check_available, is_satisfied, received, requirement
from node.errors import RequestError, WriteTimeout
from node.dht.sharding import shard_of
from node.rpc.transport import ShardId
from node.rpc.verbs import Verb
from node.schema.definitions import KeyspaceSchema
from node.gms.shard import Shard
from node.mutation.mutation import Mutation

BACKGROUND_WRITES_MAX = 4096


class HintSink(Protocol):
    """Where undeliverable mutations go (the hints manager)."""

    def accepts(self, target: str) -> bool: ...

    async def store(self, target: str, mutation: Mutation) -> bool: ...


@dataclass
class WriteStatistics:
    writes: int = 0
    write_unavailables: int = 0
    write_timeouts: int = 0
    replica_write_errors: int = 0
    hints_requested: int = 0
    background_writes: int = 0


class WritePath:
    def __init__(self, shard: Shard, hints: HintSink | None = None) -> None:
        self.shard = shard
        self.hints = hints
        self.stats = WriteStatistics()
        self._background: set[asyncio.Task[Any]] = set()
        self._background_tables: dict[asyncio.Task[Any], str] = {}
        self._dc_of = {n.name: n.dc for n in shard.config.nodes}

    def statistics(self) -> WriteStatistics:
        self.stats.background_writes = len(self._background)
        return self.stats

    def target_of(self, node: str, token: int) -> ShardId:
        shards = self.shard.shards_of(node)
        return ShardId(node, shard_of(token, shards, self.shard.config.sharding_ignore_msb))

    async def mutate(self, writes: list[tuple[KeyspaceSchema, Mutation]], level: str,
                     write_type: str = "SIMPLE") -> None:
        """Write every mutation at ``level``; answers when all are acknowledged.
        ``write_type`` is what a WriteTimeout reports (SIMPLE, UNLOGGED_BATCH)."""
        plans = []
        for keyspace, mutation in writes:
            strategy_map = self.shard.replica_map(keyspace.replication)
            replicas = strategy_map.replicas_for_token(mutation.token)
            need = requirement(level, strategy_map.strategy, self.shard.settings.dc)
            live = [r for r in replicas if self.shard.failure_detector.is_alive(r)]
            try:
                check_available(need, live, self._dc_of)
            except RequestError:
                self.stats.write_unavailables += 1
                raise
            plans.append((mutation, replicas, live, need))
        self.stats.writes += len(plans)
        await asyncio.gather(*(self._write_one(*plan, level, write_type) for plan in plans))

    async def _write_one(self, mutation: Mutation, replicas: tuple[str, ...], live: list[str],
                         need: Any, level: str, write_type: str) -> None:
        timeout_s = self.shard.config.timeouts.write_ms / 1000
        wire = mutation.to_wire()
        acked: list[str] = []
        satisfied = asyncio.Event()
        down = [r for r in replicas if r not in live]

        async def deliver(replica: str) -> bool:
            try:
                await self.shard.messaging.send(Verb.MUTATION, self.target_of(replica, mutation.token),
                                                wire, timeout_s=timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.stats.replica_write_errors += 1
                return False
            acked.append(replica)
            if is_satisfied(need, acked, self._dc_of):
                satisfied.set()
            return True

        deliveries = {replica: asyncio.ensure_future(deliver(replica)) for replica in live}
        # Hints for replicas known DOWN are in their files before the write is acknowledged.
        hinted_down = await self._hint_all(mutation, down) if down else False
        if level == "ANY":
            if hinted_down or await self._wait_any(deliveries, timeout_s):
                satisfied.set()
            else:  # no replica took it in time: a stored hint is the ack
                unanswered = [r for r, f in deliveries.items() if not (f.done() and f.result())]
                if await self._hint_all(mutation, unanswered):
                    satisfied.set()
        elif not satisfied.is_set():
            try:
                await asyncio.wait_for(satisfied.wait(), timeout_s)
            except asyncio.TimeoutError:
                pass
        await self._finish_in_background(mutation, deliveries)
        if not satisfied.is_set():
            self.stats.write_timeouts += 1
            raise WriteTimeout(f"Operation timed out - received only {received(need, acked, self._dc_of)} "
                               f"responses.", consistency=level,
                               received=received(need, acked, self._dc_of), required=need.total,
                               write_type=write_type)

    async def _wait_any(self, deliveries: dict[str, asyncio.Future[bool]], timeout_s: float) -> bool:
        pending = set(deliveries.values())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while pending:
            done, pending = await asyncio.wait(pending, timeout=max(0, deadline - loop.time()),
                                               return_when=asyncio.FIRST_COMPLETED)
            if not done:
                return False
            if any(f.result() for f in done):
                return True
        return False

    async def _hint_all(self, mutation: Mutation, targets: list[str]) -> bool:
        if self.hints is None:
            return False
        stored = False
        for target in targets:
            if self.hints.accepts(target):
                self.stats.hints_requested += 1
                stored = await self.hints.store(target, mutation) or stored
        return stored

    async def _finish_in_background(self, mutation: Mutation,
                                    deliveries: dict[str, asyncio.Future[bool]]) -> None:
        """Let the remaining deliveries finish after the answer; hint the replicas that
        failed or timed out. Bounded: with too many in the background, wait here."""
        async def finish() -> None:
            results = await asyncio.gather(*deliveries.values(), return_exceptions=True)
            missed = [replica for replica, ok in zip(deliveries, results) if ok is not True]
            if missed:
                await self._hint_all(mutation, missed)

        if all(future.done() for future in deliveries.values()):
            await finish()
            return
        if len(self._background) >= BACKGROUND_WRITES_MAX:
            await finish()
            return
        task = asyncio.get_running_loop().create_task(finish())
        self._background.add(task)
        self._background_tables[task] = mutation.table_id
        task.add_done_callback(self._background.discard)
        task.add_done_callback(self._background_tables.pop)

    async def wait_background(self) -> None:
        """Wait until every background delivery (and its hints) is done."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def wait_background_of(self, table_id: str) -> None:
        """Wait until the background deliveries of ``table_id`` running now are done
        (TRUNCATE waits here; each ends within the write timeout, then hints)."""
        running = [task for task, table in self._background_tables.items() if table == table_id]
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    async def aclose(self) -> None:
        await self.wait_background()
