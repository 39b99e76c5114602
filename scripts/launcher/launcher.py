"""``shardsim up|down|status|kill|stop|start|pause|resume``: a local cluster, in the manner of ccm.

``up`` writes the effective config it launches to ``DIR/cluster.toml`` (every node,
and every later ``start``, reads exactly that file), starts one supervisor per node
(``python -m node``) as its own process group, waits until every node sees every
node UP, and records ``DIR/cluster.json``: ``{"cluster", "nodes": [{"name", "http",
"pid", "dc", "rack", "shards", "rpc_ports"}]}``. The other commands act on that file.

Invariant: a node is one process group whose id is its supervisor's pid, so one
``killpg`` reaches the supervisor and all of its shards; ``down`` returns only when
no pid of the cluster (supervisors and shards, from ``DIR/<node>/pids.json``) is left.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

from scripts.cluster_client import add_config_argument
from node.config import ClusterConfig, config_from_document, generated_nodes, load_config
from node.errors import ConfigurationError, ShardsimError
from node.server.node_identity import check_node_identity
from scripts.ring_command import format_table

UP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
KILL_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.1
STATUS_TIMEOUT_S = 1.0
STATUS_SAMPLES_PER_SHARD = 3  # readiness: answers in a row per shard of a node, all UP
DEFAULT_PORT_BASE = 9100


# --- files of a launched cluster ---------------------------------------------------------

def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        assert value == value and value not in (float("inf"), float("-inf")), "finite numbers only"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise AssertionError(f"no TOML form for {value!r}")


def render_toml(config: ClusterConfig) -> str:
    """The config as TOML: top-level scalars, one table per section, ``[[nodes]]``."""
    document = asdict(config)
    document.pop("source")
    nodes = document.pop("nodes")
    lines = [f"# written by shardsim up from {config.source}"]
    sections = {key: value for key, value in document.items() if isinstance(value, dict)}
    lines += [f"{key} = {toml_value(value)}" for key, value in document.items()
              if key not in sections]
    for section, values in sections.items():
        lines += ["", f"[{section}]"] + [f"{key} = {toml_value(value)}" for key, value in values.items()]
    for node in nodes:
        lines += ["", "[[nodes]]"] + [f"{key} = {toml_value(value)}" for key, value in node.items()]
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def read_cluster(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "cluster.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ShardsimError(f"{path}: no cluster here (start one with shardsim up)") from None
    except (OSError, ValueError) as error:
        raise ShardsimError(f"{path}: cannot read: {error}") from None


def write_cluster(data_dir: Path, cluster: dict[str, Any]) -> None:
    write_atomically(data_dir / "cluster.json", json.dumps(cluster, indent=2) + "\n")


def node_entry(cluster: dict[str, Any], name: str) -> dict[str, Any]:
    for entry in cluster["nodes"]:
        if entry["name"] == name:
            return entry
    names = ", ".join(entry["name"] for entry in cluster["nodes"])
    raise ShardsimError(f"no node named {name!r} in this cluster (nodes: {names})")


# --- processes ------------------------------------------------------------------------

def process_state(pid: int) -> str:
    """"running", "paused" or "dead" (a zombie counts as dead; ours are reaped here)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return "dead"
    except OSError:  # no /proc: ask the kernel whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "dead"
        return "running"
    state = stat.rsplit(")", 1)[1].split()[0]
    if state in ("Z", "X", "x"):
        return "dead"
    return "paused" if state in ("T", "t") else "running"


def belongs_to_node(pid: int, name: str) -> bool:
    """Whether ``pid`` runs ``--node name`` (a recorded pid may have been reused since)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: we cannot tell, trust the record
        return True
    return any(arguments[index] == b"--node" and arguments[index + 1] == name.encode()
               for index in range(len(arguments) - 1))


def node_pids(data_dir: Path, entry: dict[str, Any]) -> list[int]:
    """The live processes of a node: its supervisor and shards (from pids.json),
    leaving out dead pids and pids now used by another program."""
    recorded = [entry["pid"]]
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        document = json.loads((data_dir / entry["name"] / "pids.json").read_text())
        if document["supervisor"] == entry["pid"]:
            recorded += [pid for pid in document["shards"] if pid not in recorded]
    return [pid for pid in recorded
            if process_state(pid) != "dead" and belongs_to_node(pid, entry["name"])]


def supervisor_state(data_dir: Path, entry: dict[str, Any]) -> str:
    """"running", "paused" or "dead" for the node's supervisor."""
    if process_state(entry["pid"]) != "dead" and belongs_to_node(entry["pid"], entry["name"]):
        return process_state(entry["pid"])
    return "dead"


