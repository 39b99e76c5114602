"""Property test: readers against a plain-dict model.

Random interleavings of writes (with colliding timestamps, so the tie rules matter),
cell/row/range/partition deletions, flushes, compactions and paged reads that stop and
resume (with flushes and compactions between pages, and a fresh reader resumed from a
saved position) must give exactly the live rows the model gives, in order.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.clock import ManualClock
from node.readers.fragments import ClusteringRow, PartitionStart
from node.readers.ranges import ClusteringSlice, PartitionRange
from tests.unit.storage.conftest import Builder, make_schema, open_storage

PKS = st.integers(0, 2)
CKS = st.integers(0, 4)
TS = st.integers(1, 6)     # small: equal timestamps happen often
VALUES = st.sampled_from(["a", "b", "zz"])

operation = st.one_of(
    st.tuples(st.just("insert"), PKS, CKS, VALUES, TS, st.booleans()),
    st.tuples(st.just("delete_cell"), PKS, CKS, TS),
    st.tuples(st.just("delete_row"), PKS, CKS, TS),
    st.tuples(st.just("delete_range"), PKS, CKS, CKS, TS),
    st.tuples(st.just("delete_partition"), PKS, TS),
    st.tuples(st.just("flush")),
    st.tuples(st.just("compact")),
    st.tuples(st.just("read"), st.integers(1, 6), st.booleans(), st.booleans()),
)


class Model:
    """What CQL says is live, computed from first principles."""

    def __init__(self) -> None:
        self.value: dict = {}        # (pk, ck) -> (ts, is_tombstone, value)
        self.marker: dict = {}       # (pk, ck) -> ts
        self.row_deletion: dict = {}
        self.partition_deletion: dict = {}
        self.ranges: list = []       # (pk, low, high, ts), inclusive

    def apply(self, op: tuple) -> None:
        kind = op[0]
        if kind == "insert":
            _, pk, ck, value, ts, with_marker = op
            self._set_value((pk, ck), (ts, 0, value.encode()))
            if with_marker:
                self.marker[(pk, ck)] = max(self.marker.get((pk, ck), 0), ts)
        elif kind == "delete_cell":
            _, pk, ck, ts = op
            self._set_value((pk, ck), (ts, 1, b""))
        elif kind == "delete_row":
            _, pk, ck, ts = op
            self.row_deletion[(pk, ck)] = max(self.row_deletion.get((pk, ck), 0), ts)
        elif kind == "delete_range":
            _, pk, low, high, ts = op
            if low <= high:
                self.ranges.append((pk, low, high, ts))
        elif kind == "delete_partition":
            _, pk, ts = op
            self.partition_deletion[pk] = max(self.partition_deletion.get(pk, 0), ts)

    def _set_value(self, key: tuple, candidate: tuple) -> None:
        current = self.value.get(key)
        if current is None or candidate > current:   # ts, then tombstone, then value
            self.value[key] = candidate

    def live(self) -> dict:
        out = {}
        for key in set(self.value) | set(self.marker):
            pk, ck = key
            deletion = max([self.row_deletion.get(key, 0), self.partition_deletion.get(pk, 0)]
                           + [ts for p, lo, hi, ts in self.ranges if p == pk and lo <= ck <= hi])
            cell = self.value.get(key)
            value = cell[2].decode() if cell and cell[0] > deletion and not cell[1] else None
            if self.marker.get(key, 0) > deletion or value is not None:
                out[key] = value
        return out


def stream_rows(fragments: list, schema, now_s: float) -> list:
    rows, pk = [], None
    for fragment in fragments:
        if isinstance(fragment, PartitionStart):
            pk = schema.deserialize_partition_key(fragment.key)[0]
        elif isinstance(fragment, ClusteringRow) and fragment.row.is_live(now_s):
            cell = fragment.row.cells.get("v")
            value = cell.value.decode() if cell is not None and cell.is_live(now_s) else None
            rows.append((pk, schema.decode_clustering(fragment.clustering)[0], value))
    return rows


async def run(ops: list, directory: Path) -> None:
    schema = make_schema()
    build = Builder(schema)
    clock = ManualClock()
    now = int(clock.now_s())
    storage = open_storage(directory, clock, commitlog_sync="periodic",
                           compaction_min_threshold=2)
    await storage.open([schema])
    model = Model()
    try:
        for op in ops + [("read", 3, False, True)]:
            kind = op[0]
            if kind == "insert":
                await storage.apply(build.insert(op[1], op[2], op[3], ts=op[4], marker=op[5]))
            elif kind == "delete_cell":
                await storage.apply(build.insert(op[1], op[2], None, ts=op[3], now_s=now,
                                                 marker=False))
            elif kind == "delete_row":
                await storage.apply(build.delete_row(op[1], op[2], ts=op[3], now_s=now))
            elif kind == "delete_range":
                await storage.apply(build.delete_range(op[1], op[2], op[3], ts=op[4], now_s=now))
            elif kind == "delete_partition":
                await storage.apply(build.delete_partition(op[1], ts=op[2], now_s=now))
            elif kind == "flush":
                await storage.flush()
            elif kind == "compact":
                await storage.compact()
            elif kind == "read":
                await check_read(storage, schema, model, clock.now_s(), *op[1:])
            model.apply(op)
    finally:
        await storage.aclose()


async def check_read(storage, schema, model, now_s, page, reversed_order, restart) -> None:
    expected_live = model.live()
    reader = storage.make_reader(schema, PartitionRange.full(),
                                 ClusteringSlice.full(reversed=reversed_order), now_s)
    got, turn = [], 0
    while not reader.is_end_of_stream:
        got.extend(reader.read(page))
        turn += 1
        if turn % 3 == 0:
            await storage.flush()
        elif turn % 3 == 1:
            await storage.compact()
        if restart and turn % 2 == 0:   # stateless paging: a new reader from the position
            position = reader.position
            reader.close()
            reader = storage.make_reader(schema, PartitionRange.full(),
                                         ClusteringSlice.full(reversed=reversed_order), now_s,
                                         start_after=position)
    reader.close()
    rows = stream_rows(got, schema, now_s)
    assert {(pk, ck): v for pk, ck, v in rows} == expected_live
    assert len(rows) == len(expected_live), "a row was repeated"
    order = [(build_token(schema, pk), ck) for pk, ck, _ in rows]
    assert order == sorted(order, key=lambda item: (item[0], -item[1] if reversed_order
                                                    else item[1]))


def build_token(schema, pk: int) -> tuple:
    key, token = Builder(schema).key(pk)
    return (token, key)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=5, max_size=50))
def test_reader_matches_model(ops) -> None:
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(run(ops, Path(directory) / "shard"))
