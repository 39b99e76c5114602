"""``shardsim stress run WORKLOAD | list``: load a cluster in the manner of tlp-stress.

``run`` creates the keyspace and the workload's table, optionally populates it
(``--populate N``), then runs ``-n`` operations (or for ``-d``) from ``-c`` concurrent
workers, a ``-r`` share of them reads, over ``-p`` partitions, paced to ``--rate`` if
given, each request sent to the next node in turn so every node coordinates. A live
line per second shows Writes | Reads | Errors; the end prints a summary per operation
from HDR histograms and, with ``--json FILE``, writes it as JSON.

Invariant: each worker has one request in flight, so at most ``-c`` are in flight in
all; ``-n`` counts operations started, so exactly ``-n`` finish.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from node.errors import ShardsimError
from scripts.cluster_client import AsyncCqlClient, QueryFailed, add_cluster_arguments, resolve_target
from scripts.stress.report import LiveReporter, StressStatistics, summary_document, summary_lines
from scripts.stress.workloads import WORKLOADS, Workload, workload_named

KEYSPACE = "stress"
DEFAULT_REPLICATION = "{'class': 'SimpleStrategy', 'replication_factor': 3}"
SCHEMA_WAIT_S = 30.0
REQUEST_TIMEOUT_S = 30.0
_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMbB]?)\s*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_count(text: str) -> int:
    """``20k`` -> 20000, ``1m`` -> 1000000, ``500`` -> 500."""
    match = _COUNT.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a count like 500, 20k or 1m")
    scale = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}[match.group(2).lower()]
    value = int(float(match.group(1)) * scale)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def parse_duration_s(text: str) -> float:
    """``1m30s`` -> 90.0, ``2h`` -> 7200.0, ``45`` -> 45.0 (seconds), ``500ms`` -> 0.5."""
    stripped = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", stripped):
        seconds = float(stripped)
    else:
        parts = _DURATION_PART.findall(stripped)
        if not parts or "".join(number + unit for number, unit in parts) != stripped:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a duration like 90s, 1m30s or 2h")
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        seconds = sum(float(number) * scale[unit] for number, unit in parts)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be longer than zero")
    return seconds


def parse_ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number from 0 to 1") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number from 0 to 1")
    return value


def replication_literal(text: str) -> str:
    """An integer is SimpleStrategy's factor; anything else is a CQL map literal."""
    stripped = text.strip()
    if stripped.isdigit():
        return f"{{'class': 'SimpleStrategy', 'replication_factor': {int(stripped)}}}"
    if not (stripped.startswith("{") and stripped.endswith("}")):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a factor like 3 or a map like "
                                         f"{DEFAULT_REPLICATION}")
    return stripped


@dataclass(frozen=True)
class StressSettings:
    workload: str
    operations: int | None = None
    duration_s: float | None = None
    partitions: int = 10_000
    read_ratio: float = 0.0
    concurrency: int = 32
    rate_per_s: float | None = None
    consistency: str = "ONE"
    populate: int = 0
    replication: str = DEFAULT_REPLICATION
    keyspace: str = KEYSPACE
    seed: int = 0
    report_interval_s: float = 1.0

    def __post_init__(self) -> None:
        assert (self.operations is None) != (self.duration_s is None), "-n or -d, exactly one"
        assert self.partitions >= 1 and self.concurrency >= 1


class _Pacer:
    """A shared schedule of start times ``1/rate`` apart (none without a rate)."""

    def __init__(self, rate_per_s: float | None, now: Callable[[], float]) -> None:
        self.interval_s = 1.0 / rate_per_s if rate_per_s else 0.0
        self.now = now
        self.next_start = now()

    async def wait_turn(self) -> None:
        if not self.interval_s:
            return
        start = self.next_start
        self.next_start = max(self.next_start + self.interval_s, self.now() - 1.0)  # no burst after a stall
        delay = start - self.now()
        if delay > 0:
            await asyncio.sleep(delay)


