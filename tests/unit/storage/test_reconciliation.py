"""Every reconciliation rule, TTL, tombstones, static columns and DESC order, through
the engine (memtable, SSTables, and both mixed)."""

from __future__ import annotations

import pytest

from node.mutation.mutation import Cell
from node.readers.ranges import ClusteringRange, ClusteringSlice
from node.mutation.reconcile import reconcile_cells
from tests.unit.storage.conftest import make_schema, open_storage, read_all, live_rows, Builder

NOW = 1_700_000_000


def test_higher_timestamp_wins() -> None:
    a, b = Cell(10, b"a"), Cell(11, b"a-older-value")
    assert reconcile_cells(a, b, NOW) is b
    assert reconcile_cells(b, a, NOW) is b


def test_equal_timestamp_tombstone_wins_over_value() -> None:
    live, dead = Cell(10, b"zzz"), Cell.tombstone(10, NOW)
    assert reconcile_cells(live, dead, NOW) is dead
    assert reconcile_cells(dead, live, NOW) is dead


def test_equal_timestamp_greater_value_wins() -> None:
    small, big = Cell(10, b"\x01\x00"), Cell(10, b"\x02")
    assert reconcile_cells(small, big, NOW) is big
    assert reconcile_cells(big, small, NOW) is big


def test_expired_cell_acts_as_tombstone_on_equal_timestamp() -> None:
    expired = Cell(10, b"a", ttl_s=5, local_deletion_time_s=NOW - 1)
    live = Cell(10, b"zzz")
    assert reconcile_cells(live, expired, NOW) is expired
    assert reconcile_cells(expired, live, NOW) is expired
    assert not expired.is_live(NOW)


def test_two_tombstones_later_deletion_wins() -> None:
    early, late = Cell.tombstone(10, NOW - 5), Cell.tombstone(10, NOW)
    assert reconcile_cells(early, late, NOW) is late


@pytest.fixture(params=["memtable", "sstable", "mixed"])
def placement(request) -> str:
    return request.param


async def _apply_all(storage, mutations, placement) -> None:
    for index, mutation in enumerate(mutations):
        await storage.apply(mutation)
        if placement == "mixed" and index % 2 == 0:
            await storage.flush()
    if placement == "sstable":
        await storage.flush()


async def test_rules_through_engine(storage, schema, build, clock, placement) -> None:
    now = int(clock.now_s())
    await _apply_all(storage, [
        build.insert(1, 1, "old", ts=100),
        build.insert(1, 1, "new", ts=200),          # higher timestamp wins
        build.insert(1, 2, "bbb", ts=100),
        build.insert(1, 2, "aaa", ts=100),          # equal: greater value wins -> bbb
        build.insert(1, 3, "x", ts=100),
        build.insert(1, 3, None, ts=100, now_s=now),  # equal: tombstone wins
        build.insert(1, 4, "y", ts=100),
        build.delete_row(1, 4, ts=100, now_s=now),  # row tombstone shadows ts <= its own
        build.insert(1, 5, "z", ts=300),
        build.delete_row(1, 5, ts=200, now_s=now),  # older row tombstone does not
    ], placement)
    rows = live_rows(read_all(storage, schema, now), schema, now)
    assert rows[(1, 1)]["v"] == "new"
    assert rows[(1, 2)]["v"] == "bbb"
    assert (1, 3) in rows and "v" not in rows[(1, 3)]   # marker alive, cell deleted
    assert (1, 4) not in rows
    assert rows[(1, 5)]["v"] == "z"


async def test_partition_and_range_tombstones(storage, schema, build, clock, placement) -> None:
    now = int(clock.now_s())
    mutations = [build.insert(pk, ck, f"{pk}-{ck}", ts=100) for pk in (1, 2) for ck in range(10)]
    mutations += [
        build.delete_partition(1, ts=150, now_s=now),
        build.insert(1, 7, "after", ts=160),               # newer than the tombstone
        build.delete_range(2, 2, 4, ts=150, now_s=now),    # [2, 4] inclusive
        build.delete_range(2, 6, None, ts=150, now_s=now, start_inclusive=False),  # (6, end)
    ]
    await _apply_all(storage, mutations, placement)
    rows = live_rows(read_all(storage, schema, now), schema, now)
    assert {ck for (pk, ck) in rows if pk == 1} == {7}
    assert {ck for (pk, ck) in rows if pk == 2} == {0, 1, 5, 6}


