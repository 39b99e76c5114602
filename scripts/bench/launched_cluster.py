"""What the cluster benchmarks share: a launched cluster on free ports, and an HTTP
load generator with HDR latency histograms.

``launched_cluster`` runs ``shardsim up --detach`` in a temporary data dir (as a user
would) and always runs ``shardsim down`` after. ``run_load`` drives ``concurrency``
workers for a duration (or a count), optionally paced to a total rate, and records
every latency in an HDR histogram (1 µs to 60 s, 3 significant digits).

Invariant: a worker has one request in flight; the pacing never lets the offered rate
exceed ``rate_per_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from hdrh.histogram import HdrHistogram

ROOT = Path(__file__).resolve().parents[1]


def _ports_free(ports: list[int]) -> bool:
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port_base(nodes: int, shards: int) -> int:
    """A base P such that the ports of ``generated_nodes(nodes, shards, P)`` are free."""
    chooser = random.Random()
    for _ in range(200):
        base = chooser.randrange(20000, 60000 - 100 * nodes, 100)
        wanted = [p for i in range(nodes)
                  for p in [base + 100 * i] + [base + 100 * i + 10 + s for s in range(shards)]]
        if _ports_free(wanted):
            return base
    raise RuntimeError("no free port range found")


def shardsim(*args: str, timeout_s: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scripts.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout_s)


@dataclass
class Cluster:
    data_dir: Path
    nodes: list[dict[str, Any]]

    @property
    def urls(self) -> list[str]:
        return [node["http"] for node in self.nodes]


@contextlib.contextmanager
def launched_cluster(nodes: int = 3, shards: int = 2, settings: tuple[str, ...] = ()) -> Iterator[Cluster]:
    data_dir = Path(tempfile.mkdtemp(prefix="shardsim-bench-"))
    args = ["up", "--detach", "--config", str(ROOT / "cluster.toml"), "--data-dir", str(data_dir),
            "--nodes", str(nodes), "--shards", str(shards),
            "--port-base", str(free_port_base(nodes, shards))]
    for setting in settings:
        args += ["--set", setting]
    try:
        result = shardsim(*args)
        if result.returncode != 0:
            raise RuntimeError(f"shardsim up failed: {result.stdout}{result.stderr}")
        info = json.loads((data_dir / "cluster.json").read_text())
        yield Cluster(data_dir, info["nodes"])
    finally:
        shardsim("down", "--data-dir", str(data_dir))
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class LoadResult:
    operations: int = 0
    errors: int = 0
    seconds: float = 0.0
    histogram: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, 60_000_000, 3))
    error_names: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    def percentile_ms(self, percentile: float) -> float:
        return self.histogram.get_value_at_percentile(percentile) / 1000


Request = Callable[[int], tuple[str, dict[str, Any]]]  # sequence number -> (url, json body)


async def run_load(request_of: Request, *, concurrency: int, duration_s: float,
                   rate_per_s: float | None = None) -> LoadResult:
    """Send requests for ``duration_s`` from ``concurrency`` workers; each answer that is
    not HTTP 200 counts as an error (by its CQL error name)."""
    result = LoadResult()
    counter = iter(range(1 << 62))
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    started = time.perf_counter()
    deadline = started + duration_s
    interval = concurrency / rate_per_s if rate_per_s else 0.0

    async def worker(session: aiohttp.ClientSession, offset: float) -> None:
        next_start = started + offset
        while True:
            if interval:
                delay = next_start - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_start += interval
            if time.perf_counter() >= deadline:
                return
            url, body = request_of(next(counter))
            sent = time.perf_counter()
            try:
                async with session.post(url, json=body) as response:
                    payload = await response.read()
                    ok = response.status == 200
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                ok, payload = False, type(error).__name__.encode()
            elapsed_us = int((time.perf_counter() - sent) * 1_000_000)
            if ok:
                result.operations += 1
                result.histogram.record_value(max(1, min(elapsed_us, 60_000_000)))
            else:
                result.errors += 1
                name = _error_name(payload)
                result.error_names[name] = result.error_names.get(name, 0) + 1

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session, interval * i / concurrency) for i in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def _error_name(payload: bytes) -> str:
    try:
        return json.loads(payload)["error"]["name"]
    except (ValueError, KeyError, TypeError):
        return payload[:40].decode(errors="replace") or "error"


async def post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body) as response:
            payload = await response.json()
            if response.status != 200:
                raise RuntimeError(f"{url}: {response.status} {payload}")
            return payload


def run(coroutine: Awaitable[Any]) -> Any:
    try:
        import uvloop
        return uvloop.run(coroutine)
    except ImportError:  # pragma: no cover
        return asyncio.run(coroutine)
