"""A real cluster of node processes, driven through the shardsim launcher.

Each node must see every other UP within seconds; a node killed, paused, or cut off
by a partition must be seen DOWN within the failure detector timeout plus one
heartbeat (plus the slack of polling on a loaded machine), and UP again once it is
back; ``shardsim down`` must leave no process behind.
"""

import pytest

from scripts.launcher.launcher import process_state
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration

HEARTBEAT_MS = 500
TIMEOUT_MS = 2000
SETTINGS = (f"failure_detector.heartbeat_ms={HEARTBEAT_MS}", f"failure_detector.timeout_ms={TIMEOUT_MS}")
# Detection must happen within timeout + one heartbeat; the slack covers polling and a
# loaded 2-core machine scheduling 6 shard processes.
DOWN_WITHIN_S = (TIMEOUT_MS + HEARTBEAT_MS) / 1000 + 3.0
UP_WITHIN_S = 20.0


def everyone_up(cluster):
    names = cluster.names
    return all(cluster.sees(observer, {name: "UP" for name in names}) for observer in names)


def test_every_node_sees_every_other_up_and_down_leaves_no_process(launch_cluster):
    cluster = launch_cluster(nodes=3, shards=2, settings=SETTINGS)
    info = cluster.info
    assert [entry["name"] for entry in info["nodes"]] == ["n1", "n2", "n3"]
    for entry in info["nodes"]:
        assert set(entry) == {"name", "http", "pid", "dc", "rack", "shards", "rpc_ports"}
        assert entry["http"].startswith("http://127.0.0.1:") and len(entry["rpc_ports"]) == 2
    wait_for(lambda: everyone_up(cluster), UP_WITHIN_S, "every node sees every node UP")
    status = cluster.request("n1", "GET", "/v1/status")
    assert status["node"] == "n1" and status["shard"] in (0, 1)
    pids = cluster.all_pids()
    assert len(pids) == 3 * 3, "a supervisor and two shards per node"
    assert all(process_state(pid) == "running" for pid in pids)
    cluster.shardsim("down")
    assert [pid for pid in pids if process_state(pid) != "dead"] == []


@pytest.fixture
def cluster(launch_cluster):
    launched = launch_cluster(nodes=3, shards=2, settings=SETTINGS)
    wait_for(lambda: everyone_up(launched), UP_WITHIN_S, "every node sees every node UP")
    return launched


def test_a_killed_node_is_seen_down_and_up_again_after_start(cluster):
    old_pids = [pid for entry in [cluster.entry("n2")]
                for pid in cluster.all_pids() if pid == entry["pid"]] + cluster.all_pids()
    cluster.shardsim("kill", "n2")
    assert process_state(cluster.entry("n2")["pid"]) == "dead"
    wait_for(lambda: cluster.sees("n1", {"n2": "DOWN"}) and cluster.sees("n3", {"n2": "DOWN"}),
             DOWN_WITHIN_S, "n1 and n3 see the killed n2 DOWN")
    cluster.shardsim("start", "n2")
    assert cluster.entry("n2")["pid"] not in old_pids
    assert cluster.sees("n2", {"n1": "UP", "n3": "UP"}), "start returns once n2 sees its peers UP"
    wait_for(lambda: everyone_up(cluster), UP_WITHIN_S, "n2 is UP again everywhere")


def test_a_paused_node_is_seen_down_and_up_again_after_resume(cluster):
    cluster.shardsim("pause", "n3")
    try:
        assert process_state(cluster.entry("n3")["pid"]) == "paused"
        wait_for(lambda: cluster.sees("n1", {"n3": "DOWN"}) and cluster.sees("n2", {"n3": "DOWN"}),
                 DOWN_WITHIN_S, "n1 and n2 see the paused n3 DOWN")
    finally:
        cluster.shardsim("resume", "n3")
    wait_for(lambda: everyone_up(cluster), UP_WITHIN_S, "n3 is UP again everywhere after resume")


def test_a_partition_on_both_sides_is_seen_down_and_heals(cluster):
    cluster.request("n2", "POST", "/v1/admin/faults", {"partition": ["n1", "n3"]})
    for name in ("n1", "n3"):
        cluster.request(name, "POST", "/v1/admin/faults", {"partition": ["n2"]})
    wait_for(lambda: cluster.sees("n1", {"n2": "DOWN", "n3": "UP"})
             and cluster.sees("n3", {"n2": "DOWN", "n1": "UP"})
             and cluster.sees("n2", {"n1": "DOWN", "n3": "DOWN"}),
             DOWN_WITHIN_S, "each side of the partition sees the other DOWN")
    for name in ("n1", "n2", "n3"):
        cluster.request(name, "DELETE", "/v1/admin/faults")
    wait_for(lambda: everyone_up(cluster), UP_WITHIN_S, "the healed partition is UP everywhere")
