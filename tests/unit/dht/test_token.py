"""Tokens equal Cassandra's Murmur3Partitioner, with cassandra-driver as the oracle."""

import random
import uuid

import pytest
from cassandra.murmur3 import murmur3

from node.dht.token import TOKEN_MAX, token_of
from node.schema.types import TYPES, serialize_partition_key


def test_random_byte_keys_of_every_length_match_the_driver():
    rng = random.Random(20261123)
    mismatches = []
    for _ in range(100_000):
        key = rng.randbytes(rng.randint(0, 100))
        if token_of(key) != murmur3(key):
            mismatches.append(key)
    assert mismatches == []


def test_keys_with_high_tail_bytes_take_the_exact_path():
    # Each of these differs between mmh3 and Cassandra: a tail byte >= 0x80.
    for key in (b"\x80", b"\xff" * 15, b"a" * 16 + b"\xc3\xa9", "é".encode()):
        assert token_of(key) == murmur3(key)


@pytest.mark.parametrize("type_name,values", [
    ("int", [0, 1, -1, 42, -2**31, 2**31 - 1]),
    ("bigint", [0, -1, 2**63 - 1, -2**63, 123456789012]),
    ("smallint", [-32768, 32767, -5]),
    ("tinyint", [-128, 127, 0]),
    ("varint", [0, -1, 127, 128, -129, 10**40, -10**40]),
    ("text", ["", "a", "hello world", "é", "日本語テキスト", "🙂" * 9]),
    ("ascii", ["abc", ""]),
    ("blob", [b"", b"\x00", b"\xff\xfe" * 20]),
    ("boolean", [True, False]),
    ("double", [0.0, -1.5, 1e300, float("inf")]),
    ("float", [0.5, -3.25]),
    ("timestamp", [0, -1000, 1_700_000_000_123]),
])
def test_typed_keys_match_the_driver(type_name, values):
    kind = TYPES[type_name]
    for value in values:
        key = serialize_partition_key([kind], [value])
        assert token_of(key) == murmur3(key), (type_name, value)


def test_random_typed_and_composite_keys_match_the_driver():
    rng = random.Random(7)
    text_alphabet = "abcxyzé日本🙂\u0000\u07ff"
    for _ in range(3_000):
        text = "".join(rng.choice(text_alphabet) for _ in range(rng.randint(0, 30)))
        number = rng.randint(-2**63, 2**63 - 1)
        ident = uuid.UUID(int=rng.getrandbits(128), version=4)
        for types, values in (([TYPES["text"]], [text]), ([TYPES["bigint"]], [number]),
                              ([TYPES["uuid"]], [ident]),
                              ([TYPES["int"], TYPES["text"]], [number >> 33, text]),
                              ([TYPES["text"], TYPES["uuid"], TYPES["bigint"]], [text, ident, number])):
            key = serialize_partition_key(types, values)
            assert token_of(key) == murmur3(key)


def test_composite_key_serialization_is_length_prefixed_and_terminated():
    key = serialize_partition_key([TYPES["int"], TYPES["text"]], [1, "ab"])
    assert key == b"\x00\x04\x00\x00\x00\x01\x00" + b"\x00\x02ab\x00"


def test_the_minimum_hash_maps_to_the_maximum_token():
    # No known key hashes to Long.MIN_VALUE; the rule still holds for the function's range.
    assert all(token_of(bytes([b])) != -(2**63) for b in range(256))
    assert TOKEN_MAX == 2**63 - 1
