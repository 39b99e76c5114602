"""A bloom filter over partition keys, for single-partition reads of an SSTable.

Invariant: no false negatives: every key added answers ``might_contain`` True.
"""

from __future__ import annotations

import mmh3

HASH_COUNT = 7
BITS_PER_KEY = 10


class BloomFilter:
    __slots__ = ("bits", "bit_count", "hash_count")

    def __init__(self, bits: bytearray, bit_count: int, hash_count: int = HASH_COUNT) -> None:
        self.bits = bits
        self.bit_count = bit_count
        self.hash_count = hash_count

    @classmethod
    def for_keys(cls, expected_keys: int) -> BloomFilter:
        bit_count = max(64, expected_keys * BITS_PER_KEY)
        return cls(bytearray((bit_count + 7) // 8), bit_count)

    def _positions(self, key: bytes) -> list[int]:
        first, second = mmh3.hash64(key, signed=False)
        count = self.bit_count
        return [(first + i * second) % count for i in range(self.hash_count)]

    def add(self, key: bytes) -> None:
        bits = self.bits
        for position in self._positions(key):
            bits[position >> 3] |= 1 << (position & 7)

    def might_contain(self, key: bytes) -> bool:
        bits = self.bits
        return all(bits[p >> 3] & (1 << (p & 7)) for p in self._positions(key))
