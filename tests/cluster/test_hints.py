"""Hinted handoff in an in-process cluster: hints written for a DOWN replica reach it
after it comes back, without repair; the switches, the window, the size bound,
gc_grace, CL=ANY and a coordinator that crashed while holding hints."""

import pytest
from aiohttp.test_utils import TestClient, TestServer

from node.errors import Unavailable
from node.dht.token import token_of
from scripts.testing.local_cluster import LocalCluster, cluster_config, wait_for

KEYSPACE = ("CREATE KEYSPACE ks WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': %d}")
FAST_REPLAY = ["hints.retry_ms=200"]
ROWS = 120


async def started(tmp_path, overrides=()):
    cluster = LocalCluster(tmp_path, cluster_config(3, 2, [*FAST_REPLAY, *overrides]))
    await cluster.start()
    return cluster


@pytest.fixture
async def make_cluster(tmp_path):
    clusters = []

    async def make(*overrides):
        cluster = await started(tmp_path / f"c{len(clusters)}", overrides)
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:
        await cluster.aclose()


async def make_table(cluster, rf=3, options=""):
    await cluster.execute("n1", KEYSPACE % rf)
    await cluster.execute("n1", f"CREATE TABLE ks.t (k int PRIMARY KEY, v text){options}")


async def write_rows(cluster, keys, consistency="QUORUM"):
    for k in keys:
        await cluster.execute(f"n{k % 2 + 1}", "INSERT INTO ks.t (k, v) VALUES (?, ?)", [k, f"v{k}"],
                              consistency=consistency, shard=k % 2)


def managers(cluster, nodes=None):
    return [runtime.hints for name, runtimes in cluster.runtimes.items()
            if nodes is None or name in nodes for runtime in runtimes]


def pending_for(cluster, target):
    return sum(m.pending().get(target, {}).get("hints", 0) for m in managers(cluster))


def counter(cluster, name):
    return sum(getattr(m.counters, name) for m in managers(cluster))


async def rows_on_alone(cluster, node, keys):
    """The keys ``node`` holds, read at ONE through it with every other node killed."""
    for other in [n for n in cluster.node_names if n != node and n in cluster.runtimes]:
        await cluster.kill(other)
    await wait_for(lambda: all(not cluster.sees(node, other) for other in cluster.node_names
                               if other != node), what="the others seen DOWN")
    found = set()
    for k in keys:
        result = await cluster.execute(node, "SELECT k, v FROM ks.t WHERE k = ?", [k], consistency="ONE")
        if result.rows:
            assert result.rows == [[k, f"v{k}"]]
            found.add(k)
    return found


async def test_rows_written_while_a_replica_was_down_reach_it_after_restart(make_cluster):
    cluster = await make_cluster()
    await make_table(cluster)
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    await write_rows(cluster, range(ROWS))
    assert pending_for(cluster, "n3") == ROWS  # one hint per row, on the coordinator shard
    assert counter(cluster, "written") == ROWS
    await cluster.start_node("n3")
    await wait_for(lambda: pending_for(cluster, "n3") == 0, what="every hint delivered")
    assert counter(cluster, "sent") == ROWS and counter(cluster, "send_errors") == 0
    # A segment's file goes once its last hint is acknowledged, just after the count drops.
    await wait_for(lambda: not any(list(m.directory.joinpath("n3").glob("Hints-*.log"))
                                   for m in managers(cluster)),
                   what="every segment deleted once acknowledged")
    assert await rows_on_alone(cluster, "n3", range(ROWS)) == set(range(ROWS))


async def test_with_hints_disabled_the_returning_replica_has_none_of_the_rows(make_cluster):
    cluster = await make_cluster("hints.enabled=false")
    await make_table(cluster)
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    await write_rows(cluster, range(40))
    assert counter(cluster, "written") == 0
    await cluster.start_node("n3")
    assert await rows_on_alone(cluster, "n3", range(40)) == set()


async def test_disabled_dc_gets_no_hints(make_cluster):
    cluster = await make_cluster('hints.disabled_dcs=["dc1"]')
    await make_table(cluster)
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    await write_rows(cluster, range(10))
    assert counter(cluster, "written") == 0


async def test_no_hints_once_the_target_is_down_longer_than_the_window(make_cluster):
    cluster = await make_cluster("hints.max_window_ms=1000")
    await make_table(cluster)
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    early, late = range(0, 30), range(30, 60)
    await write_rows(cluster, early)
    detectors = [r.shard.failure_detector for rs in cluster.runtimes.values() for r in rs]
    await wait_for(lambda: all(d.down_for_s("n3") > 1.0 for d in detectors), what="window passed")
    await write_rows(cluster, late)
    assert counter(cluster, "written") == len(early)
    assert counter(cluster, "dropped_window") == len(late)
    await cluster.start_node("n3")
    await wait_for(lambda: pending_for(cluster, "n3") == 0, what="early hints delivered")
    assert await rows_on_alone(cluster, "n3", range(60)) == set(early)


