"""The HTML report of a fault run: one self-contained file (inline SVG and CSS, no
external asset) with the verdict, latency over time with fault periods shaded,
throughput per second, the fault table and the checker's findings.

Invariant: the page loads nothing from anywhere; every value shown comes from the
history and the verdict passed in.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from typing import Any

from scripts.nemesis.checker import Verdict
from scripts.nemesis.history import FINAL_READ, OK, UNKNOWN, WRITE, History

WIDTH = 960
HEIGHT = 320
MARGIN_LEFT = 60
MARGIN_RIGHT = 20
MARGIN_TOP = 20
MARGIN_BOTTOM = 40
POINTS_MAX = 15_000
LATENCY_MIN_MS = 0.1
LATENCY_MAX_MS = 20_000.0
COLORS = {"write ok": "#1f77b4", "read ok": "#2ca02c", "failed": "#ff7f0e", "unknown": "#d62728"}
FAULT_COLORS = {"kill": "#d62728", "pause": "#9467bd", "partition": "#ff7f0e", "delay": "#8c564b",
                "drop": "#e377c2", "clock": "#17becf"}


def _escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


class _Axes:
    """Maps run time (x) and a value (y, log or linear) into the plot area."""

    def __init__(self, duration_s: float, y_min: float, y_max: float, log: bool) -> None:
        self.duration_s = max(duration_s, 1e-3)
        self.y_min, self.y_max, self.log = y_min, y_max, log
        self.plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
        self.plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def x(self, time_s: float) -> float:
        return MARGIN_LEFT + self.plot_width * min(max(time_s / self.duration_s, 0.0), 1.0)

    def y(self, value: float) -> float:
        if self.log:
            low, high = math.log10(self.y_min), math.log10(self.y_max)
            fraction = (math.log10(min(max(value, self.y_min), self.y_max)) - low) / (high - low)
        else:
            fraction = (value - self.y_min) / ((self.y_max - self.y_min) or 1.0)
        return MARGIN_TOP + self.plot_height * (1.0 - min(max(fraction, 0.0), 1.0))


def _fault_bands(history: History, axes: _Axes, duration_s: float) -> list[str]:
    parts = []
    for fault in history.faults:
        end = fault.end_s if fault.end_s is not None else duration_s
        x0, x1 = axes.x(fault.start_s), axes.x(end)
        color = FAULT_COLORS.get(fault.fault, "#7f7f7f")
        label = f"{fault.fault} {fault.node}"
        parts.append(f'<rect class="fault" x="{x0:.1f}" y="{MARGIN_TOP}" width="{max(x1 - x0, 1):.1f}" '
                     f'height="{axes.plot_height}" fill="{color}" fill-opacity="0.15">'
                     f'<title>{_escape(label)}: {fault.start_s:.1f}s to {end:.1f}s</title></rect>')
        parts.append(f'<text x="{x0 + 3:.1f}" y="{MARGIN_TOP + 12}" font-size="11" fill="{color}">'
                     f'{_escape(label)}</text>')
    return parts


def _time_axis(axes: _Axes, duration_s: float) -> list[str]:
    step = max(1, round(duration_s / 10))
    parts = []
    bottom = MARGIN_TOP + axes.plot_height
    for tick in range(0, int(duration_s) + 1, step):
        x = axes.x(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#333"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 16}" font-size="11" text-anchor="middle">{tick}s</text>')
    parts.append(f'<line x1="{MARGIN_LEFT}" y1="{bottom}" x2="{WIDTH - MARGIN_RIGHT}" y2="{bottom}" stroke="#333"/>')
    parts.append(f'<line x1="{MARGIN_LEFT}" y1="{MARGIN_TOP}" x2="{MARGIN_LEFT}" y2="{bottom}" stroke="#333"/>')
    return parts


def _category(operation: Any) -> str:
    if operation.status == OK:
        return "write ok" if operation.op == WRITE else "read ok"
    return "unknown" if operation.status == UNKNOWN else "failed"


def latency_svg(history: History, duration_s: float) -> str:
    axes = _Axes(duration_s, LATENCY_MIN_MS, LATENCY_MAX_MS, log=True)
    parts = [f'<svg id="latency" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="latency over time">']
    parts += _fault_bands(history, axes, duration_s)
    for value in (1, 10, 100, 1000, 10000):
        y = axes.y(value)
        parts.append(f'<line x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{WIDTH - MARGIN_RIGHT}" y2="{y:.1f}" '
                     f'stroke="#ddd"/><text x="{MARGIN_LEFT - 4}" y="{y + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{value:g} ms</text>')
    parts += _time_axis(axes, duration_s)
    operations = [op for op in history.operations if op.op != FINAL_READ]
    stride = max(1, math.ceil(len(operations) / POINTS_MAX))
    for operation in operations[::stride]:
        latency_ms = (operation.end_s - operation.start_s) * 1000
        parts.append(f'<circle cx="{axes.x(operation.start_s):.1f}" cy="{axes.y(latency_ms):.1f}" r="1.6" '
                     f'fill="{COLORS[_category(operation)]}" fill-opacity="0.6"/>')
    parts.append("</svg>")
    return "".join(parts)


def throughput_svg(history: History, duration_s: float) -> str:
    seconds = max(1, math.ceil(duration_s))
    per_second: dict[str, Counter] = {name: Counter() for name in COLORS}
    for operation in history.operations:
        if operation.op != FINAL_READ:
            per_second[_category(operation)][int(operation.end_s)] += 1
    peak = max([count for counter in per_second.values() for count in counter.values()] or [1])
    axes = _Axes(seconds, 0, peak * 1.1, log=False)
    parts = [f'<svg id="throughput" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="operations per second">']
    parts += _fault_bands(history, axes, seconds)
    for fraction in (0.25, 0.5, 0.75, 1.0):
        value = peak * fraction
        y = axes.y(value)
        parts.append(f'<line x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{WIDTH - MARGIN_RIGHT}" y2="{y:.1f}" '
                     f'stroke="#ddd"/><text x="{MARGIN_LEFT - 4}" y="{y + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{value:.0f}/s</text>')
    parts += _time_axis(axes, seconds)
    for name, counter in per_second.items():
        if not counter:
            continue
        points = " ".join(f"{axes.x(second + 0.5):.1f},{axes.y(counter.get(second, 0)):.1f}"
                          for second in range(seconds))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{COLORS[name]}" stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)


def _legend() -> str:
    items = "".join(f'<span><i style="background:{color}"></i>{_escape(name)}</span>'
                    for name, color in COLORS.items())
    faults = "".join(f'<span><i style="background:{color};opacity:.35"></i>{_escape(name)}</span>'
                     for name, color in FAULT_COLORS.items())
    return f'<div class="legend">{items} &nbsp; faults: {faults}</div>'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{_escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:22px} h2{font-size:17px;margin-top:28px}
.verdict{font-size:28px;font-weight:bold;padding:8px 16px;display:inline-block;border-radius:6px}
.valid{background:#dff5e1;color:#17692a} .invalid{background:#fde0e0;color:#a11}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
.legend span{margin-right:14px;font-size:13px} .legend i{display:inline-block;width:10px;height:10px;
margin-right:4px;border-radius:2px} code{background:#f4f4f4;padding:1px 4px}
"""