async def test_ttl_expiry(storage, schema, build, clock, placement) -> None:
    now = int(clock.now_s())
    await _apply_all(storage, [build.insert(1, 1, "short", ts=100, ttl_s=10, now_s=now),
                               build.insert(1, 2, "forever", ts=100)], placement)
    assert set(live_rows(read_all(storage, schema, now + 9), schema, now + 9)) == {(1, 1), (1, 2)}
    assert set(live_rows(read_all(storage, schema, now + 10), schema, now + 10)) == {(1, 2)}
    # an expired cell comes out as a tombstone, never as data
    fragments = read_all(storage, schema, now + 10)
    expired = [f for f in fragments if getattr(f, "clustering", None) == build.ck(1)]
    assert expired and expired[0].row.cells["v"].value is None


async def test_static_columns(storage, schema, build, clock, placement) -> None:
    now = int(clock.now_s())
    await _apply_all(storage, [build.static(1, "s-old", ts=100), build.insert(1, 1, "a", ts=100),
                               build.static(1, "s-new", ts=200)], placement)
    rows = live_rows(read_all(storage, schema, now), schema, now)
    assert rows[(1, None)] == {"s": "s-new"}
    assert rows[(1, 1)]["v"] == "a"
    # a slice that selects no row still returns the static row
    empty = ClusteringSlice((ClusteringRange(build.ck(50), True, build.ck(60), True),))
    rows = live_rows(read_all(storage, schema, now, clustering_slice=empty), schema, now)
    assert rows == {(1, None): {"s": "s-new"}}


@pytest.mark.parametrize("descending_column", [False, True])
async def test_desc_order_and_reversed_reads(tmp_path, clock, descending_column) -> None:
    schema = make_schema(descending=descending_column)
    build = Builder(schema)
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    try:
        for ck in (5, 1, 9, 3):
            await storage.apply(build.insert(1, ck, str(ck), ts=100))
        await storage.flush()
        await storage.apply(build.insert(1, 7, "7", ts=100))
        now = clock.now_s()
        ascending = [schema.decode_clustering(f.clustering)[0]
                     for f in read_all(storage, schema, now) if hasattr(f, "clustering")]
        expected = [9, 7, 5, 3, 1] if descending_column else [1, 3, 5, 7, 9]
        assert ascending == expected
        reversed_read = [schema.decode_clustering(f.clustering)[0] for f in read_all(
            storage, schema, now, clustering_slice=ClusteringSlice.full(reversed=True))
            if hasattr(f, "clustering")]
        assert reversed_read == expected[::-1]
    finally:
        await storage.aclose()


async def test_tombstones_purged_after_gc_grace(tmp_path, clock) -> None:
    schema = make_schema(gc_grace_seconds=100)
    build = Builder(schema)
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    try:
        now = int(clock.now_s())
        await storage.apply(build.insert(1, 1, "a", ts=100))
        await storage.apply(build.insert(1, 2, "b", ts=100, ttl_s=5, now_s=now))
        await storage.flush()
        await storage.apply(build.delete_row(1, 1, ts=200, now_s=now))
        await storage.flush()
        clock.advance(50)   # within gc_grace: the tombstone must survive a compaction
        await storage.compact()
        fragments = read_all(storage, schema, clock.now_s())
        tombstoned = [f for f in fragments if getattr(f, "clustering", None) == build.ck(1)]
        assert tombstoned and tombstoned[0].row.tombstone is not None
        clock.advance(100)  # past gc_grace: both the tombstone and the expired cell go
        await storage.compact()
        fragments = read_all(storage, schema, clock.now_s())
        assert fragments == []
        assert storage.statistics().compactions == 2
    finally:
        await storage.aclose()
