"""Crash test: a child process writes and reports each ack; it is SIGKILLed at random
moments (with flushes and compactions running all the time). After every restart each
acknowledged write is readable and no temporary file is taken for an SSTable."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from node.clock import SystemClock
from node.readers.fragments import PartitionStart
from tests.unit.storage.conftest import make_schema, open_storage, read_all

ROOT = Path(__file__).resolve().parents[3]


def run_child_until_killed(directory: Path, first_pk: int, acks_wanted: int) -> set[int]:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.storage.crash_writer", str(directory), str(first_pk)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    acked: set[int] = set()
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("ack "):
                acked.add(int(line.split()[1]))
            if len(acked) >= acks_wanted:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    return acked


async def test_acknowledged_writes_survive_sigkill(tmp_path) -> None:
    rng = random.Random(20261123)
    directory = tmp_path / "shard"
    schema = make_schema()
    acknowledged: set[int] = set()
    sstables_seen = 0
    for round_number in range(5):
        acks_wanted = rng.randrange(50, 600)
        acknowledged |= run_child_until_killed(directory, round_number * 1_000_000, acks_wanted)
        storage = open_storage(directory, SystemClock())
        await storage.open([schema])
        try:
            stats = storage.statistics()
            assert stats.quarantined_sstables == 0
            sstables_seen = max(sstables_seen, stats.sstable_count)
            table_dir = storage.tables[schema.id].directory
            assert not list(table_dir.glob("*.tmp"))
            present = {schema.deserialize_partition_key(f.key)[0]
                       for f in read_all(storage, schema, storage.clock.now_s())
                       if isinstance(f, PartitionStart)}
            missing = acknowledged - present
            assert not missing, f"round {round_number}: lost {sorted(missing)[:10]}"
        finally:
            await storage.aclose()
    assert len(acknowledged) >= 5 * 50
    assert sstables_seen >= 1, "the child never flushed: the test did not cover flushes"
