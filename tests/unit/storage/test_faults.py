"""Bad input and disk faults: invalid writes, failing flushes, the memory bound,
unreadable SSTables at start, leftover temporary files."""

from __future__ import annotations

import time

import pytest

from node.errors import Invalid, Overloaded
from node.mutation.mutation import Cell, Mutation, Row
from tests.unit.storage.conftest import live_rows, open_storage, read_all


async def wait_until(condition, timeout_s: float = 10.0) -> None:
    import asyncio
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("mutation_of", [
    lambda b: Mutation(b.schema.id, *b.key(1), rows={b.ck(1): Row(None, None, {"w": Cell(1, b"abc")})}),
    lambda b: Mutation(b.schema.id, *b.key(1), rows={b.ck(1): Row(None, None, {"nope": Cell(1, b"a")})}),
    lambda b: Mutation(b.schema.id, *b.key(1), rows={b.ck(1): Row(None, None, {"s": Cell(1, b"a")})}),
    lambda b: Mutation(b.schema.id, *b.key(1), static_row=Row(None, None, {"v": Cell(1, b"a")})),
    lambda b: Mutation(b.schema.id, *b.key(1), rows={b"\x01": Row(None, None, {"v": Cell(1, b"a")})}),
    lambda b: Mutation(b.schema.id, *b.key(1), rows={b.ck(1): Row(None, None, {"v": Cell(1, b"\xff\xfe")})}),
], ids=["int-of-3-bytes", "unknown-column", "static-in-row", "regular-in-static",
        "bad-clustering", "text-not-utf8"])
async def test_invalid_write_never_reaches_commitlog(storage, build, mutation_of) -> None:
    before = storage.statistics().commitlog_records
    with pytest.raises(Invalid):
        await storage.apply(mutation_of(build))
    assert storage.statistics().commitlog_records == before


async def test_failed_flush_keeps_data_refuses_writes_over_bound_then_recovers(
        tmp_path, clock, schema, build) -> None:
    storage = open_storage(tmp_path / "s", clock, memtable_flush_bytes=4096,
                           memtable_memory_limit_bytes=16384)
    await storage.open([schema])
    try:
        storage.set_disk_fail_writes(True, include_commitlog=False)
        await storage.apply(build.insert(1, 0, "first", ts=100))
        acknowledged = [0]
        with pytest.raises(OSError):
            await storage.flush()
        with pytest.raises(Overloaded):
            for ck in range(1, 10_000):
                await storage.apply(build.insert(1, ck, "v" * 40, ts=100))
                acknowledged.append(ck)
        stats = storage.statistics()
        assert stats.writes_refused == 1 and stats.flush_failures >= 1
        assert stats.sstable_count == 0
        rows = live_rows(read_all(storage, schema, clock.now_s()), schema, clock.now_s())
        assert sorted(ck for _, ck in rows) == acknowledged
        storage.set_disk_fail_writes(False)
        clock.advance(2)   # the maintenance task retries after flush_retry_ms
        await wait_until(lambda: not storage.tables[schema.id].flushing)
        assert storage.statistics().sstable_count >= 1
        await storage.apply(build.insert(2, 1, "after", ts=100))   # accepted again
    finally:
        await storage.aclose()
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        rows = live_rows(read_all(again, schema, clock.now_s()), schema, clock.now_s())
        assert sorted(ck for pk, ck in rows if pk == 1) == acknowledged
        assert (2, 1) in rows
    finally:
        await again.aclose()


async def test_failed_commitlog_write_is_not_acknowledged(storage, schema, build, clock) -> None:
    storage.set_disk_fail_writes(True)
    with pytest.raises(OSError):
        await storage.apply(build.insert(1, 1, "lost", ts=100))
    storage.set_disk_fail_writes(False)
    assert live_rows(read_all(storage, schema, clock.now_s()), schema, clock.now_s()) == {}


async def test_unreadable_sstable_is_quarantined(tmp_path, clock, schema, build) -> None:
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    await storage.apply(build.insert(1, 1, "a", ts=100))
    await storage.flush()
    await storage.apply(build.insert(2, 1, "b", ts=100))
    await storage.flush()
    table_dir = storage.tables[schema.id].directory
    await storage.aclose()
    victim = sorted(table_dir.glob("*.sst"))[0]
    victim.write_bytes(victim.read_bytes()[:-5])            # cut the footer
    (table_dir / "00000099.sst.tmp").write_bytes(b"half")   # an interrupted write
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        stats = again.statistics()
        assert stats.quarantined_sstables == 1 and stats.sstable_count == 1
        assert list((tmp_path / "s" / "quarantine").iterdir())
        assert not list(table_dir.glob("*.tmp"))
        rows = live_rows(read_all(again, schema, clock.now_s()), schema, clock.now_s())
        assert set(rows) == {(2, 1)}
    finally:
        await again.aclose()
