"""``shardsim nemesis run``: a fault run in the manner of Jepsen.

Against a launched cluster (or one it launches with ``--launch``), workers write unique
increasing values to a few keys at ``--write-cl`` and read them at ``--read-cl``, while
a schedule drawn from ``--seed`` injects ``--faults`` (kill, pause, partition, delay,
drop, clock) every ``--interval`` seconds until ``--time-limit``. Then every fault is
healed, the run waits until every node sees every node UP, and reads every key at ALL.
The checker (``nemesis_checker``) judges the history; the run writes
``history.jsonl``, ``verdict.json`` and a self-contained ``report.html`` to ``--out``,
prints ``valid`` or ``INVALID`` and exits 0 or 1.

Invariant: the run never ends with a fault still injected, even when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from node.config import load_config
from node.errors import ShardsimError
from scripts.cluster_client import (AsyncCqlClient, ClusterTarget, QueryFailed, add_cluster_arguments,
                                    resolve_target, target_from_data_dir)
from scripts.nemesis.checker import Verdict, check
from scripts.nemesis.faults import FaultInjector
from scripts.nemesis.history import FaultPeriod, History
from scripts.nemesis.metrics import MetricsTracker
from scripts.nemesis.report import render_report
from scripts.nemesis.schedule import PROCESS_FAULTS, PlannedFault, parse_faults, plan_schedule
from scripts.nemesis.workload import RegisterWorkload, WorkloadSettings

ROOT = Path(__file__).resolve().parents[1]
RECOVERY_TIMEOUT_S = 90.0
LAUNCH_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class NemesisSettings:
    faults: tuple[str, ...] = ("kill", "partition")
    interval_s: float = 5.0
    time_limit_s: float = 60.0
    seed: int = 0
    workload: WorkloadSettings = WorkloadSettings()
    delay_ms: int = 50
    drop_probability: float = 0.1
    clock_skew_ms: int = -5000


class NemesisRun:
    def __init__(self, settings: NemesisSettings, target: ClusterTarget, out: TextIO,
                 client: AsyncCqlClient) -> None:
        self.settings = settings
        self.target = target
        self.out = out
        self.client = client
        self.history = History()
        self.started = time.monotonic()
        self.injector = FaultInjector(target, client, delay_ms=settings.delay_ms,
                                      drop_probability=settings.drop_probability,
                                      clock_skew_ms=settings.clock_skew_ms, seed=settings.seed)
        self.metrics = MetricsTracker(client, target.urls)
        self.workload = RegisterWorkload(settings.workload, client, target.nodes, self.history,
                                         random.Random(settings.seed), self.started)

    def elapsed_s(self) -> float:
        return round(time.monotonic() - self.started, 6)

    def say(self, text: str) -> None:
        print(f"[{self.elapsed_s():7.2f}s] {text}", file=self.out, flush=True)

    async def _sleep_until(self, at_s: float, stop: asyncio.Event) -> bool:
        """Wait until ``at_s`` into the run; False if the run was stopped first."""
        delay = at_s - self.elapsed_s()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except asyncio.TimeoutError:
                pass
        return not stop.is_set()

    async def _apply_schedule(self, schedule: list[PlannedFault], stop: asyncio.Event) -> None:
        for planned in schedule:
            if not await self._sleep_until(planned.start_s, stop):
                return
            await self.metrics.sample()  # before a kill resets the node's counters
            period = FaultPeriod(planned.fault, planned.node, self.elapsed_s())
            self.history.faults.append(period)
            try:
                period.detail = await self.injector.inject(planned.fault, planned.node)
                self.say(f"fault: {planned.fault} {planned.node}")
            except (QueryFailed, ShardsimError) as error:
                period.detail = {"error": str(error)}
                self.say(f"fault: {planned.fault} {planned.node} could not be injected: {error}")
            await self._sleep_until(planned.end_s, stop)
            try:
                await self.injector.heal(planned.fault, planned.node)
            except (QueryFailed, ShardsimError) as error:
                self.say(f"heal of {planned.fault} {planned.node} failed: {error} (retried at the end)")
            period.end_s = self.elapsed_s()
            self.say(f"healed: {planned.fault} {planned.node}")

    async def _stop_after(self, seconds: float, stop: asyncio.Event) -> None:
        await self._sleep_until(seconds, stop)
        stop.set()

    async def run(self) -> Verdict:
        settings = self.settings
        schedule = plan_schedule(list(settings.faults), sorted(self.target.nodes), settings.interval_s,
                                 settings.time_limit_s, settings.seed)
        self.say(f"schedule (seed {settings.seed}): " + (", ".join(
            f"{p.fault} {p.node} at {p.start_s:g}s" for p in schedule) or "no faults"))
        await self.workload.create_schema()
        await self.metrics.sample()
        self.started = self.workload.started = time.monotonic()
        stop = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._stop_after(settings.time_limit_s, stop))
                group.create_task(self._apply_schedule(schedule, stop))
                group.create_task(self.workload.run(stop))
        finally:
            stop.set()
            self.say("time limit reached: healing every fault")
            await self.injector.heal_everything()
            for period in self.history.faults:
                if period.end_s is None:
                    period.end_s = self.elapsed_s()
        recovered = await self.injector.wait_recovered(RECOVERY_TIMEOUT_S)
        self.say("every node sees every node UP" if recovered else
                 f"not every node sees every node UP after {RECOVERY_TIMEOUT_S:g} s; reading anyway")
        await self.metrics.sample()
        await self.workload.final_reads()
        await self.metrics.sample()
        self.say("final reads at ALL done")
        return check(self.history, self.metrics.report())


def discover_nodes(target: ClusterTarget) -> ClusterTarget:
    """With only --url: learn node names from the first node's /v1/status."""
    if target.nodes:
        return target
    from scripts.cluster_client import request_json

    status = request_json(target.urls[0], "GET", "/v1/status")
    nodes = {entry["name"]: entry["http"].rstrip("/") for entry in status["nodes"]}
    return ClusterTarget(list(nodes.values()), nodes, None)


