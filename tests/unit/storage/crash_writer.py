"""Child process of the crash test: writes forever and prints ``ack <pk>`` after each
acknowledged write, with tiny memtables so that flushes and compactions run all the
time. The parent kills it with SIGKILL at a random moment."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import structlog

from node.clock import SystemClock
from node.storage.engine import ShardStorage
from node.storage.settings import StorageSettings
from tests.unit.storage.conftest import Builder, make_schema


async def main(directory: Path, first_pk: int) -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    schema = make_schema()
    build = Builder(schema)
    clock = SystemClock()
    storage = ShardStorage(directory, StorageSettings(
        commitlog_sync="batch", memtable_flush_bytes=6000, compaction_min_threshold=2,
        commitlog_segment_bytes=16384), clock, structlog.get_logger())
    await storage.open([schema])
    pk = first_pk
    while True:
        await storage.apply(build.insert(pk, pk % 7, "value-%d" % pk, ts=clock.now_us()))
        sys.stdout.write(f"ack {pk}\n")
        sys.stdout.flush()
        pk += 1


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
