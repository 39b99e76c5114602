"""Murmur3Partitioner tokens, identical to Cassandra's for every key.

A token is the first 64-bit half of MurmurHash3 x64_128 (seed 0) of the serialized
partition key, as a signed integer. Cassandra's Java code reads the key's tail (its
last ``len % 16`` bytes) as *signed* bytes and sign-extends them before shifting;
``mmh3`` reads them unsigned. The two agree exactly when no tail byte is >= 0x80, so
that is the fast path; every other key takes the exact Java-semantics path below.
Cassandra then maps the one hash value Long.MIN_VALUE to Long.MAX_VALUE, because
the minimum token is reserved for the ring's start.

Invariant: ``token_of(key) == Cassandra's Murmur3Partitioner.getToken(key)``.
"""

from __future__ import annotations

import struct

import mmh3

TOKEN_MIN = -(1 << 63)
TOKEN_MAX = (1 << 63) - 1

_MASK = (1 << 64) - 1
_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F
_HIGH_BITS = bytes(range(0x80, 0x100))


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & _MASK


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _MASK
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _MASK
    k ^= k >> 33
    return k


def _signed_byte_long(byte: int, shift: int) -> int:
    """Java's ``((long) b) << shift`` for a byte read as signed, as unsigned 64 bits."""
    value = byte - 256 if byte >= 0x80 else byte
    return (value << shift) & _MASK


def _java_hash3_x64_128_first(key: bytes) -> int:
    """h1 of Cassandra's MurmurHash.hash3_x64_128(key, 0, len, seed=0), unsigned."""
    length = len(key)
    blocks = length // 16
    h1 = h2 = 0
    for index in range(blocks):
        k1, k2 = struct.unpack_from("<QQ", key, index * 16)
        k1 = _rotl((k1 * _C1) & _MASK, 31)
        h1 ^= (k1 * _C2) & _MASK
        h1 = (_rotl(h1, 27) + h2) & _MASK
        h1 = (h1 * 5 + 0x52DCE729) & _MASK
        k2 = _rotl((k2 * _C2) & _MASK, 33)
        h2 ^= (k2 * _C1) & _MASK
        h2 = (_rotl(h2, 31) + h1) & _MASK
        h2 = (h2 * 5 + 0x38495AB5) & _MASK
    tail = key[blocks * 16:]
    k1 = k2 = 0
    for index in range(len(tail) - 1, 7, -1):
        k2 ^= _signed_byte_long(tail[index], (index - 8) * 8)
    if len(tail) > 8:
        k2 = _rotl((k2 * _C2) & _MASK, 33)
        h2 ^= (k2 * _C1) & _MASK
    for index in range(min(len(tail), 8) - 1, -1, -1):
        k1 ^= _signed_byte_long(tail[index], index * 8)
    if tail:
        k1 = _rotl((k1 * _C1) & _MASK, 31)
        h1 ^= (k1 * _C2) & _MASK
    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & _MASK
    h2 = (h2 + h1) & _MASK
    h1 = _fmix(h1)
    h2 = _fmix(h2)
    return (h1 + h2) & _MASK


def token_of(key: bytes) -> int:
    """The Murmur3Partitioner token of serialized partition key bytes."""
    tail = key[len(key) & ~15:]
    if not tail or max(tail) < 0x80:
        value = mmh3.hash64(key, 0, signed=True)[0]
    else:
        value = _java_hash3_x64_128_first(bytes(key))
        if value >= 1 << 63:
            value -= 1 << 64
    return TOKEN_MAX if value == TOKEN_MIN else value
