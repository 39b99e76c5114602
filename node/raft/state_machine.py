"""The interface between Raft and what it replicates: the state machine a group
applies its committed commands to (group 0's is the schema).

    result = await machine.apply(index, command)   # in log order, once per index
    data = await machine.snapshot()                # the state after the last apply
    await machine.restore(data)                    # replace the state with a snapshot

Invariant: ``apply`` is deterministic: the same commands in the same order give the
same state and results on every member. A ``RequestError`` it raises is the command's
outcome (AlreadyExists, say), returned to the caller like a result; any other
exception stops the member, because skipping a command would make it diverge.
"""

from __future__ import annotations

from typing import Any, Protocol


class StateMachine(Protocol):
    async def apply(self, index: int, command: bytes) -> Any:
        """Apply one committed command; the result goes to whoever proposed it, so it
        must pack with msgpack (a follower's proposal gets it across RPC)."""

    async def snapshot(self) -> bytes:
        ...

    async def restore(self, data: bytes) -> None:
        ...
