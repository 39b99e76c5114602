"""One shard's node-side parts, wired together: identity, ring, messaging, faults,
failure detector, and the node-wide admin fan-out.

A shard owns the data of the tokens ``shard_of`` gives it and talks to every other
shard (of its node or of others) only through messaging. Node-wide operations (set
faults, flush, hints switches) arrive at whichever shard served the HTTP request and
are fanned out to the node's other shards over the ADMIN verb.

Invariant: nothing here imports the coordinator; ``node/server/shard_process.py`` composes both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from node.clock import Clock
from node.config import ClusterConfig, NodeSettings
from node.errors import Invalid
from node.gms.failure_detector import FailureDetector
from node.locator.replication import ReplicaMap, Strategy, strategy_from_options
from node.locator.token_metadata import Endpoint, TokenMetadata
from node.rpc.faults import NetworkFaults
from node.rpc.messaging import MessagingService
from node.rpc.transport import ShardId
from node.rpc.verbs import Verb

AdminHandler = Callable[[dict[str, Any]], Awaitable[Any]]
READ_ONLY_ADMIN = frozenset({"storage.load"})  # peers may ask these of any shard


@dataclass(frozen=True)
class ShardIdentity:
    node: str
    shard: int
    shards: int

    @property
    def shard_id(self) -> ShardId:
        return ShardId(self.node, self.shard)


class Shard:
    """The node-side services of one shard process (or of one shard in a test loop)."""

    def __init__(self, *, config: ClusterConfig, node: str, shard: int, clock: Clock,
                 messaging: MessagingService, faults: NetworkFaults, data_dir: Path,
                 generation: int, log: Any = None) -> None:
        self.config = config
        self.settings: NodeSettings = config.node(node)
        assert 0 <= shard < self.settings.shards, "shard index within the node"
        self.identity = ShardIdentity(node, shard, self.settings.shards)
        self.clock = clock
        self.messaging = messaging
        self.faults = faults
        self.data_dir = data_dir
        self.generation = generation
        self.log = log or structlog.get_logger().bind(node=node, shard=shard)
        self.ring = TokenMetadata(config.name, [Endpoint(n.name, n.dc, n.rack) for n in config.nodes],
                                  config.num_tokens)
        self._replica_maps: dict[Any, ReplicaMap] = {}
        self.schema_version: Callable[[], str] = lambda: ""
        self.admin_handlers: dict[str, AdminHandler] = {}
        self.disk_fault_switch: Callable[[bool], None] | None = None
        self.disk_fail_writes = False
        peers = {n.name: n.shards for n in config.nodes if n.name != node}
        self.failure_detector = FailureDetector(
            node=node, shard=shard, peers=peers,
            heartbeat_ms=config.failure_detector.heartbeat_ms,
            timeout_ms=config.failure_detector.timeout_ms,
            send_heartbeat=self._send_heartbeat, local_state=self.local_state,
            clock=clock, log=self.log)
        messaging.register(Verb.HEARTBEAT, self._on_heartbeat)
        messaging.register(Verb.ADMIN, self._on_admin)
        self.admin_handlers["faults.set"] = self._set_faults
        self.admin_handlers["faults.clear"] = self._clear_faults

    # --- identity and topology ----------------------------------------------

    @property
    def node(self) -> str:
        return self.identity.node

    @property
    def shard(self) -> int:
        return self.identity.shard

    def shards_of(self, node: str) -> int:
        """A peer's shard count as the heartbeat last told it (config until then)."""
        if node == self.node:
            return self.identity.shards
        endpoint = self.failure_detector.endpoints.get(node)
        return endpoint.shards if endpoint is not None else self.config.node(node).shards

    def replica_map(self, replication: dict[str, Any] | Strategy) -> ReplicaMap:
        strategy = (replication if not isinstance(replication, dict)
                    else strategy_from_options(replication))
        found = self._replica_maps.get(strategy)
        if found is None:
            found = self._replica_maps[strategy] = ReplicaMap(self.ring, strategy)
        return found

    def local_state(self) -> dict[str, Any]:
        return {"node": self.node, "shards": self.identity.shards,
                "schema_version": self.schema_version(), "generation": self.generation}

    # --- verbs -----------------------------------------------------------------

    async def _send_heartbeat(self, peer: str, peer_shard: int, state: dict[str, Any]) -> Any:
        timeout_s = max(self.config.failure_detector.heartbeat_ms / 1000, 0.25)
        return await self.messaging.send(Verb.HEARTBEAT, ShardId(peer, peer_shard), state,
                                         timeout_s=timeout_s)

    async def _on_heartbeat(self, source: ShardId, payload: Any) -> Any:
        return self.failure_detector.handle_heartbeat(source.node, payload)

    async def _on_admin(self, source: ShardId, payload: Any) -> Any:
        if not isinstance(payload, dict) or not isinstance(payload.get("op"), str):
            raise Invalid("malformed admin request")
        if source.node != self.node and payload["op"] not in READ_ONLY_ADMIN:
            raise Invalid("admin operations are accepted only from shards of the same node")
        return await self.run_admin_locally(payload["op"], payload.get("body") or {})

    async def run_admin_locally(self, op: str, body: dict[str, Any]) -> Any:
        handler = self.admin_handlers.get(op)
        if handler is None:
            raise Invalid(f"unknown admin operation {op!r}")
        return await handler(body)

    async def run_admin_on_node(self, op: str, body: dict[str, Any], timeout_s: float = 10.0,
                                node: str | None = None) -> list[Any]:
        """Run an admin operation on every shard of a node (default: this one); answers
        in shard order."""
        node = node or self.node
        calls = []
        for index in range(self.shards_of(node)):
            if node == self.node and index == self.shard:
                calls.append(self.run_admin_locally(op, body))
            else:
                calls.append(self.messaging.send(Verb.ADMIN, ShardId(node, index),
                                                 {"op": op, "body": body}, timeout_s=timeout_s))
        return list(await asyncio.gather(*calls))

    async def _set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        network = {key: value for key, value in body.items() if key != "clock_skew_ms"}
        skew = body.get("clock_skew_ms")
        if skew is not None and (isinstance(skew, bool) or not isinstance(skew, int)
                                 or abs(skew) > 10 * 365 * 24 * 3600 * 1000):
            raise Invalid("clock_skew_ms must be an integer number of milliseconds")
        self.faults.apply(network)
        if "disk_fail_writes" in body:
            self._switch_disk_faults(bool(body["disk_fail_writes"]))
        if skew is not None:
            self._skew_clock(skew)
        return self.describe_faults()

    async def _clear_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        self.faults.clear()
        self._switch_disk_faults(False)
        self._skew_clock(0)
        return self.describe_faults()

    def _skew_clock(self, skew_ms: int) -> None:
        """The clock fault: this shard's write timestamps run ``skew_ms`` off."""
        if hasattr(self.clock, "skew_ms"):
            self.clock.skew_ms = skew_ms

    def _switch_disk_faults(self, enabled: bool) -> None:
        self.disk_fail_writes = enabled
        if self.disk_fault_switch is not None:
            self.disk_fault_switch(enabled)

    def describe_faults(self) -> dict[str, Any]:
        return {**self.faults.describe(), "disk_fail_writes": self.disk_fail_writes,
                "clock_skew_ms": getattr(self.clock, "skew_ms", 0)}

    # --- life ------------------------------------------------------------------

    def start(self) -> None:
        self.failure_detector.start()

    async def aclose(self) -> None:
        await self.failure_detector.aclose()
