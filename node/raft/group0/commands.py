"""The commands of group 0: a schema change, guarded by the state it was computed from.

A coordinator reads the schema after a read barrier, computes the entries its
statement changes, and proposes them with ``prev_state_id``: the id of the last schema
change it saw. The state machine applies the command only if no other change was
applied since; otherwise it reports the newer id and the coordinator computes again
(ScyllaDB's group 0 guard). So racing ``CREATE TABLE IF NOT EXISTS`` give one table,
and two ``ALTER TABLE ADD`` both land.

Invariant: the wire form is a msgpack map; a new field is optional with a default, and
an unknown field is ignored, so mixed versions decode each other's commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from node.errors import Invalid

SCHEMA_CHANGE = "schema_change"


@dataclass(frozen=True)
class Truncation:
    """A committed TRUNCATE: the table's id and the time before which writes are gone."""
    table_id: str
    truncated_at_us: int


@dataclass(frozen=True)
class SchemaChange:
    prev_state_id: int                     # the last applied change the proposer saw
    entries: dict[str, Any]                # schema key -> wire value, or None for a drop
    stamp_us: int                          # the proposer's clock; applied stamps only grow
    description: str = ""                  # the statement, for logs
    truncation: Truncation | None = None

    def to_bytes(self) -> bytes:
        wire: dict[str, Any] = {"kind": SCHEMA_CHANGE, "prev_state_id": self.prev_state_id,
                                "entries": self.entries, "stamp_us": self.stamp_us,
                                "description": self.description[:200]}
        if self.truncation is not None:
            wire["truncation"] = [self.truncation.table_id, self.truncation.truncated_at_us]
        return msgpack.packb(wire, use_bin_type=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> "SchemaChange":
        try:
            wire = msgpack.unpackb(data, raw=False)
            if not isinstance(wire, dict) or wire.get("kind") != SCHEMA_CHANGE:
                raise ValueError("not a schema change")
            entries = wire["entries"]
            if not isinstance(entries, dict) or not all(isinstance(k, str) for k in entries):
                raise ValueError("entries")
            truncation = None
            if wire.get("truncation") is not None:
                table_id, at_us = wire["truncation"]
                truncation = Truncation(str(table_id), int(at_us))
            return cls(prev_state_id=int(wire["prev_state_id"]), entries=entries,
                       stamp_us=int(wire["stamp_us"]), description=str(wire.get("description", "")),
                       truncation=truncation)
        except (ValueError, TypeError, KeyError, msgpack.UnpackException) as error:
            raise Invalid(f"malformed group 0 command: {error}") from None


@dataclass(frozen=True)
class ApplyResult:
    """What applying a command answered: applied, or the newer state it lost against."""
    applied: bool
    state_id: int

    def to_wire(self) -> list[Any]:
        return [self.applied, self.state_id]

    @classmethod
    def from_wire(cls, wire: Any) -> "ApplyResult":
        if not (isinstance(wire, (list, tuple)) and len(wire) >= 2):
            raise Invalid("malformed group 0 result")
        return cls(bool(wire[0]), int(wire[1]))


@dataclass
class Group0State:
    """The part of the state machine's state that is not the schema itself."""
    state_id: int = 0          # the log index of the last applied schema change
    last_stamp_us: int = 0     # stamps given to applied entries only grow
    truncations: dict[str, int] = field(default_factory=dict)  # table id -> truncated_at_us
