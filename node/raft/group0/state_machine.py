"""Group 0's state machine: the schema, changed only by committed commands, applied in
log order on every node (shard 0 applies, then hands the result to the node's shards).

A ``SchemaChange`` applies only when its ``prev_state_id`` is the id of the last
applied change (the guard); its entries get a stamp strictly after every stamp applied
before, so the schema store's "newest entry wins" merge always takes them, and the same
log gives the same schema, version and table ids on every node. A committed TRUNCATE
records its time and empties the table on every shard of the node.

Invariant: ``apply`` is deterministic (no clock, no randomness: stamps come from the
command and the state) and never raises for a command it refuses: a lost guard is an
answer (``ApplyResult(applied=False)``), and a malformed command is refused the same
way on every member.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import structlog

from node.errors import Invalid
from node.raft.group0.commands import ApplyResult, Group0State, SchemaChange, Truncation
from node.schema.store import SchemaStore

# Hands the schema as of a state id (this store's) and, for a TRUNCATE, the truncation
# to every shard of this node, and returns once they have it.
Distribute = Callable[[int, Truncation | None], Awaitable[None]]


class Group0StateMachine:
    def __init__(self, store: SchemaStore, distribute: Distribute, log: Any = None) -> None:
        self.store = store
        self.state = Group0State()
        self._distribute = distribute
        self.log = log or structlog.get_logger()
        self.applied_changes = 0
        self.refused_changes = 0

    async def apply(self, index: int, command: bytes) -> Any:
        try:
            change = SchemaChange.from_bytes(command)
        except Invalid as error:
            self.refused_changes += 1
            self.log.warning("group0.malformed_command", index=index, error=str(error))
            return ApplyResult(False, self.state.state_id).to_wire()
        if change.prev_state_id != self.state.state_id:
            self.refused_changes += 1
            return ApplyResult(False, self.state.state_id).to_wire()
        stamp = max(change.stamp_us, self.state.last_stamp_us + 1)
        stamped = {key: [stamp, value] for key, value in change.entries.items()}
        try:
            self.store.merge(stamped)
        except Invalid as error:  # the proposer's entries do not describe a valid schema
            self.refused_changes += 1
            self.log.warning("group0.invalid_change", index=index, error=str(error))
            return ApplyResult(False, self.state.state_id).to_wire()
        self.state.state_id = index
        self.state.last_stamp_us = stamp
        if change.truncation is not None:
            self.state.truncations[change.truncation.table_id] = change.truncation.truncated_at_us
        self.applied_changes += 1
        self.log.info("group0.applied", index=index, change=change.description,
                      version=self.store.version())
        await self._distribute(index, change.truncation)
        return ApplyResult(True, index).to_wire()

    async def snapshot(self) -> bytes:
        return msgpack.packb({"state_id": self.state.state_id,
                              "last_stamp_us": self.state.last_stamp_us,
                              "truncations": self.state.truncations,
                              "entries": self.store.snapshot()}, use_bin_type=True)

    async def restore(self, data: bytes) -> None:
        wire = msgpack.unpackb(data, raw=False)
        self.store.merge(wire["entries"])
        self.state = Group0State(state_id=int(wire["state_id"]),
                                 last_stamp_us=int(wire["last_stamp_us"]),
                                 truncations={str(k): int(v) for k, v in wire["truncations"].items()})
        self.log.info("group0.restored", state_id=self.state.state_id, version=self.store.version())
        await self._distribute(self.state.state_id, None)
        for table_id, truncated_at_us in sorted(self.state.truncations.items()):
            if self.store.table_by_id(table_id) is not None:  # a TRUNCATE empties once per shard
                await self._distribute(self.state.state_id, Truncation(table_id, truncated_at_us))
