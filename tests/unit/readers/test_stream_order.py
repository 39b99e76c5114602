"""Stream order of positions and what a resumed slice still holds."""

from node.readers.position import (AFTER_END, AFTER_ROW, AFTER_START, AFTER_STATIC, BEFORE_ALL,
                                   Position)
from node.readers.ranges import ClusteringRange, ClusteringSlice, PartitionRange
from node.readers.stream_order import intersect, is_after, range_from, slice_after


def test_positions_follow_the_stream_order():
    stream = [Position(BEFORE_ALL), Position(AFTER_START, 1, b"a"), Position(AFTER_STATIC, 1, b"a"),
              Position(AFTER_ROW, 1, b"a", clustering=b"\x01"),
              Position(AFTER_ROW, 1, b"a", clustering=b"\x02"), Position(AFTER_END, 1, b"a"),
              Position(AFTER_START, 1, b"b"), Position(AFTER_END, 2, b"")]
    for i, earlier in enumerate(stream):
        for later in stream[i + 1:]:
            assert is_after(later, earlier) and not is_after(earlier, later)
        assert not is_after(earlier, earlier)
    high, low = Position(AFTER_ROW, 1, b"a", clustering=b"\x01"), Position(AFTER_ROW, 1, b"a", clustering=b"\x02")
    assert is_after(high, low, reversed_order=True)


def test_slice_after_keeps_what_follows_in_the_slice_direction():
    whole = ClusteringSlice((ClusteringRange(b"\x02", True, b"\x08", False),))
    rest = slice_after(whole, b"\x05")
    assert [c for c in (b"\x04", b"\x05", b"\x05\x00", b"\x06", b"\x08") if rest.contains(c)] == \
        [b"\x05\x00", b"\x06"]
    backwards = slice_after(ClusteringSlice(whole.ranges, True), b"\x05")
    assert [c for c in (b"\x02", b"\x04", b"\x05", b"\x06") if backwards.contains(c)] == [b"\x02", b"\x04"]
    nothing = slice_after(whole, b"\x09")
    assert not nothing.contains(b"\x09\x01") and nothing.intervals == ()


def test_ranges_resume_and_intersect():
    ring_half = PartitionRange.token_range(0, 100)
    resumed = range_from(ring_half, Position(AFTER_ROW, 50, b"k", clustering=b"c"))
    assert resumed.contains((50, b"k")) and not resumed.contains((50, b"a"))
    after_end = range_from(ring_half, Position(AFTER_END, 50, b"k"))
    assert not after_end.contains((50, b"k")) and after_end.contains((50, b"l"))
    assert range_from(ring_half, Position(AFTER_END, 200, b"")) is None
    assert range_from(ring_half, Position(AFTER_END, -5, b"")) == ring_half
    both = intersect(ring_half, PartitionRange.token_range(60, 300))
    assert both.contains((61, b"")) and not both.contains((60, b"x")) and not both.contains((101, b""))
    assert intersect(ring_half, PartitionRange.token_range(100, 300)) is None


def test_lazy_shard_chunks_are_the_shard_chunks():
    import random

    from node.replica.multishard import _LazyChunks
    from node.dht.sharding import shard_chunks
    from node.dht.token import TOKEN_MAX, TOKEN_MIN

    chooser = random.Random(11)
    cases = [(TOKEN_MIN, TOKEN_MAX), (TOKEN_MIN, TOKEN_MIN + 1), (TOKEN_MAX - 1, TOKEN_MAX), (5, 5)]
    for _ in range(200):
        low = chooser.randrange(TOKEN_MIN, TOKEN_MAX)
        cases.append((low, min(TOKEN_MAX, low + chooser.choice([1, 1 << 40, 1 << 53, 1 << 60]))))
    for start, end in cases:
        for shards in (1, 2, 3):
            lazy = _LazyChunks(start, end, shards, 12)
            walked, index = [], 0
            while (chunk := lazy.get(index)) is not None:
                walked.append(chunk)
                index += 1
            merged = []
            for chunk in walked:   # span cuts may split a chunk in two: join them back
                if merged and merged[-1].shard == chunk.shard and merged[-1].end == chunk.start:
                    merged[-1] = type(chunk)(merged[-1].start, chunk.end, chunk.shard)
                else:
                    merged.append(chunk)
            assert merged == shard_chunks(start, end, shards, 12), (start, end, shards)
