"""The clients of a fault run: workers that write unique increasing values to a few
keys and read them back, each request through a node chosen at random, recording
every operation in the history.

Table ``nemesis.register (key int PRIMARY KEY, value bigint)``. A worker picks a key;
it writes (with probability ``write_share``) when no other write of that key is in
flight, else it reads. Values of a key come from a per-key counter, taken when the
write is invoked. After the run, ``final_reads`` reads every key at ALL.

Invariant: at most one write per key is in flight (see ``nemesis_history``), and every
request the workers send ends up in the history exactly once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from scripts.cluster_client import CONNECTION_ERROR, AsyncCqlClient, QueryFailed
from scripts.nemesis.history import FAIL, FINAL_READ, OK, READ, UNKNOWN, WRITE, History, Operation

KEYSPACE = "nemesis"
TABLE = "register"
FINAL_READ_ATTEMPTS = 20
REFUSED_BACKOFF_S = 0.05  # a worker whose node refused waits this long, not to spin
FINAL_RETRY_S = 0.5


@dataclass(frozen=True)
class WorkloadSettings:
    keys: int = 16
    workers: int = 8
    write_share: float = 0.5
    write_consistency: str = "QUORUM"
    read_consistency: str = "QUORUM"
    request_timeout_s: float = 10.0
    replication_factor: int = 3


def status_of(error: QueryFailed) -> str:
    return UNKNOWN if error.maybe_applied else FAIL


class RegisterWorkload:
    def __init__(self, settings: WorkloadSettings, client: AsyncCqlClient, nodes: dict[str, str],
                 history: History, rng: random.Random, started: float,
                 now: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self.settings = settings
        self.client = client
        self.nodes = nodes
        self.history = history
        self.rng = rng
        self.started = started
        self.now = now
        self.sleep = sleep
        self.next_value = [0] * settings.keys
        self.writing: set[int] = set()

    def elapsed_s(self) -> float:
        return round(self.now() - self.started, 6)

    async def create_schema(self) -> None:
        url = next(iter(self.nodes.values()))
        await self.client.execute(url, f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = "
                                  f"{{'class': 'SimpleStrategy', 'replication_factor': "
                                  f"{self.settings.replication_factor}}}")
        # a new table each run: values left by an earlier run would look impossible
        await self.client.execute(url, f"DROP TABLE IF EXISTS {KEYSPACE}.{TABLE}")
        await self.client.execute(url, f"CREATE TABLE {KEYSPACE}.{TABLE} "
                                  "(key int PRIMARY KEY, value bigint)")
        for url in self.nodes.values():  # every node must know the table before the faults
            await self.client.execute(url, f"SELECT value FROM {KEYSPACE}.{TABLE} WHERE key = 0")

    async def _request(self, node: str, query: str, params: list, consistency: str) -> dict:
        return await self.client.execute(self.nodes[node], query, params=params, keyspace=KEYSPACE,
                                         consistency=consistency,
                                         timeout_s=self.settings.request_timeout_s)

    async def write(self, key: int, node: str) -> Operation:
        self.next_value[key] += 1
        value = self.next_value[key]
        consistency = self.settings.write_consistency
        start = self.elapsed_s()
        status, error_text = OK, None
        try:
            await self._request(node, f"INSERT INTO {TABLE} (key, value) VALUES (?, ?)", [key, value],
                                consistency)
        except QueryFailed as error:
            status, error_text = status_of(error), error.name
        operation = Operation(WRITE, key, value, status, start, self.elapsed_s(), node, consistency,
                              error_text)
        self.history.operations.append(operation)
        return operation

    async def read(self, key: int, node: str, op: str = READ, consistency: str | None = None) -> Operation:
        consistency = consistency or self.settings.read_consistency
        start = self.elapsed_s()
        value, status, error_text = None, OK, None
        try:
            answer = await self._request(node, f"SELECT value FROM {TABLE} WHERE key = ?", [key],
                                         consistency)
            rows = answer.get("rows") or []
            value = int(rows[0][0]) if rows and rows[0][0] is not None else None
        except QueryFailed as error:
            status, error_text = status_of(error), error.name
        operation = Operation(op, key, value, status, start, self.elapsed_s(), node, consistency,
                              error_text)
        self.history.operations.append(operation)
        return operation

    async def worker(self, index: int, stop: asyncio.Event) -> None:
        rng = random.Random(self.rng.random() + index)
        names = sorted(self.nodes)
        while not stop.is_set():
            key = rng.randrange(self.settings.keys)
            node = rng.choice(names)
            if rng.random() < self.settings.write_share and key not in self.writing:
                self.writing.add(key)
                try:
                    operation = await self.write(key, node)
                finally:
                    self.writing.discard(key)
            else:
                operation = await self.read(key, node)
            if operation.error == CONNECTION_ERROR:
                await self.sleep(REFUSED_BACKOFF_S)

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self.worker(index, stop) for index in range(self.settings.workers)))

    async def final_reads(self) -> None:
        """Every key at ALL, through the nodes in turn, retried until it succeeds."""
        names = sorted(self.nodes)
        for key in range(self.settings.keys):
            for attempt in range(FINAL_READ_ATTEMPTS):
                node = names[(key + attempt) % len(names)]
                operation = await self.read(key, node, FINAL_READ, "ALL")
                if operation.status == OK:
                    break
                if operation.error != CONNECTION_ERROR:
                    await self.sleep(FINAL_RETRY_S)
