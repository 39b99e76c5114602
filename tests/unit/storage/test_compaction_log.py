"""A compaction that dropped a tombstone with the data it shadowed: however its
inputs' deletion is cut short by a crash, the data never comes back."""

from __future__ import annotations

from node.storage.compaction_log import LOG_NAME
from tests.unit.storage.conftest import Builder, live_rows, make_schema, open_storage, read_all


def _logs(directory) -> list:
    return [entry for entry in directory.iterdir() if LOG_NAME.match(entry.name)]


async def _data_then_tombstone_compacted(storage, build, clock):
    """Data D in one SSTable, tombstone T over it in another, both gc-able; compact
    while something (a reader) holds the SSTable of D. Returns that SSTable."""
    now = int(clock.now_s())
    await storage.apply(build.insert(1, 1, "resurrected?", ts=100))
    await storage.apply(build.insert(1, 2, "kept", ts=100))
    await storage.flush()
    table = storage.tables[build.schema.id]
    [data_sstable] = table.sstables
    await storage.apply(build.delete_row(1, 1, ts=200, now_s=now))
    await storage.flush()
    clock.advance(1000)   # past gc_grace: the compaction drops T and D
    held = data_sstable.acquire()   # as an open reader does
    await storage.compact()
    assert data_sstable not in table.sstables and len(table.sstables) == 1
    return held


async def test_a_crash_while_an_input_is_held_does_not_resurrect_purged_data(tmp_path,
                                                                             clock) -> None:
    schema = make_schema(gc_grace_seconds=100)
    build = Builder(schema)
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    held = await _data_then_tombstone_compacted(storage, build, clock)
    table_dir = storage.tables[schema.id].directory
    assert held.path.exists()   # the tombstone's SSTable is gone, the data's is held
    await storage.aclose()      # the shard dies with the reader open
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        rows = live_rows(read_all(again, schema, clock.now_s()), schema, clock.now_s())
        assert set(rows) == {(1, 2)}
        assert not held.path.exists()
        assert _logs(table_dir) == []
    finally:
        held.release()
        await again.aclose()


async def test_the_log_goes_once_every_input_is_deleted(tmp_path, clock) -> None:
    schema = make_schema(gc_grace_seconds=100)
    build = Builder(schema)
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    try:
        held = await _data_then_tombstone_compacted(storage, build, clock)
        table_dir = storage.tables[schema.id].directory
        assert len(_logs(table_dir)) == 1
        held.release()   # the reader lets go: the last input is deleted
        assert not held.path.exists()
        assert _logs(table_dir) == []
        assert len(list(table_dir.glob("*.sst"))) == 1
        rows = live_rows(read_all(storage, schema, clock.now_s()), schema, clock.now_s())
        assert set(rows) == {(1, 2)}
    finally:
        await storage.aclose()


async def test_a_crash_before_the_log_keeps_every_input(tmp_path, clock) -> None:
    """No log: the output may be there too, but no input was deleted, so the
    tombstone still shadows the data."""
    schema = make_schema(gc_grace_seconds=100)
    build = Builder(schema)
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    now = int(clock.now_s())
    await storage.apply(build.insert(1, 1, "deleted", ts=100))
    await storage.flush()
    await storage.apply(build.delete_row(1, 1, ts=200, now_s=now))
    await storage.flush()
    table_dir = storage.tables[schema.id].directory
    saved = {path: path.read_bytes() for path in table_dir.glob("*.sst")}
    clock.advance(1000)
    await storage.compact()
    await storage.aclose()
    for log in _logs(table_dir):
        log.unlink()
    for path, data in saved.items():
        path.write_bytes(data)
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        assert live_rows(read_all(again, schema, clock.now_s()), schema, clock.now_s()) == {}
        assert len(list(table_dir.glob("*.sst"))) == 3
    finally:
        await again.aclose()
