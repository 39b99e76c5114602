"""``shardsim bench scan``: full-table scans, stateless against stateful paging.

The seed experiment of ScyllaDB 3.0's stateful range scans, scaled to this machine.
One data folder, a launched 3-node x 2-shard cluster (RF=1): a table of partitions
1% large, 20% medium and the rest small is written through the HTTP API (batches),
flushed and compacted; then the cluster is stopped and launched again on the same
files twice, first with ``--set paging.stateful=false`` then with ``true``. Each run
has ``--clients`` concurrent HTTP clients doing full scans (``SELECT *``, page size
``--page-size``) for ``--duration-s``; the nodes' ``/metrics`` before and after give
bytes and read operations on SSTables, rows read and discarded, pages.

Two in-process experiments follow (``scripts/testing/local_cluster.py``, in-memory transport):
on a sparse table (rows in 2 of 48 vnodes) the time to fill the first page with the
adaptive concurrency against a fixed concurrency of 1, with a 1 ms one-way delay on
every message between nodes (an event loop has no latency of its own, and latency is
what parallel rounds save); on a dense table the rows read
and discarded per page, stateless and stateful.

Prints a table, then one JSON line with ``throughput_ratio`` (stateful over
stateless scans/s), ``bytes_read_reduction``, ``read_ops_reduction`` (fractions:
0.4 is 40% fewer) and ``sparse_speedup`` (adaptive over fixed) beside the raw figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from scripts.bench.launched_cluster import ROOT, free_port_base, shardsim

SPARSE_DELAY_MS = 1.0   # one-way network delay in the in-process sparse experiment

METRICS = ("storage_sstable_bytes_read", "storage_sstable_read_ops", "range_scan_pages",
           "range_scan_rows_read", "range_scan_rows_discarded", "multishard_query_unpopped_fragments",
           "querier_cache_lookups", "querier_cache_misses", "querier_cache_drops")


def post(url: str, body: dict[str, Any], timeout_s: float = 120) -> dict[str, Any]:
    request = urllib.request.Request(url + "/v1/cql", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        return json.loads(answer.read())


def admin(url: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=600).read()


def metrics_of(urls: list[str]) -> dict[str, float]:
    totals = {name: 0.0 for name in METRICS}
    pattern = re.compile(r"^shardsim_(\w+)\{[^}]*\} ([0-9.e+-]+)$")
    for url in urls:
        text = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()
        for line in text.splitlines():
            match = pattern.match(line)
            if match and match.group(1) in totals:
                totals[match.group(1)] += float(match.group(2))
    return totals


def partition_sizes(partitions: int, large_rows: int, medium_rows: int, small_rows: int) -> list[int]:
    large = max(1, partitions // 100)
    medium = partitions // 5
    sizes = [large_rows] * large + [medium_rows] * medium + [small_rows] * (partitions - large - medium)
    random.Random(5).shuffle(sizes)
    return sizes


async def populate(url: str, sizes: list[int], value_bytes: int) -> int:
    value = "v" * value_bytes
    statements: list[str] = []
    for key, rows in enumerate(sizes):
        for first in range(0, rows, 100):
            inserts = " ".join(f"INSERT INTO bench.t (k, c, v) VALUES ({key}, {c}, '{value}');"
                               for c in range(first, min(rows, first + 100)))
            statements.append(f"BEGIN UNLOGGED BATCH {inserts} APPLY BATCH")
    queue = iter(statements)
    async with aiohttp.ClientSession() as session:
        async def worker() -> None:
            for statement in queue:
                async with session.post(url + "/v1/cql", json={"query": statement}) as answer:
                    if answer.status != 200:
                        raise RuntimeError(await answer.text())

        await asyncio.gather(*(worker() for _ in range(32)))
    return sum(sizes)


async def scan_load(urls: list[str], clients: int, duration_s: float, page_size: int,
                    expected_rows: int) -> dict[str, float]:
    scans = rows = pages = 0
    wrong = 0
    deadline = time.perf_counter() + duration_s
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async def client(index: int) -> None:
            nonlocal scans, rows, pages, wrong
            turn = index
            while time.perf_counter() < deadline:
                state, seen = None, 0
                while True:
                    url = urls[turn % len(urls)]   # each page may go to another coordinator
                    turn += 1
                    body = {"query": "SELECT * FROM bench.t", "page_size": page_size,
                            "paging_state": state}
                    async with session.post(url + "/v1/cql", json=body) as answer:
                        document = await answer.json()
                    if "error" in document:
                        raise RuntimeError(document["error"])
                    seen += len(document["rows"])
                    pages += 1
                    state = document["paging_state"]
                    if state is None:
                        break
                rows += seen
                scans += 1
                wrong += seen != expected_rows

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        seconds = time.perf_counter() - started
    return {"scans": scans, "rows": rows, "pages": pages, "seconds": seconds,
            "scans_per_s": scans / seconds, "rows_per_s": rows / seconds, "wrong_scans": wrong}


def launch(data_dir: Path, port_base: int, settings: list[str]) -> list[str]:
    args = ["up", "--detach", "--config", str(ROOT / "cluster.toml"), "--data-dir", str(data_dir),
            "--nodes", "3", "--shards", "2", "--port-base", str(port_base)]
    for setting in settings:
        args += ["--set", setting]
    result = shardsim(*args)
    if result.returncode != 0:
        raise RuntimeError(f"shardsim up failed: {result.stdout}{result.stderr}")
    info = json.loads((data_dir / "cluster.json").read_text())
    return [node["http"] for node in info["nodes"]]


def run_mode(data_dir: Path, port_base: int, stateful: bool, args: argparse.Namespace,
             expected_rows: int) -> dict[str, Any]:
    urls = launch(data_dir, port_base, [f"paging.stateful={str(stateful).lower()}"])
    try:
        post(urls[0], {"query": "SELECT COUNT(*) FROM bench.t"})   # warm up every path
        before = metrics_of(urls)
        load = asyncio.run(scan_load(urls, args.clients, args.duration_s, args.page_size, expected_rows))
        after = metrics_of(urls)
    finally:
        shardsim("down", "--data-dir", str(data_dir))
    return {**load, **{name: after[name] - before[name] for name in METRICS}}


def build_table(data_dir: Path, port_base: int, sizes: list[int], value_bytes: int) -> int:
    urls = launch(data_dir, port_base, [])
    try:
        post(urls[0], {"query": "CREATE KEYSPACE bench WITH replication = "
                                "{'class': 'SimpleStrategy', 'replication_factor': 1}"})
        post(urls[0], {"query": "CREATE TABLE bench.t (k int, c int, v text, PRIMARY KEY (k, c))"})
        rows = asyncio.run(populate(urls[0], sizes, value_bytes))
        for url in urls:
            admin(url, "/v1/admin/flush", {"keyspace": "bench"})
            admin(url, "/v1/admin/compact", {"keyspace": "bench"})
    finally:
        shardsim("down", "--data-dir", str(data_dir))
    return rows


# -- in-process experiments -----------------------------------------------------------


async def sparse_and_dense(root: Path, repeats: int) -> dict[str, Any]:
    from node.logsetup import configure_quiet_logging
    from node.dht.token import token_of
    from scripts.testing.local_cluster import LocalCluster, cluster_config

    configure_quiet_logging()
    out: dict[str, Any] = {}
    cluster = LocalCluster(root / "sparse", cluster_config(3, 2, ["hints.enabled=false"]))
    await cluster.start()
    try:
        await cluster.execute("n1", "CREATE KEYSPACE s WITH replication = "
                                    "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        await cluster.execute("n1", "CREATE TABLE s.t (k int PRIMARY KEY, v int)")
        ring = cluster.coordinator("n1").shard.ring
        last_vnodes = (ring.tokens[-3], ring.tokens[-1])   # rows only in the last 2 vnodes
        placed, key = 0, 0
        while placed < 40:
            token = token_of(key.to_bytes(4, "big", signed=True))
            if last_vnodes[0] < token <= last_vnodes[1]:
                await cluster.execute("n1", "INSERT INTO s.t (k, v) VALUES (?, 1)", [key])
                placed += 1
            key += 1
        scanner = cluster.coordinator("n1").processor.scanner
        # One event loop has no network latency, and it is latency that rounds of
        # parallel requests save: every node delays what it sends by SPARSE_DELAY_MS.
        for name in cluster.node_names:
            await cluster.set_faults(name, {"delay_ms": {other: SPARSE_DELAY_MS for other in
                                                         cluster.node_names if other != name}})
        for name, fixed in (("adaptive", None), ("fixed", 1)):
            scanner.fixed_concurrency = fixed
            started = time.perf_counter()
            for _ in range(repeats):
                page = await cluster.execute("n1", "SELECT k FROM s.t", page_size=10)
                assert len(page.rows) == 10
            out[f"sparse_first_page_ms_{name}"] = (time.perf_counter() - started) * 1000 / repeats
        scanner.fixed_concurrency = None
        out["sparse_speedup"] = out["sparse_first_page_ms_fixed"] / out["sparse_first_page_ms_adaptive"]
    finally:
        await cluster.aclose()
    for stateful in (False, True):
        cluster = LocalCluster(root / f"dense-{stateful}",
                               cluster_config(3, 2, [f"paging.stateful={str(stateful).lower()}"]))
        await cluster.start()
        try:
            await cluster.execute("n1", "CREATE KEYSPACE d WITH replication = "
                                        "{'class': 'SimpleStrategy', 'replication_factor': 1}")
            await cluster.execute("n1", "CREATE TABLE d.t (k int, c int, v int, PRIMARY KEY (k, c))")
            for key in range(300):
                for c in range(5):
                    await cluster.execute("n1", "INSERT INTO d.t (k, c, v) VALUES (?, ?, 0)", [key, c])
            scanners = [r.processor.scanner for rs in cluster.runtimes.values() for r in rs]
            before = [(s.stats.rows_read, s.stats.rows_discarded, s.stats.pages) for s in scanners]
            state = None
            while True:
                page = await cluster.execute("n1", "SELECT k, c FROM d.t", page_size=100,
                                             paging_state=state)
                state = page.paging_state
                if state is None:
                    break
            after = [(s.stats.rows_read, s.stats.rows_discarded, s.stats.pages) for s in scanners]
            read, discarded, pages = (sum(a[i] - b[i] for a, b in zip(after, before)) for i in range(3))
            mode = "stateful" if stateful else "stateless"
            out[f"dense_rows_read_per_page_{mode}"] = read / pages
            out[f"dense_rows_discarded_per_page_{mode}"] = discarded / pages
        finally:
            await cluster.aclose()
    return out


def _reduction(before: float, after: float) -> float:
    return round(1 - after / before, 3) if before else 0.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shardsim bench scan")
    parser.add_argument("--quick", action="store_true", help="a small table and short runs")
    parser.add_argument("--partitions", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration-s", type=float, default=40.0)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args(argv)
    large_rows, medium_rows, small_rows, value_bytes = 1000, 50, 5, 100
    if args.quick:
        args.partitions, args.duration_s, args.clients = 300, 8.0, 3
        large_rows, medium_rows, small_rows = 300, 20, 3
    sizes = partition_sizes(args.partitions, large_rows, medium_rows, small_rows)
    data_dir = Path(tempfile.mkdtemp(prefix="shardsim-bench-scan-"))
    try:
        port_base = free_port_base(3, 2)
        rows = build_table(data_dir, port_base, sizes, value_bytes)
        runs = {mode: run_mode(data_dir, port_base, mode == "stateful", args, rows)
                for mode in ("stateless", "stateful")}
    finally:
        shardsim("down", "--data-dir", str(data_dir))
        shutil.rmtree(data_dir, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="shardsim-bench-scan-") as root:
        extra = asyncio.run(sparse_and_dense(Path(root), 5 if args.quick else 20))
    stateless, stateful = runs["stateless"], runs["stateful"]
    print(f"table: {len(sizes)} partitions ({sizes.count(large_rows)} of {large_rows} rows, "
          f"{sizes.count(medium_rows)} of {medium_rows}, the rest of {small_rows}), {rows} rows of "
          f"~{value_bytes} bytes, RF=1, flushed and compacted; {args.clients} clients, page size "
          f"{args.page_size}, {args.duration_s:g} s per mode")
    print(f"{'':28}{'stateless':>14}{'stateful':>14}")
    for label, key in (("scans/s", "scans_per_s"), ("rows/s", "rows_per_s"),
                       ("SSTable bytes read / scan", "storage_sstable_bytes_read"),
                       ("SSTable read ops / scan", "storage_sstable_read_ops"),
                       ("rows discarded / scan", "range_scan_rows_discarded"),
                       ("unpopped fragments / scan", "multishard_query_unpopped_fragments")):
        values = []
        for run in (stateless, stateful):
            value = run[key] if key.endswith("_per_s") else run[key] / max(1, run["scans"])
            values.append(f"{value:14,.1f}")
        print(f"{label:28}{''.join(values)}")
    print(f"sparse table, first page: adaptive {extra['sparse_first_page_ms_adaptive']:.1f} ms, "
          f"fixed concurrency 1 {extra['sparse_first_page_ms_fixed']:.1f} ms (1 ms one-way network delay)")
    print(f"dense table, per page of 100: rows read {extra['dense_rows_read_per_page_stateless']:.1f} / "
          f"{extra['dense_rows_read_per_page_stateful']:.1f}, discarded "
          f"{extra['dense_rows_discarded_per_page_stateless']:.1f} / "
          f"{extra['dense_rows_discarded_per_page_stateful']:.1f} (stateless / stateful)")
    per_scan = {f"{mode}_{key}_per_scan": round(run[key] / max(1, run["scans"]), 1)
                for mode, run in runs.items() for key in METRICS}
    summary = {
        "benchmark": "scan", "quick": args.quick, "partitions": len(sizes), "rows": rows,
        "clients": args.clients, "page_size": args.page_size, "duration_s": args.duration_s,
        "stateless_scans_per_s": round(stateless["scans_per_s"], 3),
        "stateful_scans_per_s": round(stateful["scans_per_s"], 3),
        "stateless_rows_per_s": round(stateless["rows_per_s"]),
        "stateful_rows_per_s": round(stateful["rows_per_s"]),
        "wrong_scans": stateless["wrong_scans"] + stateful["wrong_scans"],
        "throughput_ratio": round(stateful["scans_per_s"] / max(stateless["scans_per_s"], 1e-9), 3),
        "bytes_read_reduction": _reduction(per_scan["stateless_storage_sstable_bytes_read_per_scan"],
                                           per_scan["stateful_storage_sstable_bytes_read_per_scan"]),
        "read_ops_reduction": _reduction(per_scan["stateless_storage_sstable_read_ops_per_scan"],
                                         per_scan["stateful_storage_sstable_read_ops_per_scan"]),
        **per_scan, **{key: round(value, 3) for key, value in extra.items()},
    }
    print(json.dumps(summary))
    return 0
