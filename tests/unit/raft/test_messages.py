"""The wire form of Raft messages and errors: every message survives msgpack both
ways, new fields may be missing, unknown fields are ignored, bad types are refused."""

import msgpack
import pytest

from node.errors import AlreadyExists
from node.raft import errors
from node.raft.messages import (COMMAND, NOOP, NOT_LEADER, OK, AddEntryReply, AddEntryRequest,
                                AppendEntries, AppendReply, InstallSnapshot, LogEntry,
                                ReadBarrierReply, ReadBarrierRequest, SnapshotReply, VoteReply,
                                VoteRequest, decode, decode_add_entry_reply,
                                decode_read_barrier_reply, encode, encode_answer, verb_of)
from node.rpc.verbs import Verb

MESSAGES = [
    AppendEntries(3, 10, 2, (LogEntry(3, 11, NOOP), LogEntry(3, 12, COMMAND, b"\x00cmd")), 9, 4),
    AppendEntries(1, 0, 0, (), 0),
    AppendReply(3, True, match_index=12, read_seq=4),
    AppendReply(3, False, rejected_index=10, last_index=7),
    VoteRequest(4, 12, 3, pre_vote=True),
    VoteReply(4, False, pre_vote=False),
    InstallSnapshot(5, 100, 4, 65536, b"chunk", False, 2),
    SnapshotReply(5, 100, next_offset=65541),
    AddEntryRequest(b"command", 4.5),
    ReadBarrierRequest(2.0),
]


def over_the_wire(value):
    return msgpack.unpackb(msgpack.packb(value, use_bin_type=True), raw=False)


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_survives_msgpack_with_its_group(message):
    payload = over_the_wire(encode(message, 0))
    assert decode(verb_of(message), payload) == (0, message)


def test_member_messages_use_the_raft_verbs():
    assert {int(verb_of(m)) for m in MESSAGES} == set(range(14, 22))
    assert Verb.RAFT_APPEND_ENTRIES == 14 and Verb.RAFT_ADD_ENTRY == 21


def test_missing_optional_fields_take_their_defaults_and_unknown_ones_are_ignored():
    payload = {"term": 2, "granted": True, "from_a_newer_version": [1, 2]}
    assert decode(Verb.RAFT_VOTE_REPLY, payload) == (0, VoteReply(2, True, pre_vote=False))


@pytest.mark.parametrize("payload", [
    {"term": 2},                                             # a required field missing
    {"term": "2", "granted": True},                          # wrong type
    {"term": True, "granted": True},                         # a bool is not a term
    {"term": 2, "granted": 1},                               # an int is not a bool
    [2, True],                                               # not a map
    {"term": 2, "granted": True, "group": "zero"},
])
def test_malformed_payloads_are_refused(payload):
    with pytest.raises(ValueError):
        decode(Verb.RAFT_VOTE_REPLY, payload)


def test_malformed_entries_are_refused():
    base = encode(AppendEntries(1, 0, 0, (LogEntry(1, 1),), 0), 0)
    for entry in ([1, 1, 9, b""], [1, 1, 1, "text"], [1, 1], "entry"):
        with pytest.raises(ValueError):
            decode(Verb.RAFT_APPEND_ENTRIES, {**base, "entries": [entry]})


def test_answers_survive_msgpack():
    reply = AddEntryReply(OK, "n1", 7, 3, {"any": ["msgpack", 1]}, None, uncertain=False)
    assert decode_add_entry_reply(over_the_wire(encode_answer(reply))) == reply
    read = ReadBarrierReply(NOT_LEADER, leader="n2")
    assert decode_read_barrier_reply(over_the_wire(encode_answer(read))) == read
    with pytest.raises(ValueError):
        decode_add_entry_reply({"leader": "n1"})


def test_raft_errors_cross_the_wire_and_unknown_kinds_stay_raft_errors():
    for error in (errors.TooManyPending("full", limit=3), errors.NoQuorum("late", uncertain=True),
                  errors.EntryDropped("gone", index=4)):
        back = errors.from_wire(over_the_wire(errors.to_wire(error)))
        assert type(back) is type(error) and back.message == error.message
    assert errors.from_wire(over_the_wire(errors.to_wire(errors.NoQuorum("x", uncertain=False)))
                            ).uncertain is False
    unknown = errors.from_wire({"kind": "FromTheFuture", "message": "m"})
    assert type(unknown) is errors.RaftError and unknown.details["remote_kind"] == "FromTheFuture"
    assert AlreadyExists("t", keyspace="k", table="t").to_wire()["kind"] == "AlreadyExists"
