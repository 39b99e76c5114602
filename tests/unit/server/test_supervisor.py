"""The node supervisor: signals forwarded, a dead shard takes the node down, no shard
outlives its supervisor. Shards here are tiny Python programs, not node.server.shard_process."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from node.clock import SystemClock
from node.server.supervisor import Supervisor, run_supervisor, shard_command
from scripts.launcher.launcher import process_state

ROOT = Path(__file__).resolve().parents[2]

# Waits for SIGTERM or SIGINT, records it in the file named by argv[1], exits 0; argv[1].ready
# appears once the handler is installed.
POLITE = ("import signal, sys, pathlib, time\n"
          "def stop(*_):\n"
          "    pathlib.Path(sys.argv[1]).write_text('term')\n"
          "    sys.exit(0)\n"
          "signal.signal(signal.SIGTERM, stop)\n"
          "signal.signal(signal.SIGINT, stop)\n"
          "pathlib.Path(sys.argv[1] + '.ready').touch()\n"
          "while True: time.sleep(1)\n")
STUBBORN = ("import signal, sys, pathlib, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "pathlib.Path(sys.argv[1] + '.ready').touch()\nwhile True: time.sleep(1)\n")
DIES = "import sys\nsys.exit(3)\n"


def python(code, *args):
    return [sys.executable, "-c", code, *map(str, args)]


def wait_for(check, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.05)


async def async_wait_for(check, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.05)


def ready(*marks):
    return lambda: all(Path(f"{mark}.ready").exists() for mark in marks)


def pids_of(path):
    return json.loads(path.read_text()) if path.exists() else None


async def test_stop_forwards_sigterm_and_returns_zero(tmp_path):
    marks = [tmp_path / f"shard{i}.term" for i in range(2)]
    pids_path = tmp_path / "pids.json"
    supervisor = Supervisor("n1", [python(POLITE, mark) for mark in marks], pids_path,
                            clock=SystemClock(), stop_timeout_s=20)
    running = asyncio.ensure_future(supervisor.run())
    await async_wait_for(pids_path.exists)
    recorded = pids_of(pids_path)
    assert recorded["node"] == "n1" and recorded["supervisor"] == os.getpid()
    assert recorded["shards"] == supervisor.shard_pids and len(recorded["shards"]) == 2
    await async_wait_for(ready(*marks))
    supervisor.request_stop(signal.SIGTERM)
    assert await asyncio.wait_for(running, 30) == 0
    assert all(mark.read_text() == "term" for mark in marks)
    assert all(process_state(pid) == "dead" for pid in recorded["shards"])


async def test_a_dead_shard_takes_the_node_down(tmp_path):
    mark = tmp_path / "survivor.term"
    supervisor = Supervisor("n1", [python(POLITE, mark), python(DIES)], tmp_path / "pids.json",
                            clock=SystemClock(), stop_timeout_s=20)
    code = await asyncio.wait_for(supervisor.run(), 30)
    assert code == 1
    survivor = supervisor._processes[0]
    assert survivor.returncode is not None
    assert process_state(survivor.pid) == "dead"


async def test_a_shard_ignoring_sigterm_is_killed_after_the_deadline(tmp_path):
    mark = tmp_path / "stubborn"
    supervisor = Supervisor("n1", [python(STUBBORN, mark)], tmp_path / "pids.json",
                            clock=SystemClock(), stop_timeout_s=0.5)
    running = asyncio.ensure_future(supervisor.run())
    await async_wait_for(ready(mark))
    supervisor.request_stop(signal.SIGTERM)
    assert await asyncio.wait_for(running, 30) == 0
    assert supervisor._processes[0].returncode == -signal.SIGKILL


async def test_run_supervisor_forwards_a_real_signal(tmp_path):
    mark = tmp_path / "shard.term"
    supervisor = Supervisor("n1", [python(POLITE, mark)], tmp_path / "pids.json",
                            clock=SystemClock(), stop_timeout_s=20)
    running = asyncio.ensure_future(run_supervisor(supervisor))
    await async_wait_for(ready(mark))
    os.kill(os.getpid(), signal.SIGINT)
    assert await asyncio.wait_for(running, 30) == 0
    assert mark.exists()


def test_shard_command_runs_node_main_with_the_node_arguments(tmp_path):
    command = shard_command(tmp_path / "c.toml", "n2", 1, overrides=["a.b=1"])
    assert command[1:3] == ["-m", "node.server.shard_process"]
    assert command[3:] == ["--config", str(tmp_path / "c.toml"), "--node", "n2", "--shard", "1",
                           "--set", "a.b=1"]
    assert shard_command(tmp_path / "c.toml", "n2", 0, shard_script=Path("x.py"))[1] == "x.py"


CONFIG = """
name = "t"
data_dir = "data"
[[nodes]]
name = "n1"
http_port = 1
rpc_port = 2
shards = 2
"""


def start_node(tmp_path, script):
    config = tmp_path / "cluster.toml"
    config.write_text(CONFIG)
    shard = tmp_path / "shard.py"
    shard.write_text(script)
    process = subprocess.Popen([sys.executable, "-m", "node", "--config", str(config), "--node", "n1",
                                "--shard-script", str(shard)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pids_path = tmp_path / "data" / "n1" / "pids.json"
    wait_for(lambda: pids_path.exists() or process.poll() is not None)
    assert process.poll() is None, process.stdout.read()
    return process, pids_of(pids_path)


# A shard that exits 0 on SIGTERM; "ready<shard>" next to it says its handler is set.
SLEEPER = ("import signal, sys, time, pathlib\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
           "shard = sys.argv[sys.argv.index('--shard') + 1]\n"
           "pathlib.Path(__file__).with_name('ready' + shard).touch()\n"
           "while True: time.sleep(1)\n")


def test_a_sigkilled_supervisor_takes_its_shards_along(tmp_path):
    process, recorded = start_node(tmp_path, SLEEPER)
    assert recorded["supervisor"] == process.pid and len(recorded["shards"]) == 2
    process.kill()
    process.wait()
    wait_for(lambda: all(process_state(pid) == "dead" for pid in recorded["shards"]))


def test_sigterm_stops_the_node_with_code_zero_and_logs_json(tmp_path):
    process, recorded = start_node(tmp_path, SLEEPER)
    wait_for(lambda: all((tmp_path / f"ready{shard}").exists() for shard in range(2)))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert all(process_state(pid) == "dead" for pid in recorded["shards"])
    events = [json.loads(line) for line in (tmp_path / "data" / "n1" / "node.log").read_text().splitlines()]
    names = [event["event"] for event in events]
    assert "supervisor.shard_started" in names and "supervisor.stopped" in names
    assert all(event["node"] == "n1" for event in events)


def test_a_shard_exiting_makes_the_node_exit_nonzero(tmp_path):
    process, recorded = start_node(tmp_path, "import time, sys\ntime.sleep(0.5)\nsys.exit(5)\n")
    assert process.wait(timeout=30) == 1
    assert all(process_state(pid) == "dead" for pid in recorded["shards"])


def test_an_unknown_node_is_a_configuration_error(tmp_path):
    config = tmp_path / "cluster.toml"
    config.write_text(CONFIG)
    result = subprocess.run([sys.executable, "-m", "node", "--config", str(config), "--node", "n9"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "n9" in result.stderr


def test_process_state_tells_running_from_dead():
    assert process_state(os.getpid()) == "running"
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    assert process_state(finished.pid) == "dead"
