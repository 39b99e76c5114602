"""The hints manager of one shard, as db/hints' manager: decides whether a hint may be
written for a target, keeps one ``EndpointManager`` per target (created on the first
hint, or found on disk at start), wakes a target's replay when the failure detector
sees it UP, and answers the node-wide switches (``hints.set``, ``hints.describe``).

Files: ``<node dir>/hints/<shard>/<target>/Hints-<id>.log``. A hint is written for a
target that is not this node, not in a disabled DC, and not DOWN for longer than
``max_window_ms``; it is refused (and counted) when the target's hints exceed
``max_bytes_per_target``. Disabling hinted handoff stops new hints; those already
stored are still delivered.

Invariant: ``store`` returns True only once the hint is fsynced in its segment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from node.errors import Invalid
from node.hints.endpoint_manager import EndpointManager
from node.hints.segment import encode_payload
from node.hints.sender import HintSender
from node.hints.statistics import HintCounters
from node.hints.store import HintStore
from node.hints.throttle import Throttle
from node.dht.sharding import shard_of
from node.rpc.transport import ShardId
from node.rpc.verbs import Verb
from node.schema.store import SchemaStore
from node.gms.shard import Shard
from node.mutation.mutation import Mutation


class HintsManager:
    def __init__(self, shard: Shard, schema: SchemaStore, log: Any = None,
                 truncated_at_us: Callable[[str], int | None] = lambda table_id: None) -> None:
        settings = shard.config.hints
        self.truncated_at_us = truncated_at_us   # the shard storage's record of TRUNCATEs
        self.shard = shard
        self.schema = schema
        self.clock = shard.clock
        self.log = log or shard.log
        self.directory = shard.data_dir / "hints" / str(shard.shard)
        self.settings = settings
        self.enabled = settings.enabled
        self.max_window_ms = settings.max_window_ms
        self.disabled_dcs = set(settings.disabled_dcs)
        self.counters = HintCounters()
        self.throttle = Throttle(settings.replay_bytes_per_s, self.clock) \
            if settings.replay_bytes_per_s > 0 else None
        self._dc_of = {node.name: node.dc for node in shard.config.nodes}
        self._endpoints: dict[str, EndpointManager] = {}
        self._started = False
        self._closed = False

    # --- life ------------------------------------------------------------------

    def open(self) -> None:
        """Find the targets a previous run left hints for."""
        if not self.directory.is_dir():
            return
        for entry in sorted(self.directory.iterdir()):
            if entry.is_dir() and entry.name in self._dc_of and entry.name != self.shard.node:
                self._endpoint(entry.name)

    def start(self) -> None:
        assert not self._started, "started once"
        self._started = True
        self.shard.failure_detector.subscribe(self._on_liveness)
        for endpoint in self._endpoints.values():
            endpoint.start()

    async def aclose(self) -> None:
        self._closed = True
        for endpoint in list(self._endpoints.values()):
            await endpoint.aclose()

    def _on_liveness(self, node: str, state: str) -> None:
        endpoint = self._endpoints.get(node)
        if state == "UP" and endpoint is not None:
            endpoint.wake()

    def _endpoint(self, target: str) -> EndpointManager:
        endpoint = self._endpoints.get(target)
        if endpoint is not None:
            return endpoint
        log = self.log.bind(hint_target=target)
        store = HintStore(self.directory / target, self.settings.segment_bytes, log)
        store.open()
        sender = HintSender(target, store, routing=self, deliver=self.deliver, rehint=self._rehint,
                            clock=self.clock, throttle=self.throttle or _Unthrottled(),
                            counters=self.counters, log=log)
        endpoint = self._endpoints[target] = EndpointManager(
            target, store, sender, retry_ms=self.settings.retry_ms, clock=self.clock,
            counters=self.counters, log=log)
        if self._started:
            endpoint.start()
        return endpoint

    # --- the write path's side (coordinator.service.write_path.HintSink) -----------------

    def accepts(self, target: str) -> bool:
        """May a hint be written for ``target`` now? A refusal for the window is counted."""
        if not self.enabled or self._closed or target == self.shard.node:
            return False
        dc = self._dc_of.get(target)
        if dc is None or dc in self.disabled_dcs:
            return False
        if self.shard.failure_detector.down_for_s(target) * 1000 > self.max_window_ms:
            self.counters.dropped_window += 1
            return False
        return True

    async def store(self, target: str, mutation: Mutation) -> bool:
        """Write a hint for ``target``; True once it is durable. The hint records its
        table's gc_grace_seconds of now: replay expires it by the smaller of that and
        the table's gc_grace at replay time."""
        return await self._store_wire(target, mutation.to_wire(), self.clock.now_us(),
                                      self.gc_grace_s(mutation.table_id))

    async def _store_wire(self, target: str, wire: list[Any], created_us: int,
                          gc_grace_s: int | None) -> bool:
        if self._closed or target not in self._dc_of or target == self.shard.node:
            return False
        endpoint = self._endpoint(target)
        return await endpoint.store_hint(encode_payload(created_us, wire, gc_grace_s),
                                         self.settings.max_bytes_per_target)

    async def _rehint(self, target: str, wire: list[Any], created_us: int,
                      gc_grace_s: int | None) -> bool:
        if not self.accepts(target):
            return False
        return await self._store_wire(target, wire, created_us, gc_grace_s)

    # --- what a sender asks (HintRouting) ----------------------------------------

    def gc_grace_s(self, table_id: str) -> int | None:
        table = self.schema.table_by_id(table_id)
        return None if table is None else table.options.gc_grace_seconds

    def replicas_of(self, table_id: str, token: int) -> tuple[str, ...]:
        table = self.schema.table_by_id(table_id)
        assert table is not None, "asked only for tables that exist"
        keyspace = self.schema.keyspace(table.keyspace)
        return self.shard.replica_map(keyspace.replication).replicas_for_token(token)

    def is_alive(self, node: str) -> bool:
        return self.shard.failure_detector.is_alive(node)

    def agrees_on_schema(self, node: str) -> bool:
        """Does ``node`` (as its last heartbeat says) have our schema version? Only then
        is its ``Invalid`` refusal of a hint final, not a schema it has yet to pull."""
        endpoint = self.shard.failure_detector.endpoints.get(node)
        return endpoint is not None and endpoint.schema_version == self.schema.version()

    async def deliver(self, node: str, wire: list[Any]) -> Any:
        """Send one hinted mutation to the shard of ``node`` that owns its token."""
        owner = shard_of(wire[2], self.shard.shards_of(node), self.shard.config.sharding_ignore_msb)
        return await self.shard.messaging.send(Verb.HINT_MUTATION, ShardId(node, owner), wire,
                                               timeout_s=self.shard.config.timeouts.write_ms / 1000)

    # --- observing and switching -------------------------------------------------

    def pending(self) -> dict[str, dict[str, int]]:
        return {target: {"hints": endpoint.store.pending_hints, "bytes": endpoint.store.pending_bytes}
                for target, endpoint in sorted(self._endpoints.items())
                if endpoint.store.has_pending()}

    def statistics(self) -> dict[str, Any]:
        pending = self.pending()
        return {**vars(self.counters),
                "pending_hints": {target: p["hints"] for target, p in pending.items()},
                "pending_bytes": {target: p["bytes"] for target, p in pending.items()}}

    def describe(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "max_window_ms": self.max_window_ms,
                "disabled_dcs": sorted(self.disabled_dcs),
                "replaying": sorted(t for t, e in self._endpoints.items() if e.replaying),
                "targets": self.pending()}

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply runtime switches: ``enabled``, ``max_window_ms``, ``disabled_dcs``."""
        validate_switches(body)
        if "enabled" in body:
            self.enabled = body["enabled"]
        if "max_window_ms" in body:
            self.max_window_ms = body["max_window_ms"]
        if "disabled_dcs" in body:
            self.disabled_dcs = set(body["disabled_dcs"])
        self.log.info("hints.configured", enabled=self.enabled, max_window_ms=self.max_window_ms,
                      disabled_dcs=sorted(self.disabled_dcs))
        return self.describe()

    def admin_handlers(self) -> dict[str, Any]:
        async def set_switches(body: dict[str, Any]) -> dict[str, Any]:
            return self.configure(body)

        async def describe(body: dict[str, Any]) -> dict[str, Any]:
            return self.describe()

        return {"hints.set": set_switches, "hints.describe": describe}


def validate_switches(body: Any) -> None:
    """Invalid unless ``body`` is ``{"enabled"?: bool, "max_window_ms"?: int >= 0,
    "disabled_dcs"?: [str]}`` with at least one of them."""
    known = {"enabled", "max_window_ms", "disabled_dcs"}
    if not isinstance(body, dict) or not body or set(body) - known:
        raise Invalid(f"expected an object with some of {sorted(known)}")
    if "enabled" in body and not isinstance(body["enabled"], bool):
        raise Invalid("enabled must be true or false")
    window = body.get("max_window_ms", 0)
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise Invalid("max_window_ms must be a non-negative integer")
    dcs = body.get("disabled_dcs", [])
    if not isinstance(dcs, list) or not all(isinstance(dc, str) for dc in dcs):
        raise Invalid("disabled_dcs must be a list of DC names")


class _Unthrottled:
    async def acquire(self, size_bytes: int) -> None:
        return None
