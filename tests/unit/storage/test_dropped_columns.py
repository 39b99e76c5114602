"""Dropped columns in one shard's storage: an incoming mutation loses the cells of a
dropped column instead of being refused, and readers, compaction and commitlog replay
leave out the cells written at or before the drop (a re-added column keeps newer ones)."""

from __future__ import annotations

import dataclasses

import pytest

from node.errors import Invalid
from node.mutation.mutation import Cell, Mutation, Row
from node.schema.definitions import DroppedColumn
from tests.unit.storage.conftest import TEXT, live_rows, open_storage, read_all

DROP_US = 1_000


def dropped_v(schema, re_added=False):
    columns = schema.columns if re_added else tuple(c for c in schema.columns if c.name != "v")
    return schema.altered(columns=columns,
                          dropped_columns=(DroppedColumn("v", DROP_US, TEXT),))


def row_mutation(build, pk, cells, ts):
    key, token = build.key(pk)
    return Mutation(build.schema.id, key, token,
                    rows={build.ck(1): Row(Cell.live(ts, b""), None, cells)})


async def test_a_mutation_carrying_a_dropped_column_applies_without_it(storage, schema, build, clock):
    storage.alter_table(dropped_v(schema))
    await storage.apply(row_mutation(build, 1, {"v": Cell.live(500, b"old"), "w": Cell.live(500, b"\0\0\0\7")}, 500))
    await storage.apply(row_mutation(build, 2, {"v": Cell.live(900, b"old")}, 900))
    assert live_rows(read_all(storage, schema, clock.now_s()), schema, clock.now_s()) == \
        {(1, 1): {"w": 7}, (2, 1): {}}
    with pytest.raises(Invalid, match="Undefined column name never"):  # never in the table
        await storage.apply(row_mutation(build, 3, {"never": Cell.live(500, b"x")}, 500))


async def test_reads_compaction_and_replay_leave_out_cells_written_before_the_drop(tmp_path, schema, build, clock):
    engine = open_storage(tmp_path / "shard", clock)
    await engine.open([schema])
    await engine.apply(build.insert(1, 1, "flushed", ts=100))
    await engine.flush()
    await engine.apply(build.insert(2, 1, "flushed too", ts=200))
    await engine.flush()
    await engine.apply(build.insert(3, 1, "in the commitlog", ts=300))
    re_added = dropped_v(schema, re_added=True)
    engine.alter_table(re_added)
    await engine.apply(build.insert(4, 1, "after the re-add", ts=DROP_US + 1))
    expected = {(1, 1): {}, (2, 1): {}, (3, 1): {}, (4, 1): {"v": "after the re-add"}}
    assert live_rows(read_all(engine, re_added, clock.now_s()), re_added, clock.now_s()) == expected
    await engine.compact()
    assert live_rows(read_all(engine, re_added, clock.now_s()), re_added, clock.now_s()) == expected
    await engine.aclose()
    again = open_storage(tmp_path / "shard", clock)   # replays the commitlog under the new schema
    await again.open([re_added])
    table = again.tables[re_added.id]
    assert all("v" not in row.cells or row.cells["v"].timestamp_us > DROP_US
               for memtable in table.memtables for data in memtable.partitions.values()
               for _, row in data.sorted_rows())
    assert live_rows(read_all(again, re_added, clock.now_s()), re_added, clock.now_s()) == expected
    await again.aclose()


def test_the_dropped_columns_field_is_optional_on_the_wire(schema):
    wire = dropped_v(schema).to_wire()
    assert wire["dropped_columns"] == [["v", DROP_US, "text", "regular"]]
    assert dataclasses.replace(schema).to_wire().get("dropped_columns") is None
