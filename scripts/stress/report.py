"""What ``shardsim stress`` measures and prints: HDR latency histograms per operation
kind, a live line per interval grouped Writes | Reads | Errors (header repeated every
10 lines), and the summary (p50, p90, p99, p999, max, throughput) with its JSON form.

Latencies are recorded in microseconds, from 1 µs to 60 s, with 3 significant digits.

Invariant: every finished operation is counted exactly once: in the histogram of its
kind when it succeeded, in the errors (by CQL error name) when it failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TextIO

from hdrh.histogram import HdrHistogram

LATENCY_MIN_US = 1
LATENCY_MAX_US = 60_000_000
SIGNIFICANT_DIGITS = 3
HEADER_EVERY_LINES = 10
KINDS = ("write", "read")
TITLES = {"write": "Writes", "read": "Reads"}
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9))


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LATENCY_MIN_US, LATENCY_MAX_US, SIGNIFICANT_DIGITS)


@dataclass
class KindStatistics:
    """One operation kind: the whole run, and the interval since the last live line."""

    total: HdrHistogram = field(default_factory=new_histogram)
    interval: HdrHistogram = field(default_factory=new_histogram)

    def record(self, latency_us: int) -> None:
        value = max(LATENCY_MIN_US, min(latency_us, LATENCY_MAX_US))
        self.total.record_value(value)
        self.interval.record_value(value)


@dataclass
class StressStatistics:
    kinds: dict[str, KindStatistics] = field(default_factory=lambda: {k: KindStatistics() for k in KINDS})
    errors: int = 0
    interval_errors: int = 0
    error_names: dict[str, int] = field(default_factory=dict)
    first_error: str | None = None

    def record_ok(self, kind: str, latency_us: int) -> None:
        self.kinds[kind].record(latency_us)

    def record_error(self, kind: str, name: str, message: str) -> None:
        self.errors += 1
        self.interval_errors += 1
        self.error_names[name] = self.error_names.get(name, 0) + 1
        if self.first_error is None:
            self.first_error = f"{kind}: {name}: {message}"

    @property
    def operations(self) -> int:
        return sum(k.total.get_total_count() for k in self.kinds.values()) + self.errors


class LiveReporter:
    """Prints one line per interval: count, p99 latency and rate of each group."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lines = 0

    def header(self) -> list[str]:
        group = f"{'Count':>9} {'p99 (ms)':>9} {'req/s':>8}"
        errors = f"{'Count':>7} {'errors/s':>9}"
        return [f"{'Writes':^28} |{'Reads':^28} |{'Errors':^17}",
                f"{group} |{group} |{errors}"]

    def line(self, statistics: StressStatistics, interval_s: float) -> str:
        parts = []
        for kind in KINDS:
            stats = statistics.kinds[kind]
            count = stats.total.get_total_count()
            in_interval = stats.interval.get_total_count()
            p99_ms = stats.interval.get_value_at_percentile(99.0) / 1000 if in_interval else 0.0
            rate = in_interval / interval_s if interval_s > 0 else 0.0
            parts.append(f"{count:>9} {p99_ms:>9.2f} {rate:>8.0f}")
        error_rate = statistics.interval_errors / interval_s if interval_s > 0 else 0.0
        return f"{parts[0]} |{parts[1]} |{statistics.errors:>7} {error_rate:>9.1f}"

    def report(self, statistics: StressStatistics, interval_s: float) -> None:
        """Print the interval's line (and the header every 10 lines), then reset it."""
        if self.lines % HEADER_EVERY_LINES == 0:
            for text in self.header():
                print(text, file=self.out)
        print(self.line(statistics, interval_s), file=self.out, flush=True)
        self.lines += 1
        for stats in statistics.kinds.values():
            stats.interval.reset()
        statistics.interval_errors = 0


def kind_summary(histogram: HdrHistogram, seconds: float) -> dict[str, Any]:
    count = histogram.get_total_count()
    summary: dict[str, Any] = {"count": count}
    for name, percentile in PERCENTILES:
        summary[f"{name}_ms"] = round(histogram.get_value_at_percentile(percentile) / 1000, 3) if count else None
    summary["max_ms"] = round(histogram.get_max_value() / 1000, 3) if count else None
    summary["throughput_per_s"] = round(count / seconds, 1) if seconds > 0 else 0.0
    return summary


def summary_document(statistics: StressStatistics, seconds: float, settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "seconds": round(seconds, 3), "operations": statistics.operations,
            **{f"{kind}s": kind_summary(statistics.kinds[kind].total, seconds) for kind in KINDS},
            "errors": {"count": statistics.errors, "by_name": dict(statistics.error_names),
                       "first": statistics.first_error}}


def summary_lines(document: dict[str, Any]) -> list[str]:
    header = f"{'operation':<10}{'count':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'p999 ms':>9}" \
             f"{'max ms':>9}{'ops/s':>9}"
    lines = ["", f"Summary: {document['operations']} operations in {document['seconds']:.1f} s", "",
             header, "-" * len(header)]
    for kind in KINDS:
        entry = document[f"{kind}s"]

        def cell(key: str) -> str:
            value = entry[key]
            return f"{value:>9.2f}" if value is not None else f"{'-':>9}"

        lines.append(f"{TITLES[kind]:<10}{entry['count']:>9}" + "".join(
            cell(f"{name}_ms") for name, _ in PERCENTILES) + cell("max_ms")
            + f"{entry['throughput_per_s']:>9.0f}")
    errors = document["errors"]
    lines.append(f"{'Errors':<10}{errors['count']:>9}"
                 + ("  " + ", ".join(f"{name}: {count}" for name, count in errors["by_name"].items())
                    if errors["count"] else ""))
    if errors["first"]:
        lines.append(f"first error: {errors['first']}")
    return lines
