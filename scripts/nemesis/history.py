"""The history of a fault run: every client operation and every fault, with times in
seconds since the run began, written as JSON lines.

An operation is ``{"kind": "op", "op": "write"|"read"|"final_read", "key", "value",
"status": "ok"|"fail"|"unknown", "start_s", "end_s", "node", "consistency",
"error"?}``: a write's ``value`` is the value it wrote, a read's is the value it saw
(null: no row). ``fail`` means certainly not applied (refused before it ran);
``unknown`` means it may or may not have been (a timeout, a lost connection).

A fault is ``{"kind": "fault", "fault", "node", "start_s", "end_s", "detail"}``:
from its injection until it was healed.

Invariant: per key, writes carry unique values that increase in the order they were
invoked, and a key's next write is invoked only after its previous write finished
(ok, fail or unknown), so value order is timestamp order unless a clock is skewed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OK = "ok"
FAIL = "fail"
UNKNOWN = "unknown"
WRITE = "write"
READ = "read"
FINAL_READ = "final_read"


@dataclass
class Operation:
    op: str
    key: int
    value: int | None
    status: str
    start_s: float
    end_s: float
    node: str
    consistency: str
    error: str | None = None
    kind: str = "op"


@dataclass
class FaultPeriod:
    fault: str
    node: str
    start_s: float
    end_s: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    kind: str = "fault"


@dataclass
class History:
    operations: list[Operation] = field(default_factory=list)
    faults: list[FaultPeriod] = field(default_factory=list)

    def write_jsonl(self, path: Path) -> None:
        entries = [asdict(item) for item in [*self.faults, *self.operations]]
        entries.sort(key=lambda entry: entry["start_s"])
        with open(path, "w") as stream:
            for entry in entries:
                stream.write(json.dumps(entry, separators=(",", ":")) + "\n")

    @classmethod
    def read_jsonl(cls, path: Path) -> History:
        history = cls()
        for line in Path(path).read_text().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            if entry.get("kind") == "fault":
                history.faults.append(FaultPeriod(**entry))
            else:
                history.operations.append(Operation(**entry))
        return history
