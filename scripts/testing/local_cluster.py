"""A whole shardsim cluster in one event loop, over the in-memory transport: what
the in-process tests (``tests/cluster/``) and the in-process benchmarks run.

Each shard is built by ``node.server.shard_process.build_shard`` exactly as a real process builds it,
with its own data folder and (with real time) its own clock, so a clock fault skews
one node only; only the transport differs. ``kill`` makes a node's shards
vanish at once (a crash: no flush); ``start_node`` builds them again from their
files. Failure detection is shortened (heartbeat 50 ms, DOWN after 400 ms) so
scenarios stay fast; waits poll with a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coordinator.cql3.query_processor import QueryOptions, ResultSet
from node.clock import Clock, SystemClock
from node.config import ClusterConfig, config_from_document, generated_nodes
from node.server.shard_process import ShardRuntime, build_shard
from node.rpc.faults import NetworkFaults
from node.rpc.memory import MemoryNetwork
from node.rpc.transport import ShardId

FAST_FAILURE_DETECTION = ["failure_detector.heartbeat_ms=50", "failure_detector.timeout_ms=400",
                          "group0.tick_ms=20",
                          "timeouts.write_ms=1000", "timeouts.read_ms=1000"]


def cluster_config(nodes: int, shards: int, overrides: list[str] = (), dcs: list[str] | None = None,
                   racks: list[str] | None = None) -> ClusterConfig:
    node_tables = generated_nodes(nodes, shards, 20000)
    for index, table in enumerate(node_tables):
        if dcs:
            table["dc"] = dcs[index]
        if racks:
            table["rack"] = racks[index]
    document = {"name": "test", "nodes": node_tables}
    return config_from_document(document, "<test cluster>", [*FAST_FAILURE_DETECTION, *overrides])


async def wait_for(condition: Callable[[], Any], timeout_s: float = 30.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy, or fail after the deadline
    (generous: a loaded 2-core machine is slow, and polling returns as soon as it holds)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


class LocalCluster:
    def __init__(self, root: Path, config: ClusterConfig, clock: Clock | None = None) -> None:
        self.root = root
        self.config = config
        self.clock = clock or SystemClock()
        self.network = MemoryNetwork(self.clock)
        self.runtimes: dict[str, list[ShardRuntime]] = {}
        self.faults: dict[str, list[NetworkFaults]] = {}

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.config.nodes]

    async def start(self) -> None:
        for name in self.node_names:
            await self.start_node(name, wait=False)
        await self.wait_all_up()

    async def start_node(self, name: str, wait: bool = True) -> None:
        assert name not in self.runtimes, f"{name} is running"
        runtimes, faults = [], []
        for index in range(self.config.node(name).shards):
            shard_faults = NetworkFaults(name)
            transport = self.network.transport(ShardId(name, index), shard_faults)
            clock = self.clock if not isinstance(self.clock, SystemClock) else SystemClock()
            runtime = await build_shard(self.config, name, index, clock=clock,
                                        transport=transport, faults=shard_faults,
                                        data_dir=self.root / name)
            runtimes.append(runtime)
            faults.append(shard_faults)
        for runtime in runtimes:
            await runtime.shard.messaging.transport.start()
            await runtime.start()
        self.runtimes[name] = runtimes
        self.faults[name] = faults
        if wait:
            await self.wait_all_up()

    async def kill(self, name: str) -> None:
        """A crash: the node's shards vanish from the network at once, then are torn down."""
        self.network.disconnect(name)
        for runtime in self.runtimes.pop(name):
            await runtime.aclose()
        self.faults.pop(name)

    def sees(self, observer: str, target: str) -> bool:
        return all(r.shard.failure_detector.is_alive(target) for r in self.runtimes[observer])

    async def wait_all_up(self, timeout_s: float = 30.0) -> None:
        running = list(self.runtimes)
        await wait_for(lambda: all(self.sees(a, b) for a in running for b in running),
                       timeout_s, "every running node to see every other UP")

    async def wait_seen_down(self, name: str, timeout_s: float = 30.0) -> None:
        await wait_for(lambda: all(not self.sees(other, name) for other in self.runtimes if other != name),
                       timeout_s, f"{name} to be seen DOWN")

    def coordinator(self, node: str, shard: int = 0) -> ShardRuntime:
        return self.runtimes[node][shard]

    async def execute(self, node: str, query: str, params: Any = None, *, consistency: str = "ONE",
                      keyspace: str | None = None, shard: int = 0, **options: Any) -> ResultSet:
        processor = self.coordinator(node, shard).processor
        return await processor.execute(query, QueryOptions(keyspace=keyspace, consistency=consistency,
                                                           params=params, **options))

    async def set_faults(self, node: str, body: dict[str, Any]) -> None:
        await self.coordinator(node).shard.run_admin_on_node("faults.set", body)

    async def clear_faults(self, node: str) -> None:
        await self.coordinator(node).shard.run_admin_on_node("faults.clear", {})

    async def aclose(self) -> None:
        for name in list(self.runtimes):
            for runtime in self.runtimes.pop(name):
                await runtime.aclose()
        await self.network.aclose()
