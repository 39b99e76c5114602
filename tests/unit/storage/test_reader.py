"""The reader: paging that stops and resumes (also across flushes and compactions),
push_back, resuming from a saved position, partition ranges and slices, SSTable blocks
(compressed, wide partitions) and the read accounting."""

from __future__ import annotations

from node.readers.fragments import ClusteringRow, PartitionEnd, PartitionStart, fragment_from_wire
from node.readers.position import AFTER_ROW
from node.readers.ranges import ClusteringRange, ClusteringSlice, PartitionRange
from tests.unit.storage.conftest import Builder, make_schema, open_storage, read_all


def wire(fragments):
    return [f.to_wire() for f in fragments]


async def _fill(storage, build, partitions=20, rows=10):
    for pk in range(partitions):
        for ck in range(rows):
            await storage.apply(build.insert(pk, ck, f"{pk}:{ck}", ts=100))


async def test_paged_read_across_flush_and_compaction_equals_one_read(storage, schema, build,
                                                                      clock) -> None:
    await _fill(storage, build)
    expected = wire(read_all(storage, schema, clock.now_s()))
    reader = storage.make_reader(schema, PartitionRange.full(), ClusteringSlice.full(),
                                 clock.now_s())
    got = []
    step = 0
    while not reader.is_end_of_stream:
        got.extend(reader.read(7))
        step += 1
        if step % 5 == 1:
            await storage.flush()
        if step % 5 == 3:
            await storage.compact()
    reader.close()
    assert wire(got) == expected
    assert storage.statistics().flushes >= 1


async def test_push_back_returns_fragments_and_position(storage, schema, build, clock) -> None:
    await _fill(storage, build, partitions=3, rows=3)
    reader = storage.make_reader(schema, PartitionRange.full(), ClusteringSlice.full(),
                                 clock.now_s())
    first = reader.read(4)
    position_after_two = None
    reader.push_back(first[2:])
    assert isinstance(first[1], ClusteringRow)
    position_after_two = reader.position
    assert position_after_two.stage == AFTER_ROW
    assert position_after_two.clustering == first[1].clustering
    again = reader.read(2)
    assert again[0] is first[2] and again[1] is first[3]


async def test_new_reader_resumes_after_a_saved_position(storage, schema, build, clock) -> None:
    await _fill(storage, build, partitions=5, rows=5)
    await storage.flush()
    expected = wire(read_all(storage, schema, clock.now_s()))
    for cut in (1, 2, 6, 7, 13, len(expected) - 1):
        reader = storage.make_reader(schema, PartitionRange.full(), ClusteringSlice.full(),
                                     clock.now_s())
        head = reader.read(cut)
        position = reader.position
        reader.close()
        rest = storage.make_reader(schema, PartitionRange.full(), ClusteringSlice.full(),
                                   clock.now_s(), start_after=position)
        tail = []
        while not rest.is_end_of_stream:
            tail.extend(rest.read(100))
        rest.close()
        assert wire(head) + wire(tail) == expected, cut


async def test_token_ranges_partition_the_ring(storage, schema, build, clock) -> None:
    await _fill(storage, build, partitions=30, rows=1)
    await storage.flush()
    await _fill(storage, build, partitions=40, rows=1)
    everything = [f.token for f in read_all(storage, schema, clock.now_s())
                  if isinstance(f, PartitionStart)]
    assert everything == sorted(everything) and len(everything) == 40
    split = everything[17]
    left = [f.token for f in read_all(storage, schema, clock.now_s(),
                                      PartitionRange.token_range(None, split))
            if isinstance(f, PartitionStart)]
    right = [f.token for f in read_all(storage, schema, clock.now_s(),
                                       PartitionRange.token_range(split, None))
             if isinstance(f, PartitionStart)]
    assert left == everything[:18] and right == everything[18:]
    key, token = build.key(5)
    single = read_all(storage, schema, clock.now_s(), PartitionRange.single(token, key))
    assert isinstance(single[0], PartitionStart) and single[0].key == key
    assert isinstance(single[-1], PartitionEnd) and len(single) == 3


async def test_clustering_slices_with_prefix_bounds(storage, schema, build, clock) -> None:
    await _fill(storage, build, partitions=1, rows=20)
    cut = ClusteringSlice((ClusteringRange(build.ck(3), False, build.ck(6), True),
                           ClusteringRange(build.ck(15), True, b"", True)))
    got = [schema.decode_clustering(f.clustering)[0]
           for f in read_all(storage, schema, clock.now_s(), clustering_slice=cut)
           if isinstance(f, ClusteringRow)]
    assert got == [4, 5, 6, 15, 16, 17, 18, 19]


async def test_fragments_round_trip_the_wire(storage, schema, build, clock) -> None:
    await storage.apply(build.static(1, "s", ts=100))
    await storage.apply(build.delete_range(1, 1, 3, ts=150, now_s=10))
    await _fill(storage, build, partitions=2, rows=5)
    fragments = read_all(storage, schema, clock.now_s())
    assert [fragment_from_wire(w).to_wire() for w in wire(fragments)] == wire(fragments)
    assert all(f.size_bytes() > 0 for f in fragments)


async def test_wide_compressed_partition_spans_blocks(tmp_path, clock) -> None:
    schema = make_schema(compression="zstd")
    build = Builder(schema)
    storage = open_storage(tmp_path / "s", clock, sstable_block_bytes=4096)
    await storage.open([schema])
    try:
        for ck in range(2000):
            await storage.apply(build.insert(1, ck, "x" * 30, ts=100))
        await storage.apply(build.insert(2, 0, "y", ts=100))
        expected = wire(read_all(storage, schema, clock.now_s()))
        await storage.flush()
        before = storage.statistics()
        assert wire(read_all(storage, schema, clock.now_s())) == expected
        after = storage.statistics()
        assert after.blocks_decompressed - before.blocks_decompressed > 5
        assert after.sstable_read_ops - before.sstable_read_ops >= after.blocks_read - before.blocks_read
    finally:
        await storage.aclose()


async def test_stateful_reader_does_not_reread_its_block(storage, schema, build, clock) -> None:
    await _fill(storage, build, partitions=10, rows=5)
    await storage.flush()
    reader = storage.make_reader(schema, PartitionRange.full(), ClusteringSlice.full(),
                                 clock.now_s())
    reader.read(3)
    ops = storage.statistics().sstable_read_ops
    while not reader.is_end_of_stream:
        reader.read(3)
    assert storage.statistics().sstable_read_ops == ops   # one block, already in hand
    reader.close()


async def test_single_partition_miss_uses_bloom_filter(storage, schema, build, clock) -> None:
    await _fill(storage, build, partitions=50, rows=1)
    await storage.flush()
    before = storage.statistics().sstable_read_ops
    key, token = build.key(10_000)
    assert read_all(storage, schema, clock.now_s(), PartitionRange.single(token, key)) == []
    assert storage.statistics().sstable_read_ops == before


async def test_compaction_never_deletes_a_file_an_open_reader_holds(storage, schema, build,
                                                                    clock) -> None:
    for round_number in range(4):
        await _fill(storage, build, partitions=5, rows=2)
        await storage.flush()
    reader = storage.make_reader(schema, PartitionRange.full(), ClusteringSlice.full(),
                                 clock.now_s())
    reader.read(1)
    table_dir = storage.tables[schema.id].directory
    await storage.compact()
    assert len(list(table_dir.glob("*.sst"))) == 5   # 4 held by the reader + the output
    while not reader.is_end_of_stream:
        reader.read(10)
    reader.close()
    assert len(list(table_dir.glob("*.sst"))) == 1
