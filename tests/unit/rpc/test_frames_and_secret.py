"""The wire format (framing, answers) and the cluster secret file."""

import stat

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import Invalid, ServerError, Unavailable
from node.rpc.errors import UnknownVerb
from node.rpc.frames import FrameError, FrameReader, decode_answer, encode_error, frame
from node.rpc.secret import load_or_create_secret


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20), st.lists(st.integers(1, 50), min_size=1))
def test_frames_come_out_whole_however_the_stream_is_cut(bodies, cuts):
    stream = b"".join(frame(body) for body in bodies)
    reader = FrameReader(1024)
    out, position, index = [], 0, 0
    while position < len(stream):
        size = cuts[index % len(cuts)]
        reader.feed(stream[position:position + size])
        position, index = position + size, index + 1
        while (body := reader.next_frame()) is not None:
            out.append(body)
    assert out == bodies and reader.buffered_bytes() == 0


def test_a_length_over_the_limit_is_rejected_from_the_header_alone():
    reader = FrameReader(1024)
    reader.feed((1025).to_bytes(4, "big"))
    with pytest.raises(FrameError):
        reader.next_frame()


def test_errors_cross_as_tagged_values():
    status, value = encode_error(Unavailable("few", consistency="QUORUM", required=2, alive=1))
    value = msgpack.unpackb(msgpack.packb(value))
    with pytest.raises(Unavailable) as raised:
        decode_answer(status, value)
    assert raised.value.details == {"consistency": "QUORUM", "required": 2, "alive": 1}
    with pytest.raises(UnknownVerb):
        decode_answer(*encode_error(UnknownVerb("no such verb")))
    with pytest.raises(ServerError):
        decode_answer(*encode_error(RuntimeError("bug")))
    with pytest.raises(ServerError):
        decode_answer(1, {"kind": "FromTheFuture", "message": "?"})
    with pytest.raises(ServerError):
        decode_answer(77, None)
    assert decode_answer(0, [1]) == [1]
    assert isinstance(Invalid("x"), Exception)


def test_the_secret_is_created_once_with_mode_0600(tmp_path):
    first = load_or_create_secret(tmp_path / "data")
    path = tmp_path / "data" / "cluster.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64
    assert load_or_create_secret(tmp_path / "data") == first
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["cluster.secret"]
