"""Schema agreement between shards: DDL pushes, and pulls on a version mismatch.

``SCHEMA_PUSH`` carries a snapshot of schema entries that the receiver merges (the
coordinator of a DDL pushes to every shard of every live node and waits). Every
heartbeat tells a shard its peers' schema versions; when a live peer's version
differs from ours, this shard pulls the peer's snapshot (``SCHEMA_PULL``) and merges
it. Merging is "newest entry wins", so both sides converge whoever pulls first: that
is how a node that was down during a DDL catches up.

Invariant: at most one pull per peer is in flight, and a failed pull is retried at
the next check, never in a tight loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from node.errors import Invalid
from node.rpc.transport import ShardId
from node.rpc.verbs import Verb
from node.schema.store import SchemaStore
from node.gms.shard import Shard


class SchemaSync:
    def __init__(self, shard: Shard, store: SchemaStore) -> None:
        self.shard = shard
        self.store = store
        self.pulls = 0
        self.pull_failures = 0
        self._task: asyncio.Task[None] | None = None
        self._pulling: dict[str, asyncio.Task[None]] = {}
        shard.messaging.register(Verb.SCHEMA_PULL, self._on_pull)
        shard.messaging.register(Verb.SCHEMA_PUSH, self._on_push)
        shard.schema_version = store.version

    def statistics(self) -> dict[str, int]:
        return {"pulls": self.pulls, "pull_failures": self.pull_failures}

    async def _on_pull(self, source: ShardId, payload: Any) -> Any:
        return self.store.snapshot()

    async def _on_push(self, source: ShardId, payload: Any) -> Any:
        if not isinstance(payload, dict):
            raise Invalid("malformed schema push")
        self.store.merge(payload)
        return self.store.version()

    async def push_everywhere(self, entries: dict[str, Any], timeout_s: float) -> None:
        """Merge locally, then push to every shard of every live node and wait."""
        self.store.merge(entries)
        sends = []
        for node in self.shard.config.nodes:
            if not self.shard.failure_detector.is_alive(node.name):
                continue
            for index in range(self.shard.shards_of(node.name)):
                target = ShardId(node.name, index)
                if target == self.shard.identity.shard_id:
                    continue
                sends.append(self.shard.messaging.send(Verb.SCHEMA_PUSH, target, entries,
                                                       timeout_s=timeout_s))
        results = await asyncio.gather(*sends, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            self.shard.log.warning("schema.push_incomplete", failed=len(failed), sent=len(sends))

    def check(self) -> None:
        """Pull from every live peer whose schema version differs from ours."""
        mine = self.store.version()
        for name, endpoint in self.shard.failure_detector.endpoints.items():
            if endpoint.state != "UP" or endpoint.schema_version in (None, mine):
                continue
            running = self._pulling.get(name)
            if running is not None and not running.done():
                continue
            self._pulling[name] = asyncio.get_running_loop().create_task(self._pull(name))

    async def _pull(self, peer: str) -> None:
        target = ShardId(peer, self.shard.shard % max(1, self.shard.shards_of(peer)))
        try:
            snapshot = await self.shard.messaging.send(Verb.SCHEMA_PULL, target, None, timeout_s=5.0)
            self.store.merge(snapshot)
            self.pulls += 1
            self.shard.log.info("schema.pulled", peer=peer, version=self.store.version())
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.pull_failures += 1
            self.shard.log.warning("schema.pull_failed", peer=peer, error=str(error))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="schema-sync")

    async def _run(self) -> None:
        interval_s = self.shard.config.failure_detector.heartbeat_ms / 1000
        while True:
            await self.shard.clock.sleep(interval_s)
            self.check()

    async def aclose(self) -> None:
        tasks = [t for t in [self._task, *self._pulling.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
