"""Malformed mutations (from a peer's wire or built in process) never reach the
commitlog, and a commitlog record that cannot be applied never stops a shard."""

from __future__ import annotations

import msgpack
import pytest

from node.errors import Invalid
from node.mutation.mutation import Cell, Mutation, RangeTombstone, Row, Tombstone
from node.storage.table import TableStore
from tests.unit.storage.conftest import live_rows, open_storage, read_all

# what node/replica/service.py turns into Invalid
WIRE_ERRORS = (TypeError, ValueError, IndexError, KeyError, AttributeError)


def _range_tombstone(start, end, tombstone=Tombstone(1, 0)) -> RangeTombstone:
    rt = RangeTombstone(b"\x00", None, Tombstone(1, 0))
    rt.start, rt.end, rt.tombstone = start, end, tombstone   # bypass the constructor
    return rt


def _row(**fields) -> Row:
    return Row(fields.get("marker"), fields.get("tombstone"), fields.get("cells", {}))


@pytest.mark.parametrize("mutation_of", [
    lambda b: Mutation(b.schema.id, *b.key(1), partition_tombstone=Tombstone("a", 1)),
    lambda b: Mutation(b.schema.id, *b.key(1), partition_tombstone=Tombstone(1, None)),
    lambda b: Mutation(b.schema.id, *b.key(1), partition_tombstone=Tombstone(1 << 63, 0)),
    lambda b: Mutation(b.schema.id, *b.key(1), rows={b.ck(1): _row(tombstone=Tombstone(1.5, 0))}),
    lambda b: Mutation(b.schema.id, *b.key(1), rows={b.ck(1): _row(tombstone=[1, 0])}),
    lambda b: Mutation(b.schema.id, *b.key(1), range_tombstones=[_range_tombstone("a", None)]),
    lambda b: Mutation(b.schema.id, *b.key(1), range_tombstones=[_range_tombstone(b"a", 7)]),
    lambda b: Mutation(b.schema.id, *b.key(1), range_tombstones=[_range_tombstone(b"b", b"a")]),
    lambda b: Mutation(b.schema.id, *b.key(1), range_tombstones=[_range_tombstone(b"a", b"a")]),
    lambda b: Mutation(b.schema.id, *b.key(1),
                       range_tombstones=[_range_tombstone(b"a", None, Tombstone(1, "x"))]),
    lambda b: Mutation(b.schema.id, *b.key(1), rows={b.ck(1): _row(cells={"v": Cell(True, b"a")})}),
    lambda b: Mutation(b.schema.id, *b.key(1), rows={b.ck(1): _row(cells={"v": Cell(1, b"a", "9")})}),
    lambda b: Mutation(b.schema.id, *b.key(1), rows={b.ck(1): _row(cells={"v": Cell(1, b"a", 0, None)})}),
    lambda b: Mutation(b.schema.id, *b.key(1), rows={b.ck(1): _row(marker=Cell(1, b"", 0, 2.5))}),
    lambda b: Mutation(b.schema.id, *b.key(1), static_row=_row(cells={"s": Cell("1", b"a")})),
    lambda b: Mutation(b.schema.id, *b.key(1), static_row=_row(tombstone=Tombstone(None, 0))),
], ids=["partition-tombstone-str-timestamp", "partition-tombstone-no-deletion-time",
        "partition-tombstone-beyond-int64", "row-tombstone-float", "row-tombstone-list",
        "range-start-str", "range-end-int", "range-start-after-end", "range-empty",
        "range-tombstone-str-deletion", "cell-bool-timestamp", "cell-str-ttl",
        "cell-none-deletion-time", "marker-float-deletion-time", "static-str-timestamp",
        "static-tombstone-none-timestamp"])
async def test_malformed_fields_never_reach_commitlog(storage, build, mutation_of) -> None:
    before = storage.statistics().commitlog_records
    with pytest.raises(Invalid):
        await storage.apply(mutation_of(build))
    assert storage.statistics().commitlog_records == before


async def test_probe_wire_is_refused_and_the_shard_restarts(tmp_path, clock, schema, build) -> None:
    """The review's probe: a partition tombstone of ["a", 1] from a peer."""
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    await storage.apply(build.insert(1, 1, "kept", ts=100))
    key, token = build.key(2)
    with pytest.raises(Invalid):
        await storage.apply(Mutation.from_wire([schema.id, key, 5, ["a", 1], None, [], []]))
    await storage.apply(build.insert(1, 2, "kept", ts=101))
    assert storage.statistics().commitlog_records == 2
    await storage.aclose()
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        rows = live_rows(read_all(again, schema, clock.now_s()), schema, clock.now_s())
        assert sorted(rows) == [(1, 1), (1, 2)]
    finally:
        await again.aclose()


