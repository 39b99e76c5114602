"""Table life cycle on a shard: truncate and drop survive restarts; statistics add up."""

from __future__ import annotations

from node.readers.ranges import ClusteringSlice, PartitionRange
from tests.unit.storage.conftest import live_rows, open_storage, read_all


async def test_truncate_forgets_data_also_after_restart(tmp_path, clock, schema, build) -> None:
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    await storage.apply(build.insert(1, 1, "flushed", ts=100))
    await storage.flush()
    await storage.apply(build.insert(1, 2, "in commitlog", ts=100))
    storage.truncate(schema.id)
    assert read_all(storage, schema, clock.now_s()) == []
    await storage.apply(build.insert(1, 3, "after", ts=100))
    await storage.aclose()
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        rows = live_rows(read_all(again, schema, clock.now_s()), schema, clock.now_s())
        assert set(rows) == {(1, 3)}
    finally:
        await again.aclose()


async def test_drop_table_removes_its_files(tmp_path, clock, schema, build) -> None:
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    try:
        await storage.apply(build.insert(1, 1, "x", ts=100))
        await storage.flush()
        directory = storage.tables[schema.id].directory
        assert directory.exists() and storage.disk_bytes() > 0
        storage.drop_table(schema.id)
        assert not directory.exists()
        assert storage.statistics().sstable_count == 0
    finally:
        await storage.aclose()


async def test_statistics_count_flushes_and_reads(storage, schema, build, clock) -> None:
    for pk in range(10):
        await storage.apply(build.insert(pk, 1, "x", ts=100))
    stats = storage.statistics()
    assert stats.commitlog_records == 10 and stats.commitlog_bytes > 0
    assert stats.memtable_bytes > 0 and stats.commitlog_syncs >= 1
    await storage.flush()
    before = storage.statistics()
    read_all(storage, schema, clock.now_s())
    after = storage.statistics()
    assert after.flushes == 1 and after.sstable_count == 1 and after.sstable_bytes > 0
    assert after.partitions_read - before.partitions_read == 10
    assert after.rows_read - before.rows_read == 10
    assert after.sstable_read_ops - before.sstable_read_ops == 1   # one block
    assert after.sstable_bytes_read > before.sstable_bytes_read


async def test_pending_compactions_and_a_failed_compaction_keeps_inputs(tmp_path, clock, schema,
                                                                        build) -> None:
    import pytest
    storage = open_storage(tmp_path / "s", clock, compaction_min_threshold=2,
                           background_compaction=False)
    await storage.open([schema])
    try:
        for round_number in range(4):
            await storage.apply(build.insert(round_number, 1, "x", ts=100))
            await storage.flush()
        stats = storage.statistics()
        assert stats.sstable_count == 4 and stats.pending_compactions >= 1
        storage.set_disk_fail_writes(True, include_commitlog=False)
        with pytest.raises(OSError):
            await storage.compact()
        storage.set_disk_fail_writes(False)
        stats = storage.statistics()
        assert stats.sstable_count == 4 and stats.compaction_failures == 1
        assert len(live_rows(read_all(storage, schema, clock.now_s()), schema, clock.now_s())) == 4
        await storage.compact()
        stats = storage.statistics()
        assert stats.sstable_count == 1 and stats.pending_compactions == 0
        assert not list(storage.tables[schema.id].directory.glob("*.tmp"))
    finally:
        await storage.aclose()


async def test_truncated_sstable_a_reader_still_held_at_a_crash_is_not_loaded(
        tmp_path, clock, schema, build) -> None:
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    for ck in range(3):
        await storage.apply(build.insert(1, ck, "truncated", ts=100))
    await storage.flush()
    reader = storage.make_reader(schema, PartitionRange.full(), ClusteringSlice.full(),
                                 clock.now_s())
    reader.read(1)   # holds the SSTable, as a cached querier does
    storage.truncate(schema.id)
    table_dir = storage.tables[schema.id].directory
    assert len(list(table_dir.glob("*.sst"))) == 1
    await storage.apply(build.insert(1, 9, "after", ts=100))
    await storage.aclose()   # the shard dies with the reader open: the file stays
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        rows = live_rows(read_all(again, schema, clock.now_s()), schema, clock.now_s())
        assert set(rows) == {(1, 9)}
        assert list(table_dir.glob("*.sst")) == []
    finally:
        reader.close()
        await again.aclose()


async def test_sstable_a_flush_renamed_during_truncate_is_not_loaded(
        tmp_path, clock, schema, build) -> None:
    """The flush's own unlink of its obsolete file is lost in a crash."""
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    await storage.apply(build.insert(1, 1, "truncated", ts=100))
    await storage.flush()
    table_dir = storage.tables[schema.id].directory
    [path] = table_dir.glob("*.sst")
    saved = path.read_bytes()
    storage.truncate(schema.id)
    await storage.aclose()
    path.write_bytes(saved)
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        assert read_all(again, schema, clock.now_s()) == []
        assert not path.exists()
        assert again.tables[schema.id].truncated_at is not None
    finally:
        await again.aclose()
