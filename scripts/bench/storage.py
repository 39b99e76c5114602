"""``shardsim bench storage``: the storage engine of one shard beside bare baselines.

Measured in one run: writes/s through ``ShardStorage.apply`` (periodic commitlog, the
default) beside a bare loop of ``msgpack`` pack + file append + ``SortedDict`` insert of
the same rows; point reads/s of single rows (partition key and clustering key) from the memtable and
from SSTables beside bare ``SortedDict`` look-ups of the same (token, key, clustering); scan rows/s over all SSTables;
flush MB/s. Rows are ~100 bytes (10 rows per partition). Prints a table, then one JSON
line with ``write_ratio`` and ``read_ratio`` (memtable point reads over the bare
look-ups) beside the raw figures. Nothing here is tuned to the goal.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import structlog
from sortedcontainers import SortedDict

from node.clock import SystemClock
from node.dht.token import token_of
from node.schema.definitions import CLUSTERING, PARTITION_KEY, REGULAR, ColumnDef, TableSchema
from node.storage.engine import ShardStorage
from node.mutation.mutation import Cell, Mutation, Row
from node.readers.ranges import ClusteringRange, ClusteringSlice, PartitionRange
from node.storage.settings import StorageSettings
from node.schema.types import type_named

ROWS_PER_PARTITION = 10
VALUE_BYTES = 80


def _schema() -> TableSchema:
    return TableSchema("bench", "rows", (
        ColumnDef("pk", type_named("bigint"), PARTITION_KEY),
        ColumnDef("ck", type_named("int"), CLUSTERING),
        ColumnDef("v", type_named("text"), REGULAR)), id="bench-rows")


def _mutations(schema: TableSchema, rows: int, timestamp_us: int) -> list[Mutation]:
    rng = random.Random(1)
    out = []
    for index in range(rows):
        pk, ck = divmod(index, ROWS_PER_PARTITION)
        key = schema.serialize_partition_key([pk])
        value = "".join(rng.choices("abcdefghijklmnop", k=VALUE_BYTES)).encode()
        row = Row(Cell(timestamp_us, b""), None, {"v": Cell(timestamp_us, value)})
        out.append(Mutation(schema.id, key, token_of(key),
                            rows={schema.encode_clustering((ck,)): row}))
    return out


class _BareWriter:
    """The write baseline: ``msgpack`` pack + file append + ``SortedDict`` insert."""

    def __init__(self, directory: Path) -> None:
        self.packer = msgpack.Packer(use_bin_type=True)
        self.table = SortedDict()
        self.descriptor = os.open(directory / "bare.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def write(self, mutations: list[Mutation]) -> float:
        """Write ``mutations``; return the seconds it took."""
        packer, table, descriptor = self.packer, self.table, self.descriptor
        started = time.perf_counter()
        for mutation in mutations:
            clustering, row = next(iter(mutation.rows.items()))
            cell = row.cells["v"]
            os.write(descriptor, packer.pack([mutation.table_id, mutation.key, mutation.token,
                                              clustering, cell.timestamp_us, cell.value]))
            table[(mutation.token, mutation.key, clustering)] = row
        return time.perf_counter() - started

    def close(self) -> None:
        os.close(self.descriptor)


def _best_rate(measure: Callable[[], float], repeat: int = 3) -> float:
    """The best of ``repeat`` runs: the figure least disturbed by other processes (the
    machine is shared), used alike for every path and every baseline of reads."""
    return max(measure() for _ in range(repeat))


def _bare_lookups(keys: list[tuple[int, bytes, bytes]], table: SortedDict) -> float:
    rounds = 0
    started = time.perf_counter()
    while True:   # short loops are all noise: run for at least 0.2 s
        for key in keys:
            table[key]
        rounds += 1
        elapsed = time.perf_counter() - started
        if elapsed >= 0.2:
            return rounds * len(keys) / elapsed


def _point_reads(storage: ShardStorage, schema: TableSchema,
                 keys: list[tuple[int, bytes, bytes]]) -> float:
    """``SELECT * WHERE pk = ? AND ck = ?``: one row of one partition per read."""
    now_s = storage.clock.now_s()
    started = time.perf_counter()
    found = 0
    for token, key, clustering in keys:
        one_row = ClusteringSlice((ClusteringRange(clustering, True, clustering, True),))
        reader = storage.make_reader(schema, PartitionRange.single(token, key), one_row, now_s)
        found += sum(1 for fragment in reader.read(100) if fragment.kind == 3)
        reader.close()
    elapsed = time.perf_counter() - started
    assert found == len(keys), f"found {found} of {len(keys)} rows"
    return len(keys) / elapsed


async def _write_all(storage: ShardStorage, mutations: list[Mutation]) -> float:
    """Seconds to apply ``mutations``, yielding to the loop every 1000 writes as a
    server does between requests (that is when background flushes get their turn)."""
    started = time.perf_counter()
    for index, mutation in enumerate(mutations):
        await storage.apply(mutation)
        if index % 1000 == 999:
            await asyncio.sleep(0)
    return time.perf_counter() - started


async def _wait_idle(storage: ShardStorage) -> None:
    while any(table.flushing or table.compaction_lock.locked()
              for table in storage.tables.values()):
        await asyncio.sleep(0.01)


async def _compare_writes(storage: ShardStorage, bare: _BareWriter,
                          mutations: list[Mutation]) -> tuple[float, float]:
    """(path writes/s, bare writes/s), measured in alternating chunks so that noise from
    other processes on the machine falls on both alike. A bare chunk starts only once the
    engine's background flushes and compactions are idle, so they never slow the
    baseline; while the path runs they compete with it for the GIL, as in a server."""
    path_s = bare_s = 0.0
    chunk = 20_000
    for start in range(0, len(mutations), chunk):
        part = mutations[start:start + chunk]
        await _wait_idle(storage)
        bare_s += bare.write(part)
        path_s += await _write_all(storage, part)
    return len(mutations) / path_s, len(mutations) / bare_s


async def run(rows: int, lookups: int, directory: Path) -> dict:
    schema = _schema()
    clock = SystemClock()
    log = structlog.get_logger()
    mutations = _mutations(schema, rows, clock.now_us())
    # the prebuilt input is the client's, not the engine's: keep the cyclic garbage
    # collector from rescanning it (it would slow every path and baseline alike)
    gc.collect()
    gc.freeze()
    row_keys = [(m.token, m.key, next(iter(m.rows))) for m in mutations]
    rng = random.Random(2)
    sample = [rng.choice(row_keys) for _ in range(lookups)]
    results: dict = {"rows": rows, "row_bytes": VALUE_BYTES + 20}

    storage = ShardStorage(directory / "shard", StorageSettings(), clock, log)
    await storage.open([schema])
    bare = _BareWriter(directory)
    results["writes_per_s"], results["bare_writes_per_s"] = await _compare_writes(
        storage, bare, mutations)
    bare.close()

    # point reads of rows still in the memtable, beside bare look-ups of the same rows
    bare_table = SortedDict({row_key: i for i, row_key in enumerate(row_keys)})
    table = storage.tables[schema.id]
    in_memtable = [row_key for row_key in row_keys
                   if (row_key[0], row_key[1]) in table.active.partitions] or row_keys
    memtable_sample = [rng.choice(in_memtable) for _ in range(lookups)]
    results["bare_lookups_per_s"] = _best_rate(lambda: _bare_lookups(memtable_sample, bare_table))
    results["memtable_point_reads_per_s"] = _best_rate(
        lambda: _point_reads(storage, schema, memtable_sample))

    started = time.perf_counter()
    flushed_before = storage.statistics().flushed_bytes
    await storage.flush()
    elapsed = time.perf_counter() - started
    flushed = storage.statistics().flushed_bytes - flushed_before
    results["flush_mb_per_s"] = flushed / elapsed / 1e6 if flushed else 0.0
    await storage.compact()
    stats = storage.statistics()
    results["sstables_after_compaction"] = stats.sstable_count
    results["sstable_point_reads_per_s"] = _best_rate(
        lambda: _point_reads(storage, schema, sample))
    after_reads = storage.statistics()

    reader = storage.make_reader(schema, PartitionRange.full(), ClusteringSlice.full(),
                                 clock.now_s())
    started = time.perf_counter()
    scanned = 0
    while not reader.is_end_of_stream:
        scanned += sum(1 for f in reader.read(1000) if f.kind == 3)
    results["scan_rows_per_s"] = scanned / (time.perf_counter() - started)
    reader.close()
    assert scanned == rows, f"scan saw {scanned} rows of {rows}"
    after_scan = storage.statistics()
    results["scan_sstable_bytes_read"] = after_scan.sstable_bytes_read - after_reads.sstable_bytes_read
    results["scan_sstable_read_ops"] = after_scan.sstable_read_ops - after_reads.sstable_read_ops
    results["point_read_ops_per_lookup"] = (
        (after_reads.sstable_read_ops - stats.sstable_read_ops) / (3 * lookups))
    await storage.aclose()
    results["write_ratio"] = results["writes_per_s"] / results["bare_writes_per_s"]
    results["read_ratio"] = results["memtable_point_reads_per_s"] / results["bare_lookups_per_s"]
    results["sstable_read_ratio"] = (results["sstable_point_reads_per_s"]
                                     / results["bare_lookups_per_s"])
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shardsim bench storage")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="~50k rows, 5k look-ups")
    args = parser.parse_args(argv)
    rows, lookups = (50_000, 5_000) if args.quick else (args.rows, args.lookups)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    directory = Path(tempfile.mkdtemp(prefix="shardsim-bench-storage-"))
    try:
        results = asyncio.run(run(rows, lookups, directory))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    lines = [
        ("writes/s", results["writes_per_s"], results["bare_writes_per_s"], results["write_ratio"]),
        ("point reads/s (memtable)", results["memtable_point_reads_per_s"],
         results["bare_lookups_per_s"], results["read_ratio"]),
        ("point reads/s (sstable)", results["sstable_point_reads_per_s"],
         results["bare_lookups_per_s"], results["sstable_read_ratio"]),
        ("scan rows/s", results["scan_rows_per_s"], None, None),
        ("flush MB/s", results["flush_mb_per_s"], None, None),
    ]
    print(f"storage bench: {rows} rows of ~{results['row_bytes']} bytes")
    print(f"{'path':28} {'rate':>12} {'baseline':>12} {'ratio':>7}")
    for name, rate, baseline, ratio in lines:
        print(f"{name:28} {rate:12.1f} {'' if baseline is None else f'{baseline:12.1f}':>12} "
              f"{'' if ratio is None else f'{ratio:7.3f}':>7}")
    print(json.dumps({key: round(value, 4) if isinstance(value, float) else value
                      for key, value in results.items()}))
    return 0


if __name__ == "__main__":
    import sys
    raise SystemExit(main(sys.argv[1:]))