class StressRun:
    """One ``stress run``: schema, populate, the measured phase, the summary."""

    def __init__(self, settings: StressSettings, client: AsyncCqlClient, urls: list[str],
                 out: TextIO, now: Callable[[], float] = time.perf_counter) -> None:
        self.settings = settings
        self.client = client
        self.urls = urls
        self.out = out
        self.now = now
        self.workload: Workload = workload_named(settings.workload)
        self.statistics = StressStatistics()
        self._started = 0
        self._next_url = 0

    def _url(self) -> str:
        url = self.urls[self._next_url % len(self.urls)]
        self._next_url += 1
        return url

    async def create_schema(self) -> None:
        settings = self.settings
        await self.client.execute(self.urls[0], f"CREATE KEYSPACE IF NOT EXISTS {settings.keyspace} "
                                  f"WITH replication = {settings.replication}")
        for statement in self.workload.schema(settings.keyspace):
            await self.client.execute(self.urls[0], statement)
        await self._wait_schema_everywhere()

    async def _wait_schema_everywhere(self) -> None:
        """Until every node lists the table (a node that was down catches up by gossip)."""
        deadline = self.now() + SCHEMA_WAIT_S
        for url in self.urls:
            while True:
                schema = await self.client.request(url, "GET", "/v1/schema")
                tables = {(ks["name"], table["name"]) for ks in schema["keyspaces"] for table in ks["tables"]}
                if (self.settings.keyspace, self.workload.table) in tables:
                    break
                if self.now() > deadline:
                    raise ShardsimError(f"{url} does not know {self.settings.keyspace}."
                                        f"{self.workload.table} after {SCHEMA_WAIT_S:g} s")
                await asyncio.sleep(0.1)

    async def populate(self) -> None:
        count = self.settings.populate
        if not count:
            return
        print(f"Populating {count} rows...", file=self.out, flush=True)
        rng = random.Random(self.settings.seed ^ 0x5EED)
        sequence = iter(range(count))
        failures: list[str] = []

        async def worker() -> None:
            for index in sequence:
                operation = self.workload.write(rng, index % self.settings.partitions)
                try:
                    await self.client.execute(self._url(), operation.query, params=operation.params,
                                              keyspace=self.settings.keyspace,
                                              consistency=self.settings.consistency,
                                              timeout_s=REQUEST_TIMEOUT_S)
                except QueryFailed as error:
                    failures.append(str(error))

        await asyncio.gather(*(worker() for _ in range(self.settings.concurrency)))
        print(f"Populated {count - len(failures)} rows"
              + (f" ({len(failures)} failed; first: {failures[0]})" if failures else ""),
              file=self.out, flush=True)

    def _more(self, deadline: float | None) -> bool:
        if self.settings.operations is not None:
            if self._started >= self.settings.operations:
                return False
            self._started += 1
            return True
        assert deadline is not None
        return self.now() < deadline

    async def _worker(self, index: int, pacer: _Pacer, deadline: float | None) -> None:
        settings = self.settings
        rng = random.Random(settings.seed * 1_000_003 + index)
        while True:
            await pacer.wait_turn()
            if not self._more(deadline):
                return
            partition = rng.randrange(settings.partitions)
            is_read = rng.random() < settings.read_ratio
            operation = (self.workload.read if is_read else self.workload.write)(rng, partition)
            started = self.now()
            try:
                await self.client.execute(self._url(), operation.query, params=operation.params,
                                          keyspace=settings.keyspace, consistency=settings.consistency,
                                          timeout_s=REQUEST_TIMEOUT_S)
            except QueryFailed as error:
                self.statistics.record_error(operation.kind, error.name, error.message)
                continue
            self.statistics.record_ok(operation.kind, int((self.now() - started) * 1_000_000))

    async def _report_every_interval(self, reporter: LiveReporter, stop: asyncio.Event) -> None:
        interval_s = self.settings.report_interval_s
        last = self.now()
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except asyncio.TimeoutError:
                pass
            now = self.now()
            if now - last > 0 and (not stop.is_set() or now - last >= interval_s / 2):
                reporter.report(self.statistics, now - last)
            last = now

    async def measure(self) -> float:
        """The measured phase; its seconds."""
        settings = self.settings
        started = self.now()
        deadline = started + settings.duration_s if settings.duration_s is not None else None
        pacer = _Pacer(settings.rate_per_s, self.now)
        stop = asyncio.Event()
        reporter = LiveReporter(self.out)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._report_every_interval(reporter, stop))
            try:
                await asyncio.gather(*(self._worker(index, pacer, deadline)
                                       for index in range(settings.concurrency)))
            finally:
                stop.set()
        return self.now() - started

    async def run(self) -> dict[str, Any]:
        print(f"Creating schema of {self.workload.name} in keyspace {self.settings.keyspace}", file=self.out)
        await self.create_schema()
        await self.populate()
        limit = (f"{self.settings.operations} operations" if self.settings.operations is not None
                 else f"{self.settings.duration_s:g} s")
        print(f"Running {self.workload.name}: {limit}, {self.settings.concurrency} workers, "
              f"read ratio {self.settings.read_ratio:g}, {self.settings.partitions} partitions, "
              f"CL {self.settings.consistency}, {len(self.urls)} nodes", file=self.out, flush=True)
        seconds = await self.measure()
        document = summary_document(self.statistics, seconds, {"workload": self.workload.name,
                                                               "settings": asdict(self.settings)})
        for line in summary_lines(document):
            print(line, file=self.out)
        self.out.flush()
        return document


