"""Hint segment framing: records round-trip; a torn or corrupt record is skipped and
counted, and the records after it are still read."""

from hypothesis import given, settings
from hypothesis import strategies as st

from node.hints.segment import decode_payload, encode_payload, frame, read_records


def records(count):
    return [encode_payload(1_000 + i, ["table", b"key%d" % i, i, None, None, [], []]) for i in range(count)]


def read_all(data):
    bad = []
    found = [r.payload for r in read_records(data, bad.append)]
    return found, bad


def test_records_round_trip_in_order():
    payloads = records(5)
    found, bad = read_all(b"".join(frame(p) for p in payloads))
    assert found == payloads and bad == []
    assert decode_payload(found[3]) == (1003, ["table", b"key3", 3, None, None, [], []], None)


def test_a_payload_carries_the_table_gc_grace_and_old_payloads_still_decode():
    wire = ["table", b"key", 1, None, None, [], []]
    assert decode_payload(encode_payload(5, wire, 3600)).gc_grace_s == 3600
    assert decode_payload(encode_payload(5, wire)) == (5, wire, None)


def test_a_flipped_byte_costs_only_its_record():
    payloads = records(5)
    data = bytearray(b"".join(frame(p) for p in payloads))
    second = len(frame(payloads[0]))
    data[second + 20] ^= 0xFF  # inside the second record's payload
    found, bad = read_all(bytes(data))
    assert found == payloads[:1] + payloads[2:]
    assert bad == [second]


def test_a_corrupt_length_is_skipped_by_resynchronizing_on_the_next_record():
    payloads = records(4)
    data = bytearray(b"".join(frame(p) for p in payloads))
    data[4:8] = (10 ** 9).to_bytes(4, "big")  # the first record's length
    found, bad = read_all(bytes(data))
    assert found == payloads[1:] and len(bad) == 1


def test_a_torn_tail_is_counted_once():
    payloads = records(3)
    data = b"".join(frame(p) for p in payloads)
    found, bad = read_all(data[:-7])
    assert found == payloads[:2] and len(bad) == 1


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 9), st.binary(min_size=1, max_size=40))
def test_garbage_inserted_anywhere_loses_at_most_one_record(index, garbage):
    payloads = records(10)
    framed = [frame(p) for p in payloads]
    data = b"".join(framed[:index]) + garbage + b"".join(framed[index:])
    found, bad = read_all(data)
    assert len(found) >= 9
    assert set(found) <= set(payloads)
    assert found == sorted(found, key=payloads.index)
