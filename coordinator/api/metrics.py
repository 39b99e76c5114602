"""Prometheus text exposition of every shard's counters.

Each component of a shard offers a snapshot of plain counters (``statistics()``);
a ``MetricsRegistry`` gathers them under ``shardsim_<component>_<counter>`` names.
``GET /metrics`` on any shard asks every shard of the node for its snapshot (the
ADMIN verb) and renders them all, labelled with ``node`` and ``shard``.

Invariant: a metric name is the same on every shard and never changes meaning.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

Source = Callable[[], Any]
_NAME = re.compile(r"[^a-zA-Z0-9_]")

# Counters only ever go up; everything else is exposed as a gauge.
GAUGE_HINTS = ("population", "pending", "bytes", "count", "live", "concurrency", "size",
               "memory", "in_flight", "highest")


class MetricsRegistry:
    def __init__(self) -> None:
        self._sources: dict[str, Source] = {}

    def register(self, prefix: str, source: Source) -> None:
        """``source()`` returns a dict or a dataclass of numbers (nested dicts of
        ``{label_value: number}`` become a labelled series)."""
        self._sources[prefix] = source

    def snapshot(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for prefix, source in self._sources.items():
            raw = source()
            if dataclasses.is_dataclass(raw):
                raw = dataclasses.asdict(raw)
            for key, value in (raw or {}).items():
                name = _NAME.sub("_", f"{prefix}_{key}" if prefix else key)
                if isinstance(value, bool):
                    value = int(value)
                if isinstance(value, (int, float)) or isinstance(value, dict):
                    values[name] = value
        return values


def _kind(name: str) -> str:
    return "gauge" if any(hint in name for hint in GAUGE_HINTS) else "counter"


def _labels(labels: dict[str, str]) -> str:
    inner = ",".join(f'{key}="{str(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def render(snapshots: list[tuple[dict[str, str], dict[str, Any]]]) -> str:
    """Prometheus text format for (labels, snapshot) pairs, one family per name."""
    families: dict[str, list[str]] = {}
    for labels, snapshot in snapshots:
        for name, value in snapshot.items():
            full = f"shardsim_{name}"
            lines = families.setdefault(full, [])
            if isinstance(value, dict):
                for label_value, number in value.items():
                    if isinstance(number, (int, float)) and not isinstance(number, bool):
                        lines.append(f"{full}{_labels({**labels, 'target': label_value})} {number}")
            else:
                lines.append(f"{full}{_labels(labels)} {value}")
    out = []
    for name in sorted(families):
        out.append(f"# TYPE {name} {_kind(name)}")
        out.extend(families[name])
    return "\n".join(out) + "\n"
