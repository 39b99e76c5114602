"""A Raft group of ``RaftServer``s over the in-memory transport, on a ``ManualClock``:
time moves only in ``advance``, by ticks, and the event loop settles after each step,
so a test never sleeps and runs the same way every time.

Members persist to ``DiskLogStore``s under a test folder and apply to a ``KvMachine``;
``crash`` takes a member off the network at once (as a killed process), ``restart``
builds a new incarnation from its folder.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgpack

from node.clock import ManualClock
from node.errors import AlreadyExists
from node.raft.config import RaftConfig
from node.raft.disk_log_store import DiskLogStore
from node.raft.fsm import Role
from node.raft.server import RaftServer
from node.rpc.faults import NetworkFaults
from node.rpc.memory import MemoryNetwork
from node.rpc.messaging import MessagingService
from node.rpc.transport import ShardId
from node.storage.disk import Disk
from tests.unit.rpc.harness import RecordingLog

CONFIG = RaftConfig(tick_s=0.1, election_ticks=10, heartbeat_ticks=2, send_timeout_s=0.5,
                    default_timeout_s=5.0)
SETTLE_STEPS = 40


class KvMachine:
    """Commands are msgpack ``["set", key, value]`` (answers the previous value) or
    ``["create", key, value]`` (``AlreadyExists`` if the key is there)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.applied: list[int] = []

    async def apply(self, index: int, command: bytes) -> Any:
        operation, key, value = msgpack.unpackb(command)
        self.applied.append(index)
        if operation == "create":
            if key in self.data:
                raise AlreadyExists(f"{key} exists", keyspace="kv", table=key)
            self.data[key] = value
            return None
        previous = self.data.get(key)
        self.data[key] = value
        return previous

    async def snapshot(self) -> bytes:
        return msgpack.packb(self.data)

    async def restore(self, data: bytes) -> None:
        self.data = msgpack.unpackb(data)


def command(operation: str, key: str, value: Any = None) -> bytes:
    return msgpack.packb([operation, key, value])


class RaftGroup:
    def __init__(self, root: Path, names: tuple[str, ...] = ("n1", "n2", "n3"), *,
                 config: RaftConfig = CONFIG, seed: int = 0) -> None:
        self.root = root
        self.names = names
        self.config = config
        self.seed = seed
        self.clock = ManualClock()
        self.log = RecordingLog()
        self.network = MemoryNetwork(self.clock, log=self.log)
        self.faults = {name: NetworkFaults(name, seed) for name in names}
        self.disks = {name: Disk() for name in names}
        self.servers: dict[str, RaftServer] = {}
        self.machines: dict[str, KvMachine] = {}
        self._messaging: dict[str, MessagingService] = {}
        self._incarnations = {name: 0 for name in names}

    # --- members ------------------------------------------------------------------------

    async def start(self, *names: str) -> None:
        for name in names or self.names:
            await self._start(name)

    async def _start(self, name: str) -> RaftServer:
        self._incarnations[name] += 1
        me = ShardId(name, 0)
        transport = self.network.transport(me, self.faults[name], log=self.log)
        messaging = MessagingService(me, transport, clock=self.clock, log=self.log)
        machine = KvMachine()
        server = RaftServer(me=name, members=self.names, messaging=messaging,
                            store=DiskLogStore(self.root / name, self.disks[name]),
                            state_machine=machine, clock=self.clock,
                            rng=random.Random(f"{self.seed}/{name}/{self._incarnations[name]}"),
                            config=self.config, log=self.log)
        await server.start()
        await transport.start()
        self.servers[name], self.machines[name], self._messaging[name] = server, machine, messaging
        return server

    async def crash(self, name: str) -> None:
        self.network.disconnect(name)
        server = self.servers.pop(name)
        await server.aclose()
        await self._messaging.pop(name).aclose()

    async def restart(self, name: str) -> RaftServer:
        if name in self.servers:
            await self.crash(name)
        return await self._start(name)

    async def aclose(self) -> None:
        for name in list(self.servers):
            await self.crash(name)
        await self.network.aclose()

    # --- the network --------------------------------------------------------------------

    def cut(self, a: str, b: str) -> None:
        """No message between ``a`` and ``b`` either way."""
        faults = self.faults[a]
        faults.apply({"partition": sorted(faults.partitioned | {b})})

    def isolate(self, name: str) -> None:
        for other in self.names:
            if other != name:
                self.cut(name, other)

    def heal(self) -> None:
        for faults in self.faults.values():
            faults.clear()

    # --- time -----------------------------------------------------------------------------

    async def settle(self) -> None:
        for _ in range(SETTLE_STEPS):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        steps = round(seconds / self.config.tick_s)
        for _ in range(steps):
            self.clock.advance(self.config.tick_s)
            await self.settle()

    async def run_until(self, condition: Callable[[], bool], max_seconds: float = 30.0) -> float:
        """Advance tick by tick until ``condition`` holds; the virtual seconds it took."""
        waited = 0.0
        await self.settle()
        while not condition():
            if waited >= max_seconds:
                raise AssertionError(f"condition not reached in {max_seconds} virtual seconds")
            await self.advance(self.config.tick_s)
            waited += self.config.tick_s
        return waited

    async def complete(self, call: Awaitable[Any], max_seconds: float = 30.0) -> Any:
        """Run ``call`` while time advances; its result (or its exception)."""
        task = asyncio.ensure_future(call)
        try:
            await self.run_until(task.done, max_seconds)
        finally:
            if not task.done():
                task.cancel()
        return task.result()

    # --- views ----------------------------------------------------------------------------

    def leaders(self) -> list[str]:
        return [name for name, server in self.servers.items() if server.role is Role.LEADER]

    def leader(self) -> str | None:
        """The leader of the highest term among running members."""
        leaders = self.leaders()
        return max(leaders, key=lambda name: self.servers[name].term) if leaders else None

    async def wait_for_leader(self, max_seconds: float = 30.0) -> str:
        await self.run_until(lambda: self.leader() is not None, max_seconds)
        leader = self.leader()
        assert leader is not None
        return leader

    def events(self, name: str) -> int:
        return len(self.log.named(name))
