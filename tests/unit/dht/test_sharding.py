"""Scylla's biased-token-round-robin sharding and the shard-chunk splitter."""

from hypothesis import given, settings
from hypothesis import strategies as st

from node.dht.sharding import shard_chunks, shard_of, shard_ranges
from node.dht.token import TOKEN_MAX, TOKEN_MIN

tokens = st.integers(min_value=TOKEN_MIN, max_value=TOKEN_MAX)


def test_fixed_vectors_computed_by_hand():
    # token 0 -> u = 2^63; << 12 wraps to 0 -> shard 0 of any count.
    assert shard_of(0, 2, 12) == 0
    # token -1 -> u = 2^63 - 1; << 12 = 2^64 - 2^12 -> top of the span -> last shard.
    assert shard_of(-1, 2, 12) == 1
    assert shard_of(-1, 3, 12) == 2
    # ignore_msb = 0: shards are contiguous slices of the ring.
    assert shard_of(TOKEN_MIN, 4, 0) == 0
    assert shard_of(-(2**62), 4, 0) == 1  # u = 2^62 -> (2^62 * 4) >> 64 = 1
    assert shard_of(0, 4, 0) == 2
    assert shard_of(TOKEN_MAX, 4, 0) == 3
    # ignore_msb = 12: the span is 2^52 tokens; the second half of span 0 is shard 1 of 2.
    assert shard_of(TOKEN_MIN + 2**51 - 1, 2, 12) == 0
    assert shard_of(TOKEN_MIN + 2**51, 2, 12) == 1
    assert shard_of(TOKEN_MIN + 2**52, 2, 12) == 0


def test_full_ring_has_one_chunk_per_shard_per_span():
    chunks = shard_chunks(TOKEN_MIN, TOKEN_MAX, 2, 12)
    assert len(chunks) == 2 * 4096
    assert [c.shard for c in chunks[:4]] == [0, 1, 0, 1]


@settings(max_examples=300, deadline=None)
@given(a=tokens, b=tokens, shards=st.integers(1, 16), ignore_msb=st.integers(0, 12),
       narrow=st.booleans())
def test_chunks_cover_the_range_exactly_and_map_to_their_shard(a, b, shards, ignore_msb, narrow):
    start, end = min(a, b), max(a, b)
    if narrow:
        end = min(end, start + 2**56)
    chunks = shard_chunks(start, end, shards, ignore_msb)
    if start == end:
        assert chunks == []
        return
    assert chunks[0].start == start and chunks[-1].end == end
    for left, right in zip(chunks, chunks[1:]):
        assert left.end == right.start
    for chunk in chunks[:200] + chunks[-200:]:
        assert chunk.start < chunk.end
        for token in {chunk.start + 1, chunk.end, (chunk.start + chunk.end) // 2 + 1}:
            if chunk.start < token <= chunk.end:
                assert shard_of(token, shards, ignore_msb) == chunk.shard
    if shards > 1:
        for left, right in zip(chunks, chunks[1:]):
            assert left.shard != right.shard


@settings(max_examples=100, deadline=None)
@given(a=tokens, b=tokens, shards=st.integers(1, 8))
def test_shard_ranges_partition_the_range_among_shards(a, b, shards):
    start, end = min(a, b), min(max(a, b), min(a, b) + 2**58)
    total = sum(c.end - c.start for s in range(shards) for c in shard_ranges(start, end, s, shards))
    assert total == end - start
