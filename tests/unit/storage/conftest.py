"""Fixtures for the storage engine tests: a small schema, mutation builders, and an
engine on a temporary directory driven by a ManualClock."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from node.clock import ManualClock
from node.dht.token import token_of
from node.schema.definitions import CLUSTERING, PARTITION_KEY, REGULAR, STATIC, ColumnDef, TableSchema
from node.schema.definitions import TableOptions
from node.storage.engine import ShardStorage
from node.readers.fragments import ClusteringRow, PartitionStart, StaticRow
from node.mutation.mutation import Cell, Mutation, RangeTombstone, Row, Tombstone
from node.readers.ranges import ClusteringSlice, PartitionRange
from node.storage.settings import StorageSettings
from node.schema.types import type_named

INT = type_named("int")
TEXT = type_named("text")


def make_schema(descending: bool = False, compression: str | None = None,
                gc_grace_seconds: int = 864000) -> TableSchema:
    return TableSchema("ks", "t", (
        ColumnDef("pk", INT, PARTITION_KEY),
        ColumnDef("ck", INT, CLUSTERING, descending=descending),
        ColumnDef("s", TEXT, STATIC),
        ColumnDef("v", TEXT, REGULAR),
        ColumnDef("w", INT, REGULAR),
    ), TableOptions(gc_grace_seconds=gc_grace_seconds, compression=compression),
        id="00000000-0000-0000-0000-000000000001")


class Builder:
    """Mutations on ``schema`` by plain values."""

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema

    def key(self, pk: int) -> tuple[bytes, int]:
        raw = self.schema.serialize_partition_key([pk])
        return raw, token_of(raw)

    def ck(self, value: int) -> bytes:
        return self.schema.encode_clustering((value,))

    def insert(self, pk: int, ck: int, v: str | None, ts: int, ttl_s: int = 0,
               now_s: int = 0, marker: bool = True) -> Mutation:
        key, token = self.key(pk)
        cell = Cell.tombstone(ts, now_s) if v is None else Cell.live(ts, v.encode(), ttl_s, now_s)
        row = Row(Cell.live(ts, b"", ttl_s, now_s) if marker else None, None, {"v": cell})
        return Mutation(self.schema.id, key, token, rows={self.ck(ck): row})

    def delete_row(self, pk: int, ck: int, ts: int, now_s: int = 0) -> Mutation:
        key, token = self.key(pk)
        return Mutation(self.schema.id, key, token,
                        rows={self.ck(ck): Row(None, Tombstone(ts, now_s), {})})

    def delete_partition(self, pk: int, ts: int, now_s: int = 0) -> Mutation:
        key, token = self.key(pk)
        return Mutation(self.schema.id, key, token, partition_tombstone=Tombstone(ts, now_s))

    def delete_range(self, pk: int, start: int | None, end: int | None, ts: int,
                     now_s: int = 0, start_inclusive: bool = True,
                     end_inclusive: bool = True) -> Mutation:
        key, token = self.key(pk)
        rt = RangeTombstone.from_prefixes(
            b"" if start is None else self.ck(start), start_inclusive,
            b"" if end is None else self.ck(end), end_inclusive, Tombstone(ts, now_s))
        return Mutation(self.schema.id, key, token, range_tombstones=[rt] if rt else [])

    def static(self, pk: int, s: str, ts: int) -> Mutation:
        key, token = self.key(pk)
        return Mutation(self.schema.id, key, token,
                        static_row=Row(None, None, {"s": Cell.live(ts, s.encode())}))


def read_all(storage: ShardStorage, schema: TableSchema, now_s: float,
             partition_range: PartitionRange | None = None,
             clustering_slice: ClusteringSlice | None = None, batch: int = 1000) -> list:
    reader = storage.make_reader(schema, partition_range or PartitionRange.full(),
                                 clustering_slice or ClusteringSlice.full(), now_s)
    out = []
    while not reader.is_end_of_stream:
        out.extend(reader.read(batch))
    reader.close()
    return out


def live_rows(fragments: list, schema: TableSchema, now_s: float) -> dict:
    """{(pk, ck): {column: text/int}} of the live rows in a fragment stream, and the
    static values as {(pk, None): {...}}."""
    out: dict = {}
    pk = None
    for fragment in fragments:
        if isinstance(fragment, PartitionStart):
            pk = schema.deserialize_partition_key(fragment.key)[0]
        elif isinstance(fragment, StaticRow):
            values = fragment.row.live_values(now_s)
            if values:
                out[(pk, None)] = {n: schema.column(n).type.deserialize(v) for n, v in values.items()}
        elif isinstance(fragment, ClusteringRow) and fragment.row.is_live(now_s):
            ck = schema.decode_clustering(fragment.clustering)[0]
            out[(pk, ck)] = {n: schema.column(n).type.deserialize(v)
                             for n, v in fragment.row.live_values(now_s).items()}
    return out


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def schema() -> TableSchema:
    return make_schema()


@pytest.fixture
def build(schema: TableSchema) -> Builder:
    return Builder(schema)


def open_storage(directory: Path, clock: ManualClock, **settings) -> ShardStorage:
    settings.setdefault("commitlog_sync", "batch")
    return ShardStorage(directory, StorageSettings(**settings), clock, structlog.get_logger())


@pytest.fixture
async def storage(tmp_path: Path, clock: ManualClock, schema: TableSchema):
    engine = open_storage(tmp_path / "shard", clock)
    await engine.open([schema])
    yield engine
    await engine.aclose()
