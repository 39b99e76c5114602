"""The failure detector: heartbeats between nodes, and each peer's UP/DOWN state.

Every shard heartbeats every peer node (its shard ``my_shard % peer_shards``) each
``heartbeat_ms``. A peer is UP from its first answer (or first heartbeat heard from
it) and DOWN after ``timeout_ms`` of silence. Heartbeats carry the sender's shard
count, schema version and generation (process start time), so peers learn them.
Listeners hear every UP/DOWN transition (hinted handoff replays on UP; the schema
store pulls on a version mismatch).

Invariant: a peer never heard from is DOWN; coordinators never send to a DOWN node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from node.clock import Clock

UP = "UP"
DOWN = "DOWN"


@dataclass
class EndpointState:
    name: str
    shards: int
    state: str = DOWN
    last_heard: float | None = None
    schema_version: str | None = None
    generation: int = 0
    down_since: float | None = None  # monotonic seconds; None while UP
    extra: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[str, str], None]  # (node, UP|DOWN)


class FailureDetector:
    """One shard's view of the liveness of every other node."""

    def __init__(self, *, node: str, shard: int, peers: dict[str, int], heartbeat_ms: int,
                 timeout_ms: int, send_heartbeat: Callable[[str, int, dict], Any],
                 local_state: Callable[[], dict[str, Any]], clock: Clock,
                 log: Any = None) -> None:
        assert node not in peers, "a node does not heartbeat itself"
        self.node = node
        self.shard = shard
        self.heartbeat_s = heartbeat_ms / 1000
        self.timeout_s = timeout_ms / 1000
        self._send = send_heartbeat
        self._local_state = local_state
        self._clock = clock
        self._log = log or structlog.get_logger().bind(node=node, shard=shard)
        started = clock.monotonic()
        self.endpoints = {name: EndpointState(name, shards, down_since=started)
                          for name, shards in peers.items()}
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self.heartbeats_sent = 0
        self.heartbeats_failed = 0

    # --- queries -------------------------------------------------------------

    def is_alive(self, node: str) -> bool:
        if node == self.node:
            return True
        endpoint = self.endpoints.get(node)
        return endpoint is not None and endpoint.state == UP

    def live_nodes(self) -> set[str]:
        return {self.node} | {name for name, e in self.endpoints.items() if e.state == UP}

    def down_for_s(self, node: str) -> float:
        """Seconds the node has been DOWN (0 while UP)."""
        endpoint = self.endpoints.get(node)
        if endpoint is None or endpoint.state == UP or endpoint.down_since is None:
            return 0.0
        return self._clock.monotonic() - endpoint.down_since

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def statistics(self) -> dict[str, Any]:
        return {"heartbeats_sent": self.heartbeats_sent,
                "heartbeats_failed": self.heartbeats_failed,
                "live_nodes": len(self.live_nodes())}

    # --- evidence ------------------------------------------------------------

    def heard_from(self, node: str, state: dict[str, Any]) -> None:
        """Record a heartbeat or an answer from ``node``."""
        endpoint = self.endpoints.get(node)
        if endpoint is None:
            return
        endpoint.last_heard = self._clock.monotonic()
        shards = state.get("shards")
        if isinstance(shards, int) and shards >= 1:
            endpoint.shards = shards
        version = state.get("schema_version")
        if isinstance(version, str):
            endpoint.schema_version = version
        generation = state.get("generation")
        if isinstance(generation, int):
            endpoint.generation = generation
        if endpoint.state != UP:
            endpoint.state = UP
            endpoint.down_since = None
            self._log.info("gossip.up", peer=node)
            self._notify(node, UP)

    def handle_heartbeat(self, source_node: str, payload: Any) -> dict[str, Any]:
        """The HEARTBEAT verb: note the sender and answer with our own state."""
        if isinstance(payload, dict):
            self.heard_from(source_node, payload)
        return self._local_state()

    def check(self) -> None:
        """Mark DOWN every peer silent for longer than the timeout."""
        now = self._clock.monotonic()
        for endpoint in self.endpoints.values():
            if endpoint.state != UP:
                continue
            if endpoint.last_heard is None or now - endpoint.last_heard > self.timeout_s:
                endpoint.state = DOWN
                endpoint.down_since = now
                self._log.info("gossip.down", peer=endpoint.name,
                               silent_s=round(now - (endpoint.last_heard or now), 3))
                self._notify(endpoint.name, DOWN)

    def _notify(self, node: str, state: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(node, state)
            except Exception:  # a listener's bug must not stop failure detection
                self._log.exception("gossip.listener_failed", peer=node)

    # --- the loop ------------------------------------------------------------

    def start(self) -> None:
        assert self._task is None, "started once"
        self._task = asyncio.get_running_loop().create_task(self._run(), name="failure-detector")

    async def _run(self) -> None:
        while True:
            for name, endpoint in self.endpoints.items():
                previous = self._in_flight.get(name)
                if previous is not None and not previous.done():
                    continue  # one heartbeat in flight per peer: bounded
                target_shard = self.shard % max(1, endpoint.shards)
                self._in_flight[name] = asyncio.get_running_loop().create_task(
                    self._beat(name, target_shard))
            self.check()
            await self._clock.sleep(self.heartbeat_s)

    async def _beat(self, name: str, target_shard: int) -> None:
        self.heartbeats_sent += 1
        try:
            answer = await self._send(name, target_shard, self._local_state())
        except asyncio.CancelledError:
            raise
        except Exception:
            self.heartbeats_failed += 1
            return
        if isinstance(answer, dict):
            self.heard_from(name, answer)

    async def aclose(self) -> None:
        tasks = [t for t in [self._task, *self._in_flight.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        self._in_flight.clear()