async def run_stress(settings: StressSettings, urls: list[str], out: TextIO) -> dict[str, Any]:
    client = AsyncCqlClient(timeout_s=REQUEST_TIMEOUT_S, connections_max=max(64, settings.concurrency * 2))
    try:
        return await StressRun(settings, client, urls, out).run()
    finally:
        await client.aclose()


def _run(args: argparse.Namespace) -> int:
    try:
        workload = workload_named(args.workload).name
    except KeyError:
        raise ShardsimError(f"unknown workload {args.workload!r}; known: {', '.join(WORKLOADS)}") from None
    if args.operations is not None and args.duration is not None:
        raise ShardsimError("give -n (operations) or -d (duration), not both")
    operations = args.operations
    if operations is None and args.duration is None:
        operations = 100_000
    settings = StressSettings(
        workload=workload, operations=operations, duration_s=args.duration, partitions=args.partitions,
        read_ratio=args.read_ratio, concurrency=args.concurrency, rate_per_s=args.rate,
        consistency=args.cl.upper(), populate=args.populate, replication=args.replication,
        keyspace=args.keyspace, seed=args.seed)
    target = resolve_target(args)
    try:
        document = _event_loop_run(run_stress(settings, target.urls, sys.stdout))
    except QueryFailed as error:
        raise ShardsimError(f"setting up the workload failed: {error}") from None
    if args.json:
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        print(f"summary written to {args.json}")
    succeeded = sum(document[f"{kind}s"]["count"] for kind in ("write", "read"))
    return 1 if succeeded == 0 else 0


def _event_loop_run(coroutine: Any) -> Any:
    try:
        import uvloop
        return uvloop.run(coroutine)
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.run(coroutine)


def _list(args: argparse.Namespace) -> int:
    for name, cls in WORKLOADS.items():
        print(f"{name:<12} {cls.description}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    stress = commands.add_parser("stress", help="load a cluster with a workload (tlp-stress-like)")
    actions = stress.add_subparsers(dest="stress_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the workloads")
    listing.set_defaults(handler=_list)
    run = actions.add_parser("run", help="run a workload and print live lines and a summary")
    run.add_argument("workload", help="KeyValue, TimeSeries or RangeScan (stress list)")
    add_cluster_arguments(run)
    run.add_argument("-n", "--operations", type=parse_count, help="operations to run, e.g. 20k, 1m "
                     "(default 100k unless -d)")
    run.add_argument("-d", "--duration", type=parse_duration_s, help="run this long, e.g. 90s, 1m30s")
    run.add_argument("-p", "--partitions", type=parse_count, default=10_000,
                     help="distinct partitions, e.g. 1k (default: %(default)s)")
    run.add_argument("-r", "--read-ratio", type=parse_ratio, default=0.0,
                     help="share of reads, 0 to 1 (default: %(default)s)")
    run.add_argument("-c", "--concurrency", type=parse_count, default=32,
                     help="requests in flight (default: %(default)s)")
    run.add_argument("--rate", type=float, help="operations per second in all (default: unpaced)")
    run.add_argument("--cl", default="ONE", help="consistency level (default: %(default)s)")
    run.add_argument("--populate", type=parse_count, default=0, help="write this many rows first")
    run.add_argument("--replication", type=replication_literal, default=DEFAULT_REPLICATION,
                     help="replication factor or CQL map of the keyspace (default: RF 3)")
    run.add_argument("--keyspace", default=KEYSPACE, help="(default: %(default)s)")
    run.add_argument("--seed", type=int, default=0, help="seed of keys, values and the read/write mix")
    run.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    run.set_defaults(handler=_run)
