"""The Raft messages, defined once for both sides: log entries, snapshots, the messages
members exchange (one-way, each on its own verb) and the two request/answer verbs a
follower sends to the leader (a forwarded command, a read barrier).

On the wire a message is a msgpack map of its field names plus ``group``; a field
added later is optional with a default, and unknown fields are ignored, so mixed
versions still talk. ``decode`` checks every field's type and raises ``ValueError``
on a malformed payload.

Invariant: ``decode(verb_of(m), encode(m, group)) == (group, m)`` for every message.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from typing import Any

from node.rpc.verbs import Verb

NOOP = 0      # the entry a new leader appends to commit its predecessors' entries
COMMAND = 1   # a client command for the state machine
# 2 is reserved for configuration changes.
ENTRY_KINDS = (NOOP, COMMAND)


@dataclass(frozen=True, slots=True)
class LogEntry:
    term: int
    index: int
    kind: int = COMMAND
    command: bytes = b""

    def to_wire(self) -> list[Any]:
        return [self.term, self.index, self.kind, self.command]

    @classmethod
    def from_wire(cls, value: Any) -> LogEntry:
        if not isinstance(value, list | tuple) or len(value) < 4:
            raise ValueError("a log entry is [term, index, kind, command]")
        term, index, kind, command = value[:4]
        if not (_is_int(term) and _is_int(index) and kind in ENTRY_KINDS
                and isinstance(command, bytes)):
            raise ValueError("malformed log entry")
        return cls(term, index, kind, command)

    @property
    def size_bytes(self) -> int:
        """An upper bound of its packed size (msgpack adds at most ~25 bytes)."""
        return len(self.command) + 32


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state machine as of ``index`` (whose entry had ``term``)."""

    index: int
    term: int
    data: bytes = b""


EMPTY_SNAPSHOT = Snapshot(0, 0, b"")


# --- member to member, one-way ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppendEntries:
    term: int
    prev_index: int
    prev_term: int
    entries: tuple[LogEntry, ...]
    commit_index: int
    read_seq: int = 0       # the leader's read round; echoed in the reply


@dataclass(frozen=True, slots=True)
class AppendReply:
    term: int
    success: bool
    match_index: int = 0    # success: the follower's log matches the leader's up to here
    rejected_index: int = 0  # failure: the prev_index the follower could not match
    last_index: int = 0     # failure: the follower's last index, a hint for the leader
    read_seq: int = 0


@dataclass(frozen=True, slots=True)
class VoteRequest:
    term: int               # a pre-vote asks for the term the candidate would take
    last_index: int
    last_term: int
    pre_vote: bool = False


@dataclass(frozen=True, slots=True)
class VoteReply:
    term: int
    granted: bool
    pre_vote: bool = False


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    term: int
    index: int
    snapshot_term: int
    offset: int             # of this chunk in the snapshot's data
    data: bytes
    done: bool              # the last chunk
    read_seq: int = 0


@dataclass(frozen=True, slots=True)
class SnapshotReply:
    term: int
    index: int              # the snapshot this answers
    next_offset: int = 0    # the chunk the follower expects next
    done: bool = False      # installed: match_index is valid
    match_index: int = 0
    read_seq: int = 0


Message = AppendEntries | AppendReply | VoteRequest | VoteReply | InstallSnapshot | SnapshotReply


# --- follower to leader, request and answer ---------------------------------------

OK = "ok"
NOT_LEADER = "not_leader"
DROPPED = "dropped"
NO_QUORUM = "no_quorum"
FAILED = "failed"          # the leader refused or failed: ``error`` says why


@dataclass(frozen=True, slots=True)
class AddEntryRequest:
    command: bytes
    timeout_s: float


@dataclass(frozen=True, slots=True)
class AddEntryReply:
    outcome: str
    leader: str | None = None
    index: int = 0
    term: int = 0
    result: Any = None
    error: dict[str, Any] | None = None   # a RequestError's to_wire, or {kind, message}
    uncertain: bool = True


@dataclass(frozen=True, slots=True)
class ReadBarrierRequest:
    timeout_s: float


