"""The fault schedule of a run, drawn from a seed: which fault hits which node when.

The first ``interval`` is quiet (a baseline), then faults and quiet periods alternate,
each ``interval`` long: fault i runs over ``[(2i+1)·interval, (2i+2)·interval)``, and
every fault ends by the time limit. Fault kinds and nodes are drawn from
``random.Random(seed)``.

Invariant: one seed, fault list, node list, interval and time limit give one schedule.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PROCESS_FAULTS = ("kill", "pause")
NETWORK_FAULTS = ("partition", "delay", "drop", "clock")
FAULT_KINDS = PROCESS_FAULTS + NETWORK_FAULTS


@dataclass(frozen=True)
class PlannedFault:
    start_s: float
    end_s: float
    fault: str
    node: str


def parse_faults(text: str) -> list[str]:
    """``kill,partition`` -> ["kill", "partition"]; an empty text means no fault."""
    kinds = [word.strip().lower() for word in text.split(",") if word.strip()]
    unknown = [kind for kind in kinds if kind not in FAULT_KINDS]
    if unknown:
        raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULT_KINDS)}")
    return list(dict.fromkeys(kinds))


def plan_schedule(faults: list[str], nodes: list[str], interval_s: float, time_limit_s: float,
                  seed: int) -> list[PlannedFault]:
    assert interval_s > 0 and time_limit_s > 0, "positive interval and time limit"
    if not faults or not nodes:
        return []
    rng = random.Random(seed)
    schedule = []
    start = interval_s
    while start + interval_s <= time_limit_s:
        schedule.append(PlannedFault(start, start + interval_s, rng.choice(faults),
                                     rng.choice(sorted(nodes))))
        start += 2 * interval_s
    return schedule
