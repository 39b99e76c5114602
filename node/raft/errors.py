"""The errors of the Raft layer, as callers of ``RaftServer`` see them.

    ShardsimError                   (node/errors.py)
     └─ RaftError
         ├─ NotLeader               this member is not the leader (``leader``: a hint or None)
         ├─ NoQuorum                no leader, or no majority answered, within the timeout;
         │                          ``uncertain``: the command may still be applied later
         ├─ EntryDropped            a newer leader replaced the entry: it is never applied
         ├─ OutcomeUnknown          this member skipped the entry through a snapshot
         ├─ CommandTooLarge         a command over ``RaftConfig.max_command_bytes``
         ├─ TooManyPending          a bound on uncommitted entries or waiting calls is hit
         ├─ RaftClosed              closed by us (``aclose``)
         ├─ RaftFailed              the member stopped after a storage or state machine failure
         └─ LogCorrupted            the persisted log is damaged beyond a torn tail

A ``RequestError`` raised by the state machine's ``apply`` is the command's outcome: it
reaches the caller of ``add_entry`` as itself (also across a forwarded call).

A raft error crosses RPC (a forwarded command's answer) as ``to_wire``/``from_wire``; a
kind the receiver does not know arrives as a plain ``RaftError``.

Invariant: ``NoQuorum(uncertain=False)`` and ``EntryDropped`` mean the command was
never and will never be applied; every other failure after a proposal may hide a
command that is applied later.
"""

from __future__ import annotations

from typing import Any

from node.errors import ShardsimError


class RaftError(ShardsimError):
    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotLeader(RaftError):
    def __init__(self, leader: str | None) -> None:
        super().__init__(f"not the leader (leader: {leader})", leader=leader)
        self.leader = leader


class NoQuorum(RaftError):
    def __init__(self, message: str, *, uncertain: bool, **details: Any) -> None:
        super().__init__(message, uncertain=uncertain, **details)
        self.uncertain = uncertain


class EntryDropped(RaftError):
    pass


class OutcomeUnknown(RaftError):
    pass


class CommandTooLarge(RaftError):
    pass


class TooManyPending(RaftError):
    pass


class RaftClosed(RaftError):
    pass


class RaftFailed(RaftError):
    pass


class LogCorrupted(RaftError):
    pass


_BY_NAME: dict[str, type[RaftError]] = {
    cls.__name__: cls
    for cls in (EntryDropped, OutcomeUnknown, CommandTooLarge, TooManyPending, RaftClosed,
                RaftFailed, LogCorrupted)
}


def to_wire(error: RaftError) -> dict[str, Any]:
    return {"kind": type(error).__name__, "message": error.message,
            "details": {str(key): value for key, value in error.details.items()
                        if value is None or isinstance(value, str | int | float | bool)}}


def from_wire(value: Any) -> RaftError:
    """Rebuild a raft error sent by ``to_wire``; unknown kinds become ``RaftError``."""
    if not isinstance(value, dict):
        return RaftError(f"malformed remote raft error: {value!r:.200}")
    message = str(value.get("message", ""))
    details = value.get("details") if isinstance(value.get("details"), dict) else {}
    kind = value.get("kind")
    if kind == "NoQuorum":
        return NoQuorum(message, uncertain=bool(details.get("uncertain", True)))
    cls = _BY_NAME.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return RaftError(message, remote_kind=str(kind))
    return cls(message, **{str(key): item for key, item in details.items()})
