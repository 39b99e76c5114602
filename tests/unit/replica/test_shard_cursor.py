"""Shard cursors over a real shard storage: pages that consume part of what they read,
give the rest back and park the cursor read every row exactly once, saved or fresh."""

import random

import pytest

from node.clock import ManualClock
from node.replica.querier_cache import QuerierCache
from node.replica.shard_cursor import ShardCursorService
from node.readers.fragments import CLUSTERING_ROW, PARTITION_START
from node.readers.position import Position
from node.readers.ranges import ClusteringSlice, PartitionRange
from node.readers.stream_order import is_after, wire_position
from tests.unit.storage.conftest import Builder, make_schema, open_storage


class Schemas:
    def __init__(self, table):
        self.table = table

    def table_by_id(self, table_id):
        return self.table if table_id == self.table.id else None


@pytest.mark.parametrize("stateful", [True, False])
@pytest.mark.parametrize("reversed_order", [False, True])
async def test_pages_of_a_cursor_hand_out_every_row_once(tmp_path, stateful, reversed_order):
    clock = ManualClock()
    schema = make_schema()
    build = Builder(schema)
    storage = open_storage(tmp_path, clock)
    await storage.open([schema])
    try:
        for pk in range(12):
            for ck in range(pk % 5):
                await storage.apply(build.insert(pk, ck, f"v{pk}.{ck}", ts=1))
            if pk % 3 == 0:
                await storage.apply(build.static(pk, "s", ts=1))
            if pk == 6:
                await storage.flush()
        cache = QuerierCache(clock, 10_000, 1 << 20)
        service = ShardCursorService(storage, Schemas(schema), cache, clock, 0, 1, 12, 5.0)
        whole = PartitionRange.full() if not reversed_order else PartitionRange.single(*build.key(4)[::-1])
        clustering_slice = ClusteringSlice.full(reversed_order)
        expected = _rows(storage.make_reader(schema, whole, clustering_slice, clock.now_s()).read(10_000))
        chooser = random.Random(3)
        start, seen, page = Position(), [], 0
        while True:
            page += 1
            spec = {"table": schema.id, "version": schema.version, "range": whole.to_wire(),
                    "slice": clustering_slice.to_wire(), "now_s": clock.now_s(),
                    "start": start.to_wire() if start.stage else None,
                    "query_id": b"q" * 16, "stateful": stateful}
            fragments, repeated = [], 0
            while True:   # a page reads on past the repeated header of a continued partition
                answer = service.read({"id": page, "open": spec, "max_fragments": chooser.randrange(1, 6)})
                if page > 1 and stateful and not fragments:
                    assert answer["cache"] == "hit"
                fragments += answer["fragments"]
                partition = (start.token, start.key)
                repeated = 0
                for wire in fragments:
                    if wire[0] == PARTITION_START:
                        partition = (wire[1], wire[2])
                    if is_after(wire_position(wire, *partition), start, reversed_order):
                        break
                    repeated += 1
                if answer["end"] or repeated < len(fragments):
                    break
            used = chooser.randrange(min(len(fragments), repeated + 1), len(fragments) + 1)
            partition = (start.token, start.key)
            for wire in fragments[:used]:
                if wire[0] == PARTITION_START:
                    partition = (wire[1], wire[2])
                position = wire_position(wire, *partition)
                if wire[0] == CLUSTERING_ROW and is_after(position, start, reversed_order):
                    seen.append((partition, wire[1]))
                if is_after(position, start, reversed_order):
                    start = position
            service.finish({"id": page, "push_back": len(fragments) - used, "save": True})
            if answer["end"] and used == len(fragments):
                break
            assert page < 1000
        assert seen == expected
    finally:
        await storage.aclose()


def _rows(fragments):
    rows, partition = [], None
    for fragment in fragments:
        wire = fragment.to_wire()
        if wire[0] == PARTITION_START:
            partition = (wire[1], wire[2])
        elif wire[0] == CLUSTERING_ROW:
            rows.append((partition, wire[1]))
    return rows