def render_report(history: History, verdict: Verdict, settings: dict[str, Any]) -> str:
    ends = [op.end_s for op in history.operations if op.op != FINAL_READ] + \
           [fault.end_s or 0.0 for fault in history.faults]
    duration_s = max(ends or [1.0])
    word = "valid" if verdict.valid else "INVALID"
    fault_rows = [[fault.fault, fault.node, f"{fault.start_s:.2f}",
                   f"{fault.end_s:.2f}" if fault.end_s is not None else "-",
                   f"{(fault.end_s or duration_s) - fault.start_s:.2f}"] for fault in history.faults]
    count_rows = [[op, statuses.get("ok", 0), statuses.get("fail", 0), statuses.get("unknown", 0)]
                  for op, statuses in verdict.counts.items()]
    finding_rows = [["acknowledged writes lost", verdict.lost_writes], ["stale reads", verdict.stale_reads],
                    ["impossible reads", verdict.impossible_reads],
                    ["keys checked", f"{verdict.keys - len(verdict.unchecked_keys)} of {verdict.keys}"]]
    finding_rows += [[name, f"{value:g}"] for name, value in verdict.metrics.items()]
    examples = "".join(f"<li><code>{_escape(example)}</code></li>" for example in verdict.examples)
    setting_rows = [[key, value] for key, value in settings.items()]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>shardsim nemesis: {word}</title>
<style>{STYLE}</style></head><body>
<h1>shardsim nemesis run</h1>
<div id="verdict" class="verdict {'valid' if verdict.valid else 'invalid'}">{word}</div>
<h2>Latency over time</h2>
<p>Each dot is one operation, at the time it started; shaded bands are fault periods.</p>
{_legend()}
{latency_svg(history, duration_s)}
<h2>Operations per second</h2>
{throughput_svg(history, duration_s)}
<h2>Checker</h2>
{_table(["finding", "count"], finding_rows)}
<h3>Operations</h3>
{_table(["operation", "ok", "failed", "unknown"], count_rows)}
{f"<h3>Examples</h3><ul>{examples}</ul>" if examples else ""}
<p>A stale read returns a value older than a write acknowledged before the read started
(per key, writes of unique increasing values; a write whose outcome is unknown may take
effect at any later time, so seeing its value is never stale). A lost write is an
acknowledged write newer than what the final read at ALL returned, after every fault healed.</p>
<h2>Faults</h2>
{_table(["fault", "node", "start s", "healed s", "seconds"], fault_rows) if fault_rows else "<p>none</p>"}
<h2>Settings</h2>
{_table(["setting", "value"], setting_rows)}
</body></html>
"""
