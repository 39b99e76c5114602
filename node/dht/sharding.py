"""Scylla's biased-token-round-robin sharding: which shard of a node owns a token.

``u = token + 2^63`` (unsigned), ``u <<= ignore_msb`` (mod 2^64), and the shard is
``(u * shards) >> 64``. The ring therefore falls into ``2^ignore_msb`` spans; inside
each span the shards own consecutive chunks in round-robin order 0, 1, ..., S-1.

Ranges here are Cassandra's ``(start, end]`` over signed tokens, never wrapping
(callers split a wrapping range first, see ``node.dht.ranges``).

Invariant: ``shard_chunks`` covers its range exactly, in token order, with no
overlap, and every token of a chunk maps to the chunk's shard.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.dht.token import TOKEN_MAX, TOKEN_MIN

_BIAS = 1 << 63
_MASK = (1 << 64) - 1


def shard_of(token: int, shards: int, ignore_msb: int = 12) -> int:
    """The shard (0..shards-1) that owns ``token`` on a node of ``shards`` shards."""
    assert shards >= 1, "a node has at least one shard"
    unsigned = ((token + _BIAS) << ignore_msb) & _MASK
    return (unsigned * shards) >> 64


@dataclass(frozen=True)
class ShardChunk:
    """Tokens ``(start, end]`` all owned by ``shard``."""

    start: int
    end: int
    shard: int


def _first_of_shard_in_span(shard: int, shards: int, span_bits: int) -> int:
    """Offset inside a span of the first unsigned position that belongs to ``shard``."""
    return -((-shard << span_bits) // shards)  # ceil(shard * 2^span_bits / shards)


def shard_chunks(start: int, end: int, shards: int, ignore_msb: int = 12) -> list[ShardChunk]:
    """Cut the non-wrapping token range ``(start, end]`` into shard chunks in token order."""
    assert TOKEN_MIN <= start <= end <= TOKEN_MAX, "a non-wrapping range of valid tokens"
    if start == end:
        return []
    if shards == 1:
        return [ShardChunk(start, end, 0)]
    span_bits = 64 - ignore_msb
    first = start + 1 + _BIAS  # first unsigned position in the range
    last = end + _BIAS
    chunks: list[ShardChunk] = []
    position = first
    while position <= last:
        shard = shard_of(position - _BIAS, shards, ignore_msb)
        span_start = (position >> span_bits) << span_bits
        if shard + 1 < shards:
            boundary = span_start + _first_of_shard_in_span(shard + 1, shards, span_bits)
        else:
            boundary = span_start + (1 << span_bits)
        stop = min(boundary - 1, last)
        chunks.append(ShardChunk(position - 1 - _BIAS, stop - _BIAS, shard))
        position = stop + 1
    return chunks


def shard_ranges(start: int, end: int, shard: int, shards: int,
                 ignore_msb: int = 12) -> list[ShardChunk]:
    """The sub-ranges of ``(start, end]`` that ``shard`` owns, in token order."""
    return [chunk for chunk in shard_chunks(start, end, shards, ignore_msb) if chunk.shard == shard]