async def test_a_malformed_record_in_the_commitlog_is_skipped_at_replay(
        tmp_path, clock, schema, build) -> None:
    """A record that got past validation (an older version, a bug) costs only itself."""
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    await storage.apply(build.insert(1, 1, "kept", ts=100))
    key, token = build.key(2)
    storage.commitlog.append(msgpack.packb([schema.id, key, token, ["a", 1], None, [], []]))
    await storage.apply(build.insert(1, 2, "kept", ts=101))
    await storage.aclose()
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        rows = live_rows(read_all(again, schema, clock.now_s()), schema, clock.now_s())
        assert sorted(rows) == [(1, 1), (1, 2)]
        statistics = again.statistics()
        assert statistics.commitlog_corrupt_records == 1
        assert statistics.commitlog_replayed_records == 2
    finally:
        await again.aclose()


async def test_a_record_that_fails_to_apply_is_counted_and_the_shard_starts(
        tmp_path, clock, schema, build, monkeypatch) -> None:
    storage = open_storage(tmp_path / "s", clock)
    await storage.open([schema])
    for ck in range(3):
        await storage.apply(build.insert(1, ck, "v", ts=100 + ck))
    await storage.aclose()
    original = TableStore.apply

    def failing_apply(self, mutation, position, now_s, size_bytes):
        if next(iter(mutation.rows)) == build.ck(1):
            raise RuntimeError("apply failed")
        original(self, mutation, position, now_s, size_bytes)

    monkeypatch.setattr(TableStore, "apply", failing_apply)
    again = open_storage(tmp_path / "s", clock)
    await again.open([schema])
    try:
        rows = live_rows(read_all(again, schema, clock.now_s()), schema, clock.now_s())
        assert sorted(rows) == [(1, 0), (1, 2)]
        assert again.statistics().commitlog_corrupt_records == 1
    finally:
        await again.aclose()


@pytest.mark.parametrize("wire_of", [
    lambda t, k: None,
    lambda t, k: 5,
    lambda t, k: "mutation",
    lambda t, k: {"table": t},
    lambda t, k: [t, k, 5],
    lambda t, k: [t, k, 5, ["a"], None, [], []],
    lambda t, k: [t, k, 5, 7, None, [], []],
    lambda t, k: [t, k, 5, None, 7, [], []],
    lambda t, k: [t, k, 5, None, [None, None, []], [], []],
    lambda t, k: [t, k, 5, None, [None, None, {"s": 1}], [], []],
    lambda t, k: [t, k, 5, None, [None, None, {"s": [1]}], [], []],
    lambda t, k: [t, k, 5, None, None, [[b"c"]], []],
    lambda t, k: [t, k, 5, None, None, [[b"c", 3]], []],
    lambda t, k: [t, k, 5, None, None, 7, []],
    lambda t, k: [t, k, 5, None, None, [], [[b"b", b"a", [1, 0]]]],
    lambda t, k: [t, k, 5, None, None, [], [[b"a", b"a", [1, 0]]]],
    lambda t, k: [t, k, 5, None, None, [], [[None, b"a", [1, 0]]]],
    lambda t, k: [t, k, 5, None, None, [], [["a", "b", [1, 0]]]],
    lambda t, k: [t, k, 5, None, None, [], [[b"a", None, [1]]]],
    lambda t, k: [t, k, 5, None, None, [], [[b"a", None]]],
    lambda t, k: [t, k, 5, None, None, [], 9],
    lambda t, k: [t, k, "5", None, None, [], []],
    lambda t, k: [t, "key", 5, None, None, [], []],
])
async def test_malformed_wire_raises_a_decoding_error_or_invalid(storage, schema, build,
                                                                 wire_of) -> None:
    """Every malformed wire is refused with an error node/replica/service.py turns into
    Invalid, and nothing reaches the commitlog."""
    key, _ = build.key(1)
    try:
        mutation = Mutation.from_wire(wire_of(schema.id, key))
    except WIRE_ERRORS:
        return
    with pytest.raises(Invalid):
        await storage.apply(mutation)
    assert storage.statistics().commitlog_records == 0
