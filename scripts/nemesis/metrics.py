"""Counters a fault run reports from the nodes' ``/metrics``: hints written and
replayed (``shardsim_hints_*``, when the node has them), hints the coordinators asked
for, and read repairs.

Each sample reads every node's series; the increase of a series between two samples
is added up, and a series that went down (its node restarted) counts from zero, so
the totals survive kills as long as a sample is taken before each one.

Invariant: totals only ever grow.
"""

from __future__ import annotations

import re
from typing import Any

from scripts.cluster_client import AsyncCqlClient, QueryFailed

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN)\s*$")
TRACKED_PREFIXES = ("shardsim_hints_",)
TRACKED_NAMES = ("shardsim_coordinator_hints_requested", "shardsim_coordinator_read_repairs",
                 "shardsim_coordinator_digest_mismatches")


def parse_prometheus(text: str) -> dict[tuple[str, str], float]:
    """``{(name, labels): value}`` of every sample line."""
    series: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line.strip())
        if match is None:
            continue
        name, labels, value = match.groups()
        try:
            series[(name, labels or "")] = float(value)
        except ValueError:
            continue
    return series


def tracked(name: str) -> bool:
    return name in TRACKED_NAMES or name.startswith(TRACKED_PREFIXES)


def is_gauge(name: str) -> bool:
    return any(word in name for word in ("pending", "bytes", "_count", "in_flight", "size", "live"))


class MetricsTracker:
    def __init__(self, client: AsyncCqlClient, urls: list[str]) -> None:
        self.client = client
        self.urls = urls
        self.last: dict[tuple[str, str, str], float] = {}
        self.totals: dict[str, float] = {}

    async def sample(self) -> None:
        for url in self.urls:
            try:
                text = await self.client.get_text(url, "/metrics", timeout_s=3.0)
            except QueryFailed:
                continue  # a node that is down keeps its last sample
            for (name, labels), value in parse_prometheus(text).items():
                if not tracked(name) or is_gauge(name):
                    continue
                key = (url, name, labels)
                previous = self.last.get(key)
                if previous is None:
                    self.totals.setdefault(name, 0.0)
                    self.last[key] = value
                    continue
                increase = value - previous if value >= previous else value
                self.totals[name] = self.totals.get(name, 0.0) + increase
                self.last[key] = value

    def report(self) -> dict[str, Any]:
        names = {"shardsim_coordinator_read_repairs": "read repairs",
                 "shardsim_coordinator_hints_requested": "hints requested by coordinators",
                 "shardsim_coordinator_digest_mismatches": "digest mismatches"}
        return {names.get(name, name.removeprefix("shardsim_").replace("_", " ")): value
                for name, value in sorted(self.totals.items())}