@dataclass(frozen=True, slots=True)
class ReadBarrierReply:
    outcome: str
    index: int = 0
    leader: str | None = None


# --- codec ------------------------------------------------------------------------

_VERBS: dict[type, Verb] = {
    AppendEntries: Verb.RAFT_APPEND_ENTRIES,
    AppendReply: Verb.RAFT_APPEND_REPLY,
    VoteRequest: Verb.RAFT_VOTE,
    VoteReply: Verb.RAFT_VOTE_REPLY,
    InstallSnapshot: Verb.RAFT_INSTALL_SNAPSHOT,
    SnapshotReply: Verb.RAFT_SNAPSHOT_REPLY,
    ReadBarrierRequest: Verb.RAFT_READ_BARRIER,
    AddEntryRequest: Verb.RAFT_ADD_ENTRY,
}
_TYPES: dict[int, type] = {int(verb): kind for kind, verb in _VERBS.items()}
MEMBER_VERBS = tuple(_VERBS[kind] for kind in (AppendEntries, AppendReply, VoteRequest,
                                               VoteReply, InstallSnapshot, SnapshotReply))

# The type every field must have on the wire; ``None`` in a tuple: may be nil.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "term": (int,), "prev_index": (int,), "prev_term": (int,), "commit_index": (int,),
    "read_seq": (int,), "success": (bool,), "match_index": (int,), "rejected_index": (int,),
    "last_index": (int,), "last_term": (int,), "pre_vote": (bool,), "granted": (bool,),
    "index": (int,), "snapshot_term": (int,), "offset": (int,), "data": (bytes,),
    "done": (bool,), "next_offset": (int,), "command": (bytes,), "timeout_s": (int, float),
    "outcome": (str,), "leader": (str, type(None)), "error": (dict, type(None)),
    "uncertain": (bool,),
}


def verb_of(message: Any) -> Verb:
    return _VERBS[type(message)]


def encode(message: Any, group: int) -> dict[str, Any]:
    """The wire form of a request message (member messages, AddEntry, ReadBarrier)."""
    wire = _fields_to_wire(message)
    wire["group"] = group
    return wire


def decode(verb: int, payload: Any) -> tuple[int, Any]:
    """``(group, message)`` of a request payload received on ``verb``."""
    kind = _TYPES.get(int(verb))
    if kind is None:
        raise ValueError(f"verb {verb} carries no raft message")
    if not isinstance(payload, dict):
        raise ValueError("a raft message is a map")
    group = payload.get("group", 0)
    if not _is_int(group):
        raise ValueError("group must be an integer")
    return group, _fields_from_wire(kind, payload)


def encode_answer(answer: AddEntryReply | ReadBarrierReply) -> dict[str, Any]:
    return _fields_to_wire(answer)


def decode_add_entry_reply(payload: Any) -> AddEntryReply:
    return _fields_from_wire(AddEntryReply, _as_map(payload))


def decode_read_barrier_reply(payload: Any) -> ReadBarrierReply:
    return _fields_from_wire(ReadBarrierReply, _as_map(payload))


def _as_map(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValueError("a raft answer is a map")
    return payload


def _fields_to_wire(message: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    for name in message.__dataclass_fields__:
        value = getattr(message, name)
        if name == "entries":
            value = [entry.to_wire() for entry in value]
        wire[name] = value
    return wire


def _fields_from_wire(kind: type, payload: dict[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for name, spec in kind.__dataclass_fields__.items():
        if name not in payload:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise ValueError(f"{kind.__name__} lacks {name}")
            continue
        value = payload[name]
        if name == "entries":
            if not isinstance(value, list):
                raise ValueError("entries must be a list")
            value = tuple(LogEntry.from_wire(item) for item in value)
        elif name == "result":
            pass  # the state machine's own value
        else:
            expected = _FIELD_TYPES[name]
            if not isinstance(value, expected) or (bool not in expected and isinstance(value, bool)):
                raise ValueError(f"{kind.__name__}.{name} has the wrong type")
        values[name] = value
    return kind(**values)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