def write_outputs(out_dir: Path, history: History, verdict: Verdict, settings: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    history.write_jsonl(out_dir / "history.jsonl")
    (out_dir / "verdict.json").write_text(json.dumps(verdict.to_json(), indent=2) + "\n")
    (out_dir / "report.html").write_text(render_report(history, verdict, settings))


async def run_nemesis(settings: NemesisSettings, target: ClusterTarget, out_dir: Path,
                      out: TextIO) -> Verdict:
    client = AsyncCqlClient(timeout_s=settings.workload.request_timeout_s)
    try:
        run = NemesisRun(settings, target, out, client)
        verdict = await run.run()
    finally:
        await client.aclose()
    flat = {**{key: value for key, value in asdict(settings).items() if key != "workload"},
            **asdict(settings.workload), "nodes": ", ".join(sorted(target.nodes))}
    write_outputs(out_dir, run.history, verdict, flat)
    return verdict


def _launch(args: argparse.Namespace, data_dir: Path) -> None:
    command = [sys.executable, "-m", "scripts.cli", "up", "--detach", "--fresh", "--config", args.config,
               "--data-dir", str(data_dir)]
    if args.nodes is not None:
        command += ["--nodes", str(args.nodes)]
    if args.port_base is not None:
        command += ["--port-base", str(args.port_base)]
    for setting in args.set:
        command += ["--set", setting]
    print(f"launching a cluster in {data_dir}", flush=True)
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)
    if result.returncode != 0:
        raise ShardsimError(f"shardsim up failed: {result.stderr.strip() or result.stdout.strip()}")


def _down(data_dir: Path) -> None:
    subprocess.run([sys.executable, "-m", "scripts.cli", "down", "--data-dir", str(data_dir)], cwd=ROOT,
                   capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)


