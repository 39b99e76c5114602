"""Test harness for the RPC conformance suite: a small cluster of shards over either
transport, on a ``ManualClock`` (timeouts, delays and backoff move only when a test
advances the clock), with a log that records events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from node.clock import ManualClock
from node.rpc.faults import NetworkFaults
from node.rpc.memory import MemoryNetwork
from node.rpc.messaging import MessagingService
from node.rpc.tcp import TcpTransport
from node.rpc.transport import RpcLimits, ShardId
from node.rpc.verbs import Verb

SECRET = b"0123456789abcdef0123456789abcdef"
CLUSTER = "test-cluster"


class RecordingLog:
    """A structlog stand-in that keeps ``(level, event, fields)``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def bind(self, **fields: Any) -> RecordingLog:
        return self

    def _record(self, level: str, event: str, **fields: Any) -> None:
        self.events.append((level, event, fields))

    def debug(self, event: str, **fields: Any) -> None:
        self._record("debug", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._record("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._record("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._record("error", event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._record("error", event, **fields)

    def named(self, event: str) -> list[dict[str, Any]]:
        return [fields for _, name, fields in self.events if name == event]


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0,
                     tick: Callable[[], None] | None = None) -> None:
    """Poll ``condition`` (real time) until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition did not hold in time")
        if tick is not None:
            tick()
        await asyncio.sleep(0.002)


async def echo(source: ShardId, payload: Any) -> Any:
    return payload


class Cluster:
    """Shards by id, each a started MessagingService with ECHO registered."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.clock = ManualClock()
        self.log = RecordingLog()
        self.network = MemoryNetwork(self.clock, log=self.log)
        self.faults_by_node: dict[str, NetworkFaults] = {}
        self.services: dict[ShardId, MessagingService] = {}
        self.addresses: dict[ShardId, tuple[str, int]] = {}
        self.limits: dict[ShardId, RpcLimits] = {}

    def faults(self, node: str) -> NetworkFaults:
        if node not in self.faults_by_node:
            self.faults_by_node[node] = NetworkFaults(node, seed=1)
        return self.faults_by_node[node]

    async def shard(self, node: str, index: int = 0, *, max_in_flight: int = 64) -> MessagingService:
        me = ShardId(node, index)
        self.limits[me] = RpcLimits(max_in_flight=max_in_flight, connect_timeout_s=1.0,
                                    handshake_timeout_s=1.0)
        return await self._start(me)

    async def _start(self, me: ShardId) -> MessagingService:
        limits = self.limits[me]
        if self.kind == "memory":
            transport: Any = self.network.transport(me, self.faults(me.node), limits=limits,
                                                    log=self.log)
        else:
            host, port = self.addresses.get(me, ("127.0.0.1", 0))
            transport = TcpTransport(me, host, port, dict(self.addresses), CLUSTER, SECRET,
                                     faults=self.faults(me.node), clock=self.clock, log=self.log,
                                     limits=limits)
        service = MessagingService(me, transport, clock=self.clock, log=self.log)
        service.register(Verb.ECHO, echo)
        await transport.start()
        if self.kind == "tcp":
            self.addresses[me] = ("127.0.0.1", transport.port)
            for other in self.services.values():
                other.transport.set_peer(me, self.addresses[me])  # type: ignore[attr-defined]
        self.services[me] = service
        return service

    async def stop(self, me: ShardId) -> None:
        """The shard goes away: its listener and connections close, its calls fail."""
        service = self.services.pop(me)
        await service.aclose()

    async def restart(self, me: ShardId) -> MessagingService:
        """A new incarnation of the shard at the same address."""
        await self.stop(me)
        return await self._start(me)

    async def aclose(self) -> None:
        for service in list(self.services.values()):
            await service.aclose()
        await self.network.aclose()
