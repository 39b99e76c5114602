"""The paging-state cookie: round trips, and anything else is Invalid, never a crash."""

import base64

import msgpack
import pytest
from hypothesis import given, settings, strategies as st

from coordinator.pager.paging_state import PagingCodec, PagingState
from node.errors import Invalid
from node.readers.position import AFTER_END, AFTER_ROW, Position

CODEC = PagingCodec("test", "secret")


def sample() -> PagingState:
    return PagingState("table-id", b"q" * 16, Position(AFTER_ROW, -42, b"key", clustering=b"\x01c"),
                       7, 2, {-5: ("n1", "n2"), 9: ("n3",)}, 9)


def test_a_state_round_trips_through_a_url_safe_string():
    cookie = CODEC.encode(sample())
    assert set(cookie) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert CODEC.decode(cookie) == sample()
    end = PagingState("t", b"x" * 16, Position(AFTER_END, 1, b"k"))
    assert CODEC.decode(CODEC.encode(end)) == end


def test_another_cluster_or_secret_cannot_forge_a_state():
    cookie = CODEC.encode(sample())
    with pytest.raises(Invalid):
        PagingCodec("other", "secret").decode(cookie)
    with pytest.raises(Invalid):
        PagingCodec("test", "").decode(cookie)


def test_a_well_tagged_body_of_the_wrong_shape_is_invalid():
    payload = msgpack.packb([1, "t", b"short", [0, 0, b"", None, None], None, None, [], None])
    cookie = base64.urlsafe_b64encode(payload + CODEC._tag(payload)).decode().rstrip("=")
    with pytest.raises(Invalid):
        CODEC.decode(cookie)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(
    lambda b: base64.urlsafe_b64encode(b).decode()), st.integers(), st.none()))
def test_garbage_is_invalid(garbage):
    with pytest.raises(Invalid):
        CODEC.decode(garbage)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_every_single_byte_change_is_invalid(where, value):
    raw = bytearray(base64.urlsafe_b64decode(CODEC.encode(sample()) + "=="))
    index = where % len(raw)
    if raw[index] == value:
        return
    raw[index] = value
    with pytest.raises(Invalid):
        CODEC.decode(base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("="))