def key_owned_only_by(cluster, node, keys=range(10_000)):
    """A key whose single replica (RF=1) is ``node``."""
    runtime = cluster.coordinator("n1")
    keyspace = runtime.schema.keyspace("ks")
    table = runtime.schema.table("ks", "t")
    replica_map = runtime.shard.replica_map(keyspace.replication)
    for k in keys:
        token = token_of(table.serialize_partition_key([k]))
        if replica_map.replicas_for_token(token) == (node,):
            return k
    raise AssertionError("no key found")


async def test_any_with_every_replica_down_succeeds_and_the_row_arrives_later(make_cluster):
    cluster = await make_cluster()
    await make_table(cluster, rf=1)
    k = key_owned_only_by(cluster, "n3")
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    with pytest.raises(Unavailable):
        await cluster.execute("n1", "INSERT INTO ks.t (k, v) VALUES (?, 'x')", [k], consistency="ONE")
    await cluster.execute("n1", "INSERT INTO ks.t (k, v) VALUES (?, ?)", [k, f"v{k}"], consistency="ANY")
    await cluster.start_node("n3")
    await wait_for(lambda: pending_for(cluster, "n3") == 0, what="the ANY hint delivered")
    result = await cluster.execute("n2", "SELECT v FROM ks.t WHERE k = ?", [k], consistency="ONE")
    assert result.rows == [[f"v{k}"]]


async def test_a_crashed_coordinator_still_delivers_its_hints_after_restart(make_cluster):
    cluster = await make_cluster()
    await make_table(cluster)
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    for k in range(50):
        await cluster.execute("n1", "INSERT INTO ks.t (k, v) VALUES (?, ?)", [k, f"v{k}"],
                              consistency="QUORUM", shard=k % 2)
    assert pending_for(cluster, "n3") == 50
    await cluster.kill("n1")  # a crash: nothing flushed or closed first
    await cluster.start_node("n1")
    assert pending_for(cluster, "n3") == 50, "the hints were found on disk"
    await cluster.start_node("n3")
    await wait_for(lambda: pending_for(cluster, "n3") == 0, what="hints delivered after the crash")
    assert await rows_on_alone(cluster, "n3", range(50)) == set(range(50))


async def test_hints_older_than_gc_grace_are_discarded_at_replay(make_cluster):
    cluster = await make_cluster()
    await make_table(cluster, options=" WITH gc_grace_seconds = 0")
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    await write_rows(cluster, range(20))
    await cluster.start_node("n3")
    await wait_for(lambda: pending_for(cluster, "n3") == 0, what="hints gone")
    assert counter(cluster, "discarded_gc_grace") == 20 and counter(cluster, "sent") == 0


async def test_hints_over_the_size_bound_are_dropped_and_the_write_still_succeeds(make_cluster):
    cluster = await make_cluster("hints.max_bytes_per_target=1000")
    await make_table(cluster)
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    await write_rows(cluster, range(60))  # QUORUM succeeds for every row
    assert counter(cluster, "dropped_limit") > 0
    assert counter(cluster, "written") + counter(cluster, "dropped_limit") == 60
    for manager in managers(cluster):
        assert manager.pending().get("n3", {}).get("bytes", 0) <= 1000


async def test_admin_route_switches_every_shard_and_shows_pending_hints(make_cluster):
    cluster = await make_cluster()
    await make_table(cluster)
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    await write_rows(cluster, range(10))
    async with TestClient(TestServer(cluster.coordinator("n1").http.app)) as http:
        response = await http.get("/v1/admin/hints")
        body = await response.json()
        expected = sum(m.pending().get("n3", {}).get("hints", 0) for m in managers(cluster, ["n1"]))
        assert body["running"] and body["targets"]["n3"]["hints"] == expected > 0
        assert body["targets"]["n3"]["bytes"] > 0
        response = await http.post("/v1/admin/hints", json={"enabled": False, "max_window_ms": 5000})
        assert response.status == 200
        assert all(not m.enabled and m.max_window_ms == 5000 for m in managers(cluster, ["n1"]))
        assert all(m.enabled for m in managers(cluster, ["n2"]))
        response = await http.post("/v1/admin/hints", json={"enabled": "yes"})
        assert response.status == 400
        metrics = await (await http.get("/metrics")).text()
    assert 'shardsim_hints_pending_bytes{node="n1",shard="0",target="n3"}' in metrics
    assert "shardsim_hints_written" in metrics
    written = counter(cluster, "written")
    await write_rows(cluster, [k for k in range(10, 30) if k % 2 == 0])  # coordinated by n1
    assert counter(cluster, "written") == written