def alive_pids(pids: list[int]) -> list[int]:
    return [pid for pid in pids if process_state(pid) != "dead"]


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def signal_pid(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def wait_until(check: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``check`` until it holds (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL_S)


def spawn_node(data_dir: Path, name: str, shard_script: str | None) -> subprocess.Popen:
    """Start ``python -m node`` for ``name`` as a new session (pgid = its pid)."""
    node_dir = data_dir / name
    node_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "node", "--config", str(data_dir / "cluster.toml"), "--node", name]
    if shard_script:
        command += ["--shard-script", shard_script]
    with open(node_dir / "supervisor.out", "ab") as output:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop_nodes(data_dir: Path, entries: list[dict[str, Any]], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Graceful stop: SIGTERM (and SIGCONT, for paused nodes), SIGKILL after the deadline.
    Returns once no process of these nodes is left, else raises naming the survivors."""
    everyone: list[int] = []
    for entry in entries:
        pids = node_pids(data_dir, entry)
        everyone += pids
        if entry["pid"] in pids:  # the supervisor forwards SIGTERM to its shards
            signal_pid(entry["pid"], signal.SIGTERM)
            signal_group(entry["pid"], signal.SIGCONT)
        else:  # orphaned shards (their supervisor is gone)
            for pid in pids:
                signal_pid(pid, signal.SIGTERM)
                signal_pid(pid, signal.SIGCONT)
    if not wait_until(lambda: not alive_pids(everyone), timeout_s):
        kill_nodes(data_dir, entries)
    left = alive_pids(everyone)
    if left:
        raise ShardsimError(f"processes still alive after stopping: {left}")


def kill_nodes(data_dir: Path, entries: list[dict[str, Any]], timeout_s: float = KILL_TIMEOUT_S) -> None:
    """SIGKILL every process of these nodes (the group, then each pid); returns once they are gone."""
    everyone: list[int] = []
    for entry in entries:
        pids = node_pids(data_dir, entry)
        everyone += pids
        if entry["pid"] in pids:
            signal_group(entry["pid"], signal.SIGKILL)
        for pid in pids:
            signal_pid(pid, signal.SIGKILL)
    if not wait_until(lambda: not alive_pids(everyone), timeout_s):
        raise ShardsimError(f"processes still alive after SIGKILL: {alive_pids(everyone)}")


# --- what the nodes say ----------------------------------------------------------------

def fetch_status(http: str, timeout_s: float = STATUS_TIMEOUT_S) -> dict[str, Any] | None:
    """``GET {http}/v1/status``, or None when the node does not answer."""
    try:
        with urllib.request.urlopen(f"{http}/v1/status", timeout=timeout_s) as response:
            return json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None


def view_states(view: dict[str, Any] | None) -> dict[str, str]:
    if view is None:
        return {}
    return {node["name"]: node.get("state", "?") for node in view.get("nodes", [])}


def missing_up(http: str, expected: list[str], samples: int = 1) -> list[str] | None:
    """The expected nodes this node does not see UP; None when it does not answer.

    Each shard keeps its own view and the kernel hands a connection to any shard of
    the node (SO_REUSEPORT), so ``samples`` answers in a row must all agree."""
    missing: list[str] = []
    for _ in range(samples):
        view = fetch_status(http)
        if view is None:
            return None
        states = view_states(view)
        missing += [name for name in expected if states.get(name) != "UP" and name not in missing]
    return missing


def wait_nodes_see(entries: list[dict[str, Any]], expected: list[str], timeout_s: float) -> dict[str, str]:
    """Wait until every node of ``entries`` sees every node of ``expected`` UP.
    Returns {} on success, else what is wrong per node."""
    problems: dict[str, str] = {}

    def check() -> bool:
        problems.clear()
        for entry in entries:
            if process_state(entry["pid"]) == "dead":
                problems[entry["name"]] = "its supervisor exited (see supervisor.out and node.log)"
                continue
            missing = missing_up(entry["http"], expected,
                                 samples=STATUS_SAMPLES_PER_SHARD * entry["shards"])
            if missing is None:
                problems[entry["name"]] = "does not answer HTTP"
            elif missing:
                problems[entry["name"]] = "does not see UP: " + ", ".join(missing)
        return not problems or any(
            "exited" in problem for problem in problems.values())

    wait_until(check, timeout_s)
    return dict(problems)


def describe_problems(data_dir: Path, problems: dict[str, str]) -> str:
    parts = []
    for name, problem in problems.items():
        text = f"{name} {problem}"
        if "exited" in problem:
            with contextlib.suppress(OSError):
                tail = (data_dir / name / "supervisor.out").read_text().strip().splitlines()[-3:]
                if tail:
                    text += " [" + " | ".join(tail) + "]"
        parts.append(text)
    return "; ".join(parts)


# --- effective config ------------------------------------------------------------------

def effective_config(args: argparse.Namespace) -> ClusterConfig:
    """cluster.toml with --nodes/--shards/--port-base, --set and --data-dir applied."""
    config_path = Path(args.config).resolve()
    try:
        document = tomllib.loads(config_path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"{args.config}: no such file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"{args.config}: cannot read: {error}") from None
    if args.nodes is not None or args.shards is not None or args.port_base is not None:
        existing = [node for node in document.get("nodes", []) if isinstance(node, dict)]
        count = args.nodes if args.nodes is not None else (len(existing) or 3)
        shards = args.shards if args.shards is not None else max(
            [node.get("shards", 2) for node in existing] or [2])
        if count < 1 or shards < 1:
            raise ConfigurationError("--nodes and --shards must be at least 1")
        port_base = args.port_base if args.port_base is not None else DEFAULT_PORT_BASE
        document["nodes"] = generated_nodes(count, shards, port_base)
    config = config_from_document(document, str(config_path), list(args.set))
    data_dir = Path(args.data_dir).resolve() if args.data_dir else config.data_path()
    return replace(config, data_dir=str(data_dir))


def busy_ports(config: ClusterConfig) -> list[str]:
    busy = []
    for node in config.nodes:
        wanted = [(node.http_port, "http")] + [(node.rpc_port + shard, f"rpc shard {shard}")
                                                for shard in range(node.shards)]
        for port, what in wanted:
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((node.host, port))
                except OSError:
                    busy.append(f"{node.host}:{port} ({what} of {node.name})")
    return busy


def data_dir_of(args: argparse.Namespace) -> Path:
    if args.data_dir:
        return Path(args.data_dir).resolve()
    return load_config(args.config).data_path()


def live_nodes(data_dir: Path) -> list[str]:
    if not (data_dir / "cluster.json").exists():
        return []
    cluster = read_cluster(data_dir)
    return [entry["name"] for entry in cluster["nodes"]
            if node_pids(data_dir, entry)]


def wipe(data_dir: Path, config: ClusterConfig) -> None:
    """--fresh: remove what shardsim made here (node folders, cluster files), nothing else."""
    names = {node.name for node in config.nodes}
    with contextlib.suppress(ShardsimError, KeyError, TypeError):
        names |= {entry["name"] for entry in read_cluster(data_dir)["nodes"]}
    for name in sorted(names):
        folder = data_dir / name
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
    for file_name in ("cluster.json", "cluster.toml"):
        with contextlib.suppress(FileNotFoundError):
            (data_dir / file_name).unlink()


# --- commands ---------------------------------------------------------------------------

def _entry(node: Any, pid: int) -> dict[str, Any]:
    return {"name": node.name, "http": node.http_url, "pid": pid, "dc": node.dc,
            "rack": node.rack, "shards": node.shards,
            "rpc_ports": [node.rpc_port + shard for shard in range(node.shards)]}


def render_nodes(entries: list[dict[str, Any]]) -> str:
    rows = [[entry["name"], entry["dc"], entry["rack"], str(entry["shards"]), entry["http"],
             str(entry["pid"])] for entry in entries]
    return format_table(["node", "dc", "rack", "shards", "http", "pid"], rows)


def _up(args: argparse.Namespace) -> int:
    config = effective_config(args)
    data_dir = config.data_path()
    running = live_nodes(data_dir)
    if running:
        raise ShardsimError(f"{data_dir}: nodes {', '.join(running)} are running; "
                            f"stop them with shardsim down --data-dir {data_dir}")
    if args.fresh:
        wipe(data_dir, config)
    for node in config.nodes:  # refused here, in one line, before anything is spawned
        check_node_identity(data_dir / node.name, node.name, node.shards)
    busy = busy_ports(config)
    if busy:
        raise ShardsimError("ports in use: " + ", ".join(busy))
    data_dir.mkdir(parents=True, exist_ok=True)
    config_path = data_dir / "cluster.toml"
    write_atomically(config_path, render_toml(config))
    config = load_config(config_path)  # the nodes read this file: it must load
    cluster: dict[str, Any] = {"cluster": config.name, "nodes": []}
    if args.shard_script:
        cluster["shard_script"] = str(Path(args.shard_script).resolve())
    processes: dict[str, subprocess.Popen] = {}
    try:
        for node in config.nodes:
            processes[node.name] = spawn_node(data_dir, node.name, cluster.get("shard_script"))
            cluster["nodes"].append(_entry(node, processes[node.name].pid))
            write_cluster(data_dir, cluster)
        names = [node.name for node in config.nodes]
        problems = wait_nodes_see(cluster["nodes"], names, args.timeout_s)
        if problems:
            stop_nodes(data_dir, cluster["nodes"])
            raise ShardsimError(f"cluster not up after {args.timeout_s:g} s: "
                                + describe_problems(data_dir, problems))
    except KeyboardInterrupt:
        stop_nodes(data_dir, cluster["nodes"])
        raise
    print(f"cluster {config.name} is up ({data_dir})")
    print(render_nodes(cluster["nodes"]))
    if args.detach:
        return 0
    return _foreground(data_dir, cluster, processes)


def _foreground(data_dir: Path, cluster: dict[str, Any], processes: dict[str, subprocess.Popen]) -> int:
    """Stay until Ctrl-C (or SIGTERM), then stop every node cleanly."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGTERM, signal.SIGINT)}
    reported: set[str] = set()
    try:
        print("Ctrl-C stops the cluster", flush=True)
        while True:
            for name, process in processes.items():
                if name not in reported and process.poll() is not None:
                    reported.add(name)
                    print(f"node {name} exited with code {process.returncode}", flush=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        for signum in previous:  # a second Ctrl-C must not abandon a half-stopped cluster
            signal.signal(signum, signal.SIG_IGN)
        print("stopping...", flush=True)
        stop_nodes(data_dir, read_cluster(data_dir)["nodes"])
        print("stopped")
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _down(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    cluster = read_cluster(data_dir)
    stop_nodes(data_dir, cluster["nodes"], args.timeout_s)
    print(f"cluster {cluster['cluster']} is down ({len(cluster['nodes'])} nodes)")
    return 0


def _status(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    cluster = read_cluster(data_dir)
    rows = []
    for entry in cluster["nodes"]:
        process = supervisor_state(data_dir, entry)
        view = fetch_status(entry["http"]) if process == "running" else None
        seen = view_states(view)
        rows.append([entry["name"], entry["dc"], entry["rack"], str(entry["shards"]), entry["http"],
                     str(entry["pid"]), process,
                     " ".join(f"{name}:{state}" for name, state in seen.items()) or "-"])
    print(f"cluster {cluster['cluster']} ({data_dir})")
    print(format_table(["node", "dc", "rack", "shards", "http", "pid", "process", "sees"], rows))
    return 0


def _running_entry(data_dir: Path, name: str) -> dict[str, Any]:
    entry = node_entry(read_cluster(data_dir), name)
    if supervisor_state(data_dir, entry) == "dead":
        raise ShardsimError(f"node {name} is not running")
    return entry


def _kill(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    entry = node_entry(read_cluster(data_dir), args.node)
    kill_nodes(data_dir, [entry])
    print(f"node {args.node} killed")
    return 0


def _stop(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    entry = node_entry(read_cluster(data_dir), args.node)
    stop_nodes(data_dir, [entry], args.timeout_s)
    print(f"node {args.node} stopped")
    return 0


def _signal_node(args: argparse.Namespace, signum: int, done: str) -> int:
    data_dir = data_dir_of(args)
    entry = _running_entry(data_dir, args.node)
    signal_group(entry["pid"], signum)
    print(f"node {args.node} {done}")
    return 0


def _start(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    cluster = read_cluster(data_dir)
    entry = node_entry(cluster, args.node)
    if node_pids(data_dir, entry):
        raise ShardsimError(f"node {args.node} is already running (pid {entry['pid']})")
    settings = load_config(data_dir / "cluster.toml").node(args.node)
    check_node_identity(data_dir / args.node, args.node, settings.shards)
    process = spawn_node(data_dir, args.node, cluster.get("shard_script"))
    entry["pid"] = process.pid
    write_cluster(data_dir, cluster)
    peers = [other["name"] for other in cluster["nodes"]
             if other is entry or supervisor_state(data_dir, other) == "running"]
    problems = wait_nodes_see([entry], peers, args.timeout_s)
    if problems:
        raise ShardsimError(f"node {args.node} not ready after {args.timeout_s:g} s: "
                            + describe_problems(data_dir, problems))
    print(f"node {args.node} is up")
    print(render_nodes([entry]))
    return 0


def _add_location(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="the cluster's folder (default: data_dir of --config)")
    add_config_argument(parser)


def register(commands: argparse._SubParsersAction) -> None:
    up = commands.add_parser("up", help="start a local cluster and wait until every node is UP")
    add_config_argument(up)
    up.add_argument("--data-dir", help="where nodes keep their data (default: data_dir of the config)")
    up.add_argument("--nodes", type=int, help="generate N nodes instead of the config's")
    up.add_argument("--shards", type=int, help="shards per generated node")
    up.add_argument("--port-base", type=int, help=f"first port of generated nodes "
                    f"(default {DEFAULT_PORT_BASE}; node i: http P+100i, rpc P+100i+10...)")
    up.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a setting, e.g. failure_detector.timeout_ms=1000")
    up.add_argument("--fresh", action="store_true", help="wipe the cluster's node folders first")
    up.add_argument("--detach", action="store_true", help="return once up (write DIR/cluster.json)")
    up.add_argument("--timeout-s", type=float, default=UP_TIMEOUT_S,
                    help="give up if not every node is UP after this (default: %(default)s)")
    up.add_argument("--shard-script", help=argparse.SUPPRESS)  # tests: a stand-in shard program
    up.set_defaults(handler=_up)

    for name, handler, text in (("down", _down, "stop every node of the cluster gracefully"),
                                ("status", _status, "every node: process state and what it sees")):
        parser = commands.add_parser(name, help=text)
        _add_location(parser)
        if name == "down":
            parser.add_argument("--timeout-s", type=float, default=STOP_TIMEOUT_S,
                                help="SIGKILL what is left after this (default: %(default)s)")
        parser.set_defaults(handler=handler)

    node_commands = (
        ("kill", _kill, "SIGKILL every process of a node"),
        ("stop", _stop, "stop a node gracefully"),
        ("start", _start, "start a stopped node and wait until it sees its peers UP"),
        ("pause", lambda args: _signal_node(args, signal.SIGSTOP, "paused"), "SIGSTOP a node"),
        ("resume", lambda args: _signal_node(args, signal.SIGCONT, "resumed"), "SIGCONT a node"),
    )
    for name, handler, text in node_commands:
        parser = commands.add_parser(name, help=text)
        parser.add_argument("node", help="node name, e.g. n2")
        _add_location(parser)
        if name in ("stop", "start"):
            parser.add_argument("--timeout-s", type=float,
                                default=STOP_TIMEOUT_S if name == "stop" else UP_TIMEOUT_S,
                                help="deadline (default: %(default)s)")
        parser.set_defaults(handler=handler)
