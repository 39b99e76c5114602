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
