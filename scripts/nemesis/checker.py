"""The checker of a fault run: what the history says about the cluster's promises.

Per key, writes carry unique increasing values (see ``nemesis_history``). It reports:

- operations ok, failed and unknown, per kind;
- **stale reads**: a read that returns a value older than a write acknowledged before
  the read started. A value counts as older when it is smaller, except the value of a
  write whose outcome is unknown: such a write may take effect at any later time, so
  seeing it is never stale. "No row" is older than every write;
- **lost writes**: acknowledged writes whose value is newer than what the final read
  at ALL (after every fault healed) returned for their key, with the same exception;
- **impossible reads**: a value that no write invoked, or a write that certainly
  failed;
- **unchecked keys**: keys whose final read did not succeed.

The run is valid when there is no stale read, lost write, impossible read or unchecked key.

Invariant: the checker is a pure function of the history; the same history always
gets the same verdict.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from scripts.nemesis.history import FAIL, FINAL_READ, OK, READ, UNKNOWN, WRITE, History, Operation

EXAMPLES_MAX = 10
ALWAYS_SHOWN_METRICS = ("read repairs", "hints written", "hints sent")


@dataclass
class Verdict:
    valid: bool
    counts: dict[str, dict[str, int]]
    stale_reads: int
    lost_writes: int
    impossible_reads: int
    unchecked_keys: list[int]
    keys: int
    examples: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        out = []
        for op, statuses in self.counts.items():
            out.append(f"{op:<11} ok {statuses.get(OK, 0):>6}   failed {statuses.get(FAIL, 0):>5}   "
                       f"unknown {statuses.get(UNKNOWN, 0):>5}")
        out.append(f"keys checked: {self.keys - len(self.unchecked_keys)} of {self.keys}"
                   + (f" (final read failed for {self.unchecked_keys[:10]})" if self.unchecked_keys else ""))
        out.append(f"acknowledged writes lost: {self.lost_writes}")
        out.append(f"stale reads: {self.stale_reads}")
        out.append(f"impossible reads: {self.impossible_reads}")
        for name, value in self.metrics.items():
            if value or name in ALWAYS_SHOWN_METRICS:
                out.append(f"{name}: {value:g}")
        out += [f"  e.g. {example}" for example in self.examples]
        return out


class _KeyWrites:
    """One key's writes: acknowledged ones in completion order, and each value's status."""

    def __init__(self) -> None:
        self.status_of: dict[int, str] = {}
        self.acked: list[tuple[float, int]] = []  # (end_s, value)
        self._prefix_max: list[int] = []

    def add(self, operation: Operation) -> None:
        assert operation.value is not None, "a write has a value"
        self.status_of[operation.value] = operation.status
        if operation.status == OK:
            self.acked.append((operation.end_s, operation.value))

    def freeze(self) -> None:
        self.acked.sort()
        best = 0
        self._prefix_max = []
        for _, value in self.acked:
            best = max(best, value)
            self._prefix_max.append(best)

    def newest_acked_before(self, time_s: float) -> int:
        """The greatest value acknowledged strictly before ``time_s`` (0: none)."""
        index = bisect.bisect_left(self.acked, (time_s, -1))
        return self._prefix_max[index - 1] if index else 0

    def newest_acked(self) -> int:
        return self._prefix_max[-1] if self._prefix_max else 0


def _older(seen: int | None, newest: int, writes: _KeyWrites) -> bool:
    if seen is None:
        return newest > 0
    if seen >= newest:
        return False
    return writes.status_of.get(seen) != UNKNOWN


def check(history: History, metrics: dict[str, float] | None = None) -> Verdict:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {OK: 0, FAIL: 0, UNKNOWN: 0})
    writes: dict[int, _KeyWrites] = defaultdict(_KeyWrites)
    keys: set[int] = set()
    for operation in history.operations:
        counts[operation.op][operation.status] += 1
        keys.add(operation.key)
        if operation.op == WRITE:
            writes[operation.key].add(operation)
    for key_writes in writes.values():
        key_writes.freeze()
    examples: list[str] = []
    stale = impossible = lost = 0
    final_ok: dict[int, Operation] = {}
    for operation in history.operations:
        if operation.op not in (READ, FINAL_READ) or operation.status != OK:
            continue
        key_writes = writes[operation.key]
        seen = operation.value
        if seen is not None and key_writes.status_of.get(seen) in (None, FAIL):
            impossible += 1
            _example(examples, f"key {operation.key}: read {seen} at {operation.start_s:.3f}s via "
                     f"{operation.node}, a value no write could have left")
            continue
        if operation.op == FINAL_READ:
            final_ok[operation.key] = operation
            continue
        newest = key_writes.newest_acked_before(operation.start_s)
        if _older(seen, newest, key_writes):
            stale += 1
            _example(examples, f"key {operation.key}: stale read of {seen} at {operation.start_s:.3f}s "
                     f"via {operation.node} ({operation.consistency}); {newest} was acknowledged before")
    for key, key_writes in writes.items():
        final = final_ok.get(key)
        if final is None:
            continue
        lost_here = [value for _, value in key_writes.acked
                     if _older(final.value, value, key_writes)]
        lost += len(lost_here)
        if lost_here:
            _example(examples, f"key {key}: final read at ALL saw {final.value}; acknowledged "
                     f"{sorted(lost_here)[:5]} lost")
    unchecked = sorted(key for key in keys if key not in final_ok)
    valid = stale == 0 and lost == 0 and impossible == 0 and not unchecked
    return Verdict(valid=valid, counts={op: dict(value) for op, value in sorted(counts.items())},
                   stale_reads=stale, lost_writes=lost, impossible_reads=impossible,
                   unchecked_keys=unchecked, keys=len(keys), examples=examples,
                   metrics=dict(metrics or {}))


def _example(examples: list[str], text: str) -> None:
    if len(examples) < EXAMPLES_MAX:
        examples.append(text)
