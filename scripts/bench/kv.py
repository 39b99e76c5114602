"""``shardsim bench kv``: QUORUM writes and reads of ~100-byte rows on a launched
3-node x 2-shard cluster (RF=3), from 64 concurrent HTTP clients, beside a bare
aiohttp server answering the same JSON POST in the same run (the ceiling of any
Python HTTP service on this machine). Then each path again, paced at half its peak,
for the p99 a user sees below saturation.

Prints a table, then one JSON line with ``write_ratio``, ``read_ratio`` (over the
ceiling), ``write_p99_ms_at_half_peak`` and ``read_p99_ms_at_half_peak``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from typing import Any

from scripts.bench.launched_cluster import (ROOT, LoadResult, free_port_base, launched_cluster, post_json,
                                   run, run_load)

VALUE = "x" * 100


def serve_bare(port: int) -> None:
    """The baseline: parse the JSON request, answer a result document of the same shape."""
    from aiohttp import web

    async def cql(request: web.Request) -> web.Response:
        body = await request.json()
        params = body.get("params") or [0]
        return web.json_response({"columns": [{"name": "v", "type": "text"}],
                                  "rows": [[VALUE + str(params[0])]], "paging_state": None})

    app = web.Application()
    app.router.add_post("/v1/cql", cql)
    import uvloop
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def _wait_listening(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            run(post_json(url, {"query": "x", "params": [1]}))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def measure_bare(concurrency: int, duration_s: float) -> LoadResult:
    port = free_port_base(1, 1)
    process = subprocess.Popen([sys.executable, "-m", "scripts.bench.kv", "--serve-bare", str(port)],
                               cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}/v1/cql"
        _wait_listening(url)
        return run(run_load(lambda n: (url, {"query": "SELECT v FROM ks.kv WHERE k = ?",
                                             "params": [n], "consistency": "QUORUM"}),
                            concurrency=concurrency, duration_s=duration_s))
    finally:
        process.terminate()
        process.wait(timeout=10)


def _row(name: str, result: LoadResult, ceiling: float | None) -> list[str]:
    ratio = f"{result.rate / ceiling:.2f}" if ceiling else ""
    return [name, f"{result.rate:,.0f}", f"{result.percentile_ms(50):.2f}",
            f"{result.percentile_ms(99):.2f}", str(result.errors), ratio]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shardsim bench kv")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measured phase")
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="3 s phases")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    seconds = 3.0 if args.quick else args.seconds
    concurrency = args.concurrency
    bare = measure_bare(concurrency, seconds)
    with launched_cluster(3, 2) as cluster:
        urls = [f"{url}/v1/cql" for url in cluster.urls]
        run(post_json(urls[0], {"query": "CREATE KEYSPACE ks WITH replication = "
                                         "{'class': 'SimpleStrategy', 'replication_factor': 3}"}))
        run(post_json(urls[0], {"query": "CREATE TABLE ks.kv (k int PRIMARY KEY, v text)"}))
        time.sleep(1.0)  # let heartbeats carry the schema version (a pull is harmless too)
        rng = random.Random(7)
        written: list[int] = []

        def write(n: int) -> tuple[str, dict[str, Any]]:
            key = n % args.keys
            written.append(key)
            return urls[n % len(urls)], {"query": "INSERT INTO ks.kv (k, v) VALUES (?, ?)",
                                         "params": [key, VALUE], "consistency": "QUORUM"}

        def read(n: int) -> tuple[str, dict[str, Any]]:
            key = written[rng.randrange(len(written))]
            return urls[n % len(urls)], {"query": "SELECT v FROM ks.kv WHERE k = ?",
                                         "params": [key], "consistency": "QUORUM"}

        writes = run(run_load(write, concurrency=concurrency, duration_s=seconds))
        reads = run(run_load(read, concurrency=concurrency, duration_s=seconds))
        half_writes = run(run_load(write, concurrency=concurrency, duration_s=seconds,
                                   rate_per_s=max(1.0, writes.rate / 2)))
        half_reads = run(run_load(read, concurrency=concurrency, duration_s=seconds,
                                  rate_per_s=max(1.0, reads.rate / 2)))
    header = ["phase", "ops/s", "p50 ms", "p99 ms", "errors", "of ceiling"]
    rows = [_row("bare aiohttp JSON POST (ceiling)", bare, None),
            _row("QUORUM writes, RF=3", writes, bare.rate),
            _row("QUORUM reads, RF=3", reads, bare.rate),
            _row("QUORUM writes at half peak", half_writes, None),
            _row("QUORUM reads at half peak", half_reads, None)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for line in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))))
    print(f"{concurrency} concurrent clients, {seconds:g} s per phase, 3 nodes x 2 shards, "
          f"~{len(VALUE)}-byte values; errors: writes {writes.error_names} reads {reads.error_names}")
    print(json.dumps({
        "benchmark": "kv", "concurrency": concurrency, "seconds_per_phase": seconds,
        "ceiling_ops_per_s": round(bare.rate), "write_ops_per_s": round(writes.rate),
        "read_ops_per_s": round(reads.rate),
        "write_ratio": round(writes.rate / bare.rate, 3), "read_ratio": round(reads.rate / bare.rate, 3),
        "write_p50_ms": round(writes.percentile_ms(50), 3), "write_p99_ms": round(writes.percentile_ms(99), 3),
        "read_p50_ms": round(reads.percentile_ms(50), 3), "read_p99_ms": round(reads.percentile_ms(99), 3),
        "write_p99_ms_at_half_peak": round(half_writes.percentile_ms(99), 3),
        "read_p99_ms_at_half_peak": round(half_reads.percentile_ms(99), 3),
        "write_errors": writes.errors, "read_errors": reads.errors,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
