"""``shardsim bench hints``: hinted handoff replay rate beside direct delivery.

An in-process 3-node x 2-shard cluster (``scripts/local_cluster.LocalCluster``: every
shard built by ``build_shard`` as a process builds it, over the in-memory transport,
all in one event loop). n3 is killed; N rows are written at QUORUM through n1 and n2
(64 concurrent); n3 is started. Measured: time from the first coordinator seeing n3
UP to the last hint acknowledged, and hints/s. Baseline in the same run: the same
mutations (read back from the hint files before replay) sent again straight to n3's
owning shards with the MUTATION verb, from the same coordinator shards with the
same number in flight. The ratio is replay rate / direct rate (goal >= 0.5).

Also measured: the cost of a durable hint write, grouped fsync (64 writers waiting
together share one fsync) beside one fsync per hint.

Prints a table, then one JSON line with ``replay_ratio`` and the raw figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from node.hints.segment import decode_payload, list_segment_ids, read_records, segment_name
from node.hints.sender import IN_FLIGHT_MAX
from node.hints.store import HintStore
from node.logsetup import configure_quiet_logging
from node.dht.sharding import shard_of
from node.rpc.transport import ShardId
from node.rpc.verbs import Verb

WRITERS = 64


async def _write_rows(cluster: Any, rows: int) -> float:
    next_key = iter(range(rows))
    coordinators = [(node, shard) for node in ("n1", "n2") for shard in (0, 1)]

    async def writer(index: int) -> None:
        node, shard = coordinators[index % len(coordinators)]
        for k in next_key:
            await cluster.execute(node, "INSERT INTO ks.t (k, v) VALUES (?, ?)", [k, "x" * 100],
                                  consistency="QUORUM", shard=shard)

    started = time.perf_counter()
    await asyncio.gather(*(writer(i) for i in range(WRITERS)))
    return rows / (time.perf_counter() - started)


def _hint_wires(runtime: Any, target: str) -> list[list[Any]]:
    """The mutations in a coordinator shard's hint files for ``target``, in order."""
    folder = runtime.hints.directory / target
    wires = []
    for segment_id in list_segment_ids(folder):
        for record in read_records((folder / segment_name(segment_id)).read_bytes()):
            wires.append(decode_payload(record.payload)[1])
    return wires


async def _send_direct(runtime: Any, target: str, wires: list[list[Any]]) -> None:
    shard = runtime.shard
    semaphore = asyncio.Semaphore(IN_FLIGHT_MAX)

    async def send(wire: list[Any]) -> None:
        async with semaphore:
            owner = shard_of(wire[2], shard.shards_of(target), shard.config.sharding_ignore_msb)
            await shard.messaging.send(Verb.MUTATION, ShardId(target, owner), wire, timeout_s=10)

    await asyncio.gather(*(send(wire) for wire in wires))


async def _replay_and_direct(rows: int, root: Path) -> dict[str, Any]:
    from scripts.testing.local_cluster import LocalCluster, cluster_config

    # The defaults of failure detection (not the tests' fast ones): one event loop busy
    # writing 50k rows must not make the live nodes think each other DOWN.
    config = cluster_config(3, 2, ["hints.retry_ms=1000", "timeouts.write_ms=5000",
                                   "failure_detector.heartbeat_ms=500",
                                   "failure_detector.timeout_ms=2000"])
    cluster = LocalCluster(root, config)
    await cluster.start()
    try:
        await cluster.execute("n1", "CREATE KEYSPACE ks WITH replication = "
                                    "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        await cluster.execute("n1", "CREATE TABLE ks.t (k int PRIMARY KEY, v text)")
        await cluster.kill("n3")
        await cluster.wait_seen_down("n3")
        write_rate = await _write_rows(cluster, rows)
        coordinators = [r for node in ("n1", "n2") for r in cluster.runtimes[node]]
        wires = {id(r): _hint_wires(r, "n3") for r in coordinators}
        hints = sum(len(w) for w in wires.values())
        sent_before = sum(r.hints.counters.sent for r in coordinators)
        seen_up: list[float] = []
        for runtime in coordinators:
            runtime.shard.failure_detector.subscribe(
                lambda node, state: seen_up.append(time.perf_counter())
                if node == "n3" and state == "UP" else None)
        await cluster.start_node("n3", wait=False)
        while sum(r.hints.counters.sent for r in coordinators) - sent_before < hints:
            await asyncio.sleep(0.005)
        done = time.perf_counter()
        replay_s = done - min(seen_up)
        errors = sum(r.hints.counters.send_errors for r in coordinators)
        started = time.perf_counter()
        await asyncio.gather(*(_send_direct(r, "n3", wires[id(r)]) for r in coordinators))
        direct_s = time.perf_counter() - started
        return {"rows": rows, "hints": hints, "write_rows_per_s": round(write_rate),
                "replay_s": round(replay_s, 3), "replay_hints_per_s": round(hints / replay_s),
                "direct_s": round(direct_s, 3), "direct_mutations_per_s": round(hints / direct_s),
                "replay_send_errors": errors,
                "replay_ratio": round((hints / replay_s) / (hints / direct_s), 3)}
    finally:
        await cluster.aclose()


async def _store_rates(count: int, root: Path) -> dict[str, Any]:
    """Durable hint writes: 64 writers sharing fsyncs, beside one writer fsyncing each."""
    import structlog

    record = b"\0" * 160
    from node.hints.segment import frame
    framed = frame(record)
    results = {}
    for name, writers in (("grouped", WRITERS), ("per_hint", 1)):
        store = HintStore(root / name, 8 << 20, structlog.get_logger())
        store.open()
        remaining = iter(range(count))

        async def writer() -> None:
            for _ in remaining:
                await store.wait_durable(store.append(framed))

        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(writers)))
        results[f"store_{name}_hints_per_s"] = round(count / (time.perf_counter() - started))
        results[f"store_{name}_fsyncs"] = store.syncs
        await store.aclose()
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shardsim bench hints")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--quick", action="store_true", help="3,000 rows")
    args = parser.parse_args(argv)
    configure_quiet_logging()
    rows = 3_000 if args.quick else args.rows
    root = Path(tempfile.mkdtemp(prefix="bench-hints-"))
    try:
        import uvloop
        figures = uvloop.run(_replay_and_direct(rows, root / "cluster"))
        figures.update(uvloop.run(_store_rates(min(rows, 5_000), root / "store")))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{'phase':<34} {'count':>8} {'seconds':>8} {'per s':>9}")
    print(f"{'write at QUORUM, n3 down':<34} {rows:>8} {'':>8} {figures['write_rows_per_s']:>9,}")
    print(f"{'replay: n3 UP -> last hint acked':<34} {figures['hints']:>8} {figures['replay_s']:>8} "
          f"{figures['replay_hints_per_s']:>9,}")
    print(f"{'direct MUTATION to n3 shards':<34} {figures['hints']:>8} {figures['direct_s']:>8} "
          f"{figures['direct_mutations_per_s']:>9,}")
    print(f"{'durable hint writes, grouped fsync':<34} {'':>8} {'':>8} "
          f"{figures['store_grouped_hints_per_s']:>9,}")
    print(f"{'durable hint writes, fsync each':<34} {'':>8} {'':>8} "
          f"{figures['store_per_hint_hints_per_s']:>9,}")
    print(f"replay ratio (replay / direct): {figures['replay_ratio']}")
    print(json.dumps({"benchmark": "hints", **figures}))
    return 0
