"""A TRUNCATE's time on one shard (Cassandra's truncatedAt): writes stamped at or
before it that arrive later are dropped, also in part, and commitlog replay skips
them; the time survives a restart, and markers from before it still load."""

from __future__ import annotations

import msgpack

from node.mutation.mutation import Cell, Mutation, Row, Tombstone
from tests.unit.storage.conftest import live_rows, open_storage, read_all

TRUNCATED_AT_US = 1_000


async def test_writes_stamped_at_or_before_the_truncation_are_dropped(tmp_path, clock, schema, build):
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    try:
        storage.truncate(schema.id, TRUNCATED_AT_US)
        await storage.apply(build.insert(1, 1, "late hint", ts=TRUNCATED_AT_US))
        await storage.apply(build.insert(1, 2, "after", ts=TRUNCATED_AT_US + 1))
        key, token = build.key(2)
        await storage.apply(Mutation(schema.id, key, token, partition_tombstone=Tombstone(900, 0),
                                     rows={build.ck(1): Row(Cell.live(900, b""), None, {
                                         "v": Cell.live(2000, b"newer"), "w": Cell.live(900, b"\0\0\0\1")})}))
        rows = live_rows(read_all(storage, schema, clock.now_s()), schema, clock.now_s())
        assert rows == {(1, 2): {"v": "after"}, (2, 1): {"v": "newer"}}
        assert storage.truncated_at_us(schema.id) == TRUNCATED_AT_US
        storage.truncate(schema.id, 500)   # an older TRUNCATE arriving late moves nothing back
        assert storage.truncated_at_us(schema.id) == TRUNCATED_AT_US
    finally:
        await storage.aclose()


async def test_commitlog_replay_skips_records_stamped_before_the_truncation(tmp_path, clock, schema, build):
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    storage.truncate(schema.id, TRUNCATED_AT_US)
    # a record after the truncation's commitlog position but stamped before its time
    # (as a shard without truncation times wrote them)
    position = storage.commitlog.append(msgpack.packb(
        build.insert(1, 1, "old", ts=TRUNCATED_AT_US - 1).to_wire(), use_bin_type=True))
    await storage.commitlog.wait_durable(position)
    await storage.apply(build.insert(1, 2, "after", ts=TRUNCATED_AT_US + 1))
    await storage.aclose()
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        assert again.truncated_at_us(schema.id) == TRUNCATED_AT_US
        rows = live_rows(read_all(again, schema, clock.now_s()), schema, clock.now_s())
        assert set(rows) == {(1, 2)}
    finally:
        await again.aclose()


async def test_a_truncation_marker_without_a_time_still_loads(tmp_path, clock, schema, build):
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    storage.truncate(schema.id)
    table = storage.tables[schema.id]
    marker = table.directory / "truncated_at"
    assert len(msgpack.unpackb(marker.read_bytes())) == 2
    await storage.aclose()
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        assert again.truncated_at_us(schema.id) is None
        assert again.tables[schema.id].truncated_at == table.truncated_at
    finally:
        await again.aclose()
