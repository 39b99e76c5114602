"""Schema inside a node: shard 0 (the group 0 member) hands every applied change to
the node's other shards, and they check with it that they hold the same schema.

Across nodes, schema moves only through group 0's log (``node/raft/group0``): there is
no pushing or pulling of schema between nodes, so no merge of two nodes' schemas can
undo a committed change. Inside a node, after each applied change shard 0 pushes the
whole schema (``SCHEMA_PUSH``) to its siblings and, for a TRUNCATE, has every shard
empty the table (``TRUNCATE``). A sibling that missed a push (it was starting) asks
shard 0 every heartbeat whether their group 0 state ids differ (``SCHEMA_PULL``) and
takes shard 0's schema if they do. Every shard knows which group 0 state its schema
holds (``state_id``); a coordinator that got a state id from a read barrier waits until
its own shard holds it (``wait_state``) before computing a change from it.

Invariant: shard 0's schema is the node's; a sibling's only ever moves towards it, and
a shard's ``state_id`` never runs ahead of the schema it holds.
"""

from __future__ import annotations

import asyncio
from typing import Any

from node.errors import Invalid
from node.gms.shard import Shard
from node.raft.group0.commands import Truncation
from node.rpc.transport import ShardId
from node.rpc.verbs import Verb
from node.schema.store import SchemaStore

PUSH_TIMEOUT_S = 5.0
PUSH_ATTEMPTS = 3
MEMBER_SHARD = 0


class SchemaSync:
    def __init__(self, shard: Shard, store: SchemaStore) -> None:
        self.shard = shard
        self.store = store
        self.pulls = 0
        self.pull_failures = 0
        self.push_failures = 0
        self.state_id = 0              # the group 0 state this shard's schema holds
        self._state_changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        shard.messaging.register(Verb.SCHEMA_PULL, self._on_pull)
        shard.messaging.register(Verb.SCHEMA_PUSH, self._on_push)
        shard.schema_version = store.version

    def statistics(self) -> dict[str, int]:
        return {"pulls": self.pulls, "pull_failures": self.pull_failures,
                "push_failures": self.push_failures}

    def _state(self) -> dict[str, Any]:
        return {"entries": self.store.snapshot(), "state_id": self.state_id}

    def _take(self, state: Any) -> None:
        if not (isinstance(state, dict) and isinstance(state.get("entries"), dict)
                and type(state.get("state_id")) is int):
            raise Invalid("malformed schema push")
        self.store.merge(state["entries"])
        self._advance(state["state_id"])

    def _advance(self, state_id: int) -> None:
        if state_id > self.state_id:
            self.state_id = state_id
            self._state_changed.set()
            self._state_changed = asyncio.Event()

    async def wait_state(self, state_id: int, timeout_s: float) -> bool:
        """Wait until this shard's schema holds group 0's state ``state_id`` (shard 0
        pushes it after applying); False if it did not within ``timeout_s``."""
        deadline = self.shard.clock.monotonic() + timeout_s
        while self.state_id < state_id:
            remaining = deadline - self.shard.clock.monotonic()
            if remaining <= 0:
                return False
            changed = self._state_changed
            waiter = asyncio.ensure_future(changed.wait())
            sleeper = asyncio.ensure_future(self.shard.clock.sleep(min(remaining, 0.05)))
            try:
                await asyncio.wait([waiter, sleeper], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                sleeper.cancel()
            if self.state_id < state_id and self.shard.shard != MEMBER_SHARD:
                await self.check()
        return True

    async def _on_pull(self, source: ShardId, payload: Any) -> Any:
        # payload: None (send the state) or {"unless_state_id": n} (None if ours is n)
        if isinstance(payload, dict) and payload.get("unless_state_id") == self.state_id:
            return None
        return self._state()

    async def _on_push(self, source: ShardId, payload: Any) -> Any:
        if source.node != self.shard.node:
            raise Invalid("schema moves between nodes only through group 0")
        self._take(payload)
        return self.state_id

    def _siblings(self, *, including_me: bool) -> list[ShardId]:
        return [ShardId(self.shard.node, index) for index in range(self.shard.shards_of(self.shard.node))
                if including_me or index != self.shard.shard]

    async def distribute(self, state_id: int, truncation: Truncation | None) -> None:
        """Shard 0, after applying group 0's change ``state_id`` (already in its own
        store): hand the schema to every sibling and, for a TRUNCATE, empty the table on
        every shard. Shard 0's own state id moves last, once the siblings have it."""
        state = {"entries": self.store.snapshot(), "state_id": state_id}
        sends = [self._push(target, state) for target in self._siblings(including_me=False)]
        if truncation is not None:
            request = {"table": truncation.table_id, "truncated_at_us": truncation.truncated_at_us}
            sends += [self._truncate(target, request) for target in self._siblings(including_me=True)]
        await asyncio.gather(*sends)
        self._advance(state_id)

    async def _push(self, target: ShardId, state: dict[str, Any]) -> None:
        for attempt in range(PUSH_ATTEMPTS):
            try:
                await self.shard.messaging.send(Verb.SCHEMA_PUSH, target, state, timeout_s=PUSH_TIMEOUT_S)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a sibling starting or stopping: it pulls later
                last = error
                await self.shard.clock.sleep(0.1 * (attempt + 1))
        self.push_failures += 1
        self.shard.log.warning("schema.push_failed", target=str(target), error=str(last))

    async def _truncate(self, target: ShardId, request: dict[str, Any]) -> None:
        try:
            await self.shard.messaging.send(Verb.TRUNCATE, target, request, timeout_s=PUSH_TIMEOUT_S * 2)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.push_failures += 1
            self.shard.log.error("schema.truncate_failed", target=str(target), error=str(error))

    async def check(self) -> None:
        """A sibling shard: take shard 0's schema if it differs from ours."""
        if self.shard.shard == MEMBER_SHARD:
            return
        try:
            state = await self.shard.messaging.send(
                Verb.SCHEMA_PULL, ShardId(self.shard.node, MEMBER_SHARD),
                {"unless_state_id": self.state_id}, timeout_s=PUSH_TIMEOUT_S)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.pull_failures += 1
            self.shard.log.debug("schema.pull_failed", error=str(error))
            return
        if state is not None:
            self._take(state)
            self.pulls += 1
            self.shard.log.info("schema.pulled", version=self.store.version())

    def start(self) -> None:
        if self.shard.shard != MEMBER_SHARD:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="schema-sync")

    async def _run(self) -> None:
        interval_s = self.shard.config.failure_detector.heartbeat_ms / 1000
        while True:
            await self.check()
            await self.shard.clock.sleep(interval_s)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