def _run(args: argparse.Namespace) -> int:
    try:
        faults = tuple(parse_faults(args.faults))
    except ValueError as error:
        raise ShardsimError(str(error)) from None
    if args.set and not args.launch:
        raise ShardsimError("--set configures the cluster --launch starts; without --launch, "
                            "give the settings to shardsim up")
    launched_dir = None
    if args.launch:
        if args.url:
            raise ShardsimError("--launch starts its own cluster: give --data-dir, not --url")
        launched_dir = (Path(args.data_dir) if args.data_dir
                        else load_config(args.config).data_path() / "nemesis-cluster").resolve()
        _launch(args, launched_dir)
        target = target_from_data_dir(launched_dir)
    else:
        target = discover_nodes(resolve_target(args))
    if target.data_dir is None and set(faults) & set(PROCESS_FAULTS):
        raise ShardsimError("kill and pause act on processes: give the cluster's --data-dir, not --url")
    workload = WorkloadSettings(keys=args.keys, workers=args.concurrency,
                                write_consistency=args.write_cl.upper(),
                                read_consistency=args.read_cl.upper(),
                                replication_factor=args.replication_factor)
    settings = NemesisSettings(faults=faults, interval_s=args.interval, time_limit_s=args.time_limit,
                               seed=args.seed, workload=workload)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = target.data_dir if target.data_dir is not None else Path("data")
    out_dir = Path(args.out) if args.out else base / "nemesis" / f"{stamp}-seed{args.seed}"
    try:
        verdict = _event_loop_run(run_nemesis(settings, target, out_dir, sys.stdout))
    finally:
        if launched_dir is not None and not args.keep:
            _down(launched_dir)
    print()
    for line in verdict.lines():
        print(line)
    print(f"history: {out_dir / 'history.jsonl'}")
    print(f"report:  {out_dir / 'report.html'}")
    print("valid" if verdict.valid else "INVALID")
    return 0 if verdict.valid else 1


def _event_loop_run(coroutine: Any) -> Any:
    try:
        import uvloop
        return uvloop.run(coroutine)
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.run(coroutine)


def register(commands: argparse._SubParsersAction) -> None:
    nemesis = commands.add_parser("nemesis", help="a fault-injection run with a checker (Jepsen-like)")
    actions = nemesis.add_subparsers(dest="nemesis_command", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run a workload under faults, heal, check, report")
    add_cluster_arguments(run)
    run.add_argument("--faults", default="kill,partition",
                     help="comma-separated: kill, pause, partition, delay, drop, clock (default: %(default)s)")
    run.add_argument("--interval", type=float, default=5.0,
                     help="seconds of each fault and of each quiet period (default: %(default)s)")
    run.add_argument("--time-limit", type=float, default=60.0,
                     help="seconds of workload under faults (default: %(default)s)")
    run.add_argument("--seed", type=int, default=0, help="seed of the schedule and the workload")
    run.add_argument("--write-cl", default="QUORUM", help="consistency of writes (default: %(default)s)")
    run.add_argument("--read-cl", default="QUORUM", help="consistency of reads (default: %(default)s)")
    run.add_argument("--keys", type=int, default=16, help="keys written and read (default: %(default)s)")
    run.add_argument("--concurrency", type=int, default=8, help="client workers (default: %(default)s)")
    run.add_argument("--replication-factor", type=int, default=3, help="(default: %(default)s)")
    run.add_argument("--out", help="folder of history.jsonl, verdict.json, report.html "
                     "(default: DATA_DIR/nemesis/<time>-seed<seed>)")
    run.add_argument("--launch", action="store_true", help="launch a fresh cluster for the run "
                     "(in --data-dir, default DATA_DIR/nemesis-cluster) and stop it after")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="with --launch: a cluster setting, e.g. hints.enabled=false")
    run.add_argument("--nodes", type=int, help="with --launch: generate N nodes")
    run.add_argument("--port-base", type=int, help="with --launch: ports of generated nodes")
    run.add_argument("--keep", action="store_true", help="with --launch: leave the cluster running")
    run.set_defaults(handler=_run)
