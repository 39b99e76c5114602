"""Property tests: literals written as CQL text parse back to the same value."""

import uuid

from hypothesis import given, settings
from hypothesis import strategies as strategies

from coordinator.cql3.parser import parse_uncached


def _parsed(literal: str):
    return parse_uncached(f"INSERT INTO t (v) VALUES ({literal})").values[0]


@settings(max_examples=150, deadline=None)
@given(strategies.integers(min_value=-(2**70), max_value=2**70))
def test_integers_round_trip(value):
    assert _parsed(str(value)) == value


@settings(max_examples=150, deadline=None)
@given(strategies.text(alphabet=strategies.characters(blacklist_categories=("Cs",)), max_size=40))
def test_strings_round_trip_with_quote_escapes(value):
    literal = "'" + value.replace("'", "''") + "'"
    assert _parsed(literal) == value


@settings(max_examples=100, deadline=None)
@given(strategies.text(alphabet=strategies.characters(blacklist_categories=("Cs",)), max_size=40)
       .filter(lambda s: "$$" not in s and not s.endswith("$")))
def test_dollar_strings_round_trip(value):
    assert _parsed("$$" + value + "$$") == value


@settings(max_examples=150, deadline=None)
@given(strategies.binary(max_size=64))
def test_blobs_round_trip(value):
    assert _parsed("0x" + value.hex()) == value


@settings(max_examples=150, deadline=None)
@given(strategies.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip(value):
    text = repr(value)
    if "." not in text and "e" not in text:
        text += ".0"
    assert _parsed(text) == value


@settings(max_examples=50, deadline=None)
@given(strategies.uuids())
def test_uuids_round_trip(value):
    assert _parsed(str(value)) == value and isinstance(_parsed(str(value)), uuid.UUID)
