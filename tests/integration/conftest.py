"""Real multi-process clusters for integration tests, launched through ``shardsim up --detach``.

``launch_cluster(nodes=3, shards=2, settings=[...])`` picks free ports, runs the
launcher in a subprocess (as a user would), and returns a ``LaunchedCluster``. Every
cluster it launched is torn down at the end of the test — ``shardsim down``, then a
SIGKILL of every recorded process group if anything is left — whatever happened.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scripts.bench.launched_cluster import free_port_base
from scripts.launcher.launcher import fetch_status, kill_nodes, node_pids, process_state, view_states

ROOT = Path(__file__).resolve().parents[2]
STAND_IN_SHARD = Path(__file__).resolve().with_name("stand_in_shard.py")
COMMAND_TIMEOUT_S = 120


def wait_for(check, timeout_s: float, what: str) -> float:
    """Poll ``check`` until it holds; the seconds it took. Fails naming ``what``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - start


@dataclass
class LaunchedCluster:
    data_dir: Path

    @property
    def info(self) -> dict[str, Any]:
        return json.loads((self.data_dir / "cluster.json").read_text())

    @property
    def names(self) -> list[str]:
        return [entry["name"] for entry in self.info["nodes"]]

    def entry(self, name: str) -> dict[str, Any]:
        return next(entry for entry in self.info["nodes"] if entry["name"] == name)

    def shardsim(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = run_shardsim(*args, "--data-dir", str(self.data_dir))
        if check:
            assert result.returncode == 0, f"shardsim {' '.join(args)}: {result.stdout}{result.stderr}"
        return result

    def states(self, observer: str) -> dict[str, str]:
        return view_states(fetch_status(self.entry(observer)["http"]))

    def sees(self, observer: str, expected: dict[str, str]) -> bool:
        states = self.states(observer)
        return all(states.get(name) == state for name, state in expected.items())

    def all_pids(self) -> list[int]:
        return [pid for entry in self.info["nodes"] for pid in node_pids(self.data_dir, entry)]

    def request(self, name: str, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.entry(name)['http']}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def tear_down(self) -> None:
        if not (self.data_dir / "cluster.json").exists():
            return
        result = run_shardsim("down", "--data-dir", str(self.data_dir))
        if result.returncode != 0 or any(process_state(pid) != "dead" for pid in self.all_pids()):
            kill_nodes(self.data_dir, self.info["nodes"])


def run_shardsim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scripts.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=COMMAND_TIMEOUT_S)


@pytest.fixture
def launch_cluster(tmp_path):
    """A factory: ``launch_cluster(nodes=3, shards=2, settings=(), shard_script=None)``."""
    launched: list[LaunchedCluster] = []

    def launch(nodes: int = 3, shards: int = 2, settings: tuple[str, ...] = (),
               shard_script: Path | None = None) -> LaunchedCluster:
        data_dir = tmp_path / f"cluster{len(launched)}"
        args = ["up", "--detach", "--config", str(ROOT / "cluster.toml"), "--data-dir", str(data_dir),
                "--nodes", str(nodes), "--shards", str(shards),
                "--port-base", str(free_port_base(nodes, shards))]
        for setting in settings:
            args += ["--set", setting]
        if shard_script is not None:
            args += ["--shard-script", str(shard_script)]
        cluster = LaunchedCluster(data_dir)
        launched.append(cluster)
        result = run_shardsim(*args)
        assert result.returncode == 0, f"shardsim up failed: {result.stdout}{result.stderr}"
        return cluster

    yield launch
    for cluster in launched:
        cluster.tear_down()
