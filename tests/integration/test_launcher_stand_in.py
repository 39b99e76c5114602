"""The launcher's process control against stand-in shards (tests/integration/stand_in_shard.py),
so that it is checked independently of node.server.shard_process: up, status, kill/start, pause/resume, down."""

import os

import pytest

from scripts.launcher.launcher import process_state
from tests.integration.conftest import STAND_IN_SHARD, wait_for

pytestmark = pytest.mark.integration


def test_launcher_controls_every_process_of_a_node(launch_cluster):
    cluster = launch_cluster(nodes=2, shards=2, settings=("failure_detector.timeout_ms=1000",),
                             shard_script=STAND_IN_SHARD)
    both_up = {"n1": "UP", "n2": "UP"}
    assert cluster.sees("n1", both_up) and cluster.sees("n2", both_up), "up waits for every node UP"
    status = cluster.shardsim("status").stdout
    assert "n1:UP n2:UP" in status and "running" in status

    killed = [pid for pid in cluster.all_pids() if pid in _node_pids(cluster, "n2")]
    assert len(killed) == 3
    cluster.shardsim("kill", "n2")
    assert [pid for pid in killed if process_state(pid) != "dead"] == []
    wait_for(lambda: cluster.sees("n1", {"n2": "DOWN"}), 10, "n1 sees the killed n2 DOWN")
    assert "already running" in cluster.shardsim("start", "n1", check=False).stderr
    cluster.shardsim("start", "n2")
    wait_for(lambda: cluster.sees("n1", {"n2": "UP"}), 10, "n1 sees the restarted n2 UP")

    cluster.shardsim("pause", "n2")
    assert all(process_state(pid) == "paused" for pid in _node_pids(cluster, "n2"))
    cluster.shardsim("resume", "n2")
    assert all(process_state(pid) == "running" for pid in _node_pids(cluster, "n2"))

    cluster.shardsim("stop", "n1")
    assert process_state(cluster.entry("n1")["pid"]) == "dead"
    every = cluster.all_pids()
    cluster.shardsim("down")
    assert [pid for pid in every if process_state(pid) != "dead"] == []


def _node_pids(cluster, name):
    from scripts.launcher.launcher import node_pids
    return node_pids(cluster.data_dir, cluster.entry(name))


def test_up_refuses_a_second_cluster_in_the_same_folder(launch_cluster):
    cluster = launch_cluster(nodes=1, shards=1, shard_script=STAND_IN_SHARD)
    from tests.integration.conftest import run_shardsim
    result = run_shardsim("up", "--detach", "--data-dir", str(cluster.data_dir), "--nodes", "1",
                          "--shard-script", str(STAND_IN_SHARD))
    assert result.returncode == 2 and "running" in result.stderr


def test_foreground_up_stops_every_node_on_ctrl_c(tmp_path):
    import signal
    import subprocess
    import sys

    from scripts.launcher.launcher import node_pids, read_cluster
    from tests.integration.conftest import ROOT, free_port_base

    data_dir = tmp_path / "fg"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "scripts.cli", "up", "--data-dir", str(data_dir), "--nodes", "2",
         "--shards", "1", "--port-base", str(free_port_base(2, 1)), "--shard-script", str(STAND_IN_SHARD)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids = []
    try:
        output = []
        for line in launcher.stdout:
            output.append(line)
            if line.startswith("Ctrl-C"):
                break
        assert output and output[-1].startswith("Ctrl-C"), "".join(output)
        entries = read_cluster(data_dir)["nodes"]
        pids = [pid for entry in entries for pid in node_pids(data_dir, entry)]
        assert len(pids) == 4
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=60) == 0
        assert [pid for pid in pids if process_state(pid) != "dead"] == []
    finally:
        if launcher.poll() is None:
            launcher.kill()
        for pid in pids:
            if process_state(pid) != "dead":
                os.kill(pid, signal.SIGKILL)
