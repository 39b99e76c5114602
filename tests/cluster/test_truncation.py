"""TRUNCATE records its time (issue 12), as Cassandra's ``truncatedAt``: hints and
background deliveries made before it, and commitlog replay after a restart, never
bring the truncated rows back (nor does read repair spread them)."""

import pytest

from scripts.testing.local_cluster import LocalCluster, cluster_config, wait_for
from tests.cluster.test_hints import pending_for

KEYSPACE = "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}"
ROWS = 30


@pytest.fixture
async def cluster(tmp_path):
    local = LocalCluster(tmp_path, cluster_config(3, 2, ["hints.retry_ms=200"]))
    await local.start()
    try:
        await local.execute("n1", KEYSPACE)
        await local.execute("n1", "CREATE TABLE ks.t (k int PRIMARY KEY, v text)")
        yield local
    finally:
        await local.aclose()


async def rows_at_all(cluster, node):
    result = await cluster.execute(node, "SELECT k, v FROM ks.t", consistency="ALL")
    return sorted(result.rows)


async def test_a_hint_written_before_truncate_and_replayed_after_does_not_bring_rows_back(cluster):
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    for k in range(ROWS):
        await cluster.execute("n1", "INSERT INTO ks.t (k, v) VALUES (?, 'x')", [k], consistency="QUORUM")
    assert pending_for(cluster, "n3") == ROWS
    await cluster.set_faults("n1", {"partition": ["n3"]})   # n1 holds its hints back
    await cluster.start_node("n3", wait=False)
    await wait_for(lambda: cluster.sees("n2", "n3") and cluster.sees("n3", "n2"), what="n2 and n3 UP")
    await wait_for(lambda: all(cluster.sees(node, "n1") for node in ("n2",)), what="n2 sees n1")
    await cluster.execute("n2", "TRUNCATE ks.t")
    assert pending_for(cluster, "n3") == ROWS, "no hint was replayed before the TRUNCATE"
    await cluster.clear_faults("n1")
    await cluster.wait_all_up()
    await wait_for(lambda: pending_for(cluster, "n3") == 0, timeout_s=20, what="the hints replayed")
    assert await rows_at_all(cluster, "n2") == []
    assert await rows_at_all(cluster, "n3") == []


async def test_a_background_delivery_in_flight_across_truncate_does_not_resurrect(cluster):
    await cluster.set_faults("n1", {"delay_ms": {"n3": 600}})  # n3's copy lands after the TRUNCATE
    for k in range(ROWS):
        await cluster.execute("n1", "INSERT INTO ks.t (k, v) VALUES (?, 'x')", [k], consistency="QUORUM")
    assert cluster.coordinator("n1").writes.statistics().background_writes > 0
    await cluster.execute("n2", "TRUNCATE ks.t")
    await wait_for(lambda: all(r.writes.statistics().background_writes == 0
                               for r in cluster.runtimes["n1"]), what="the deliveries landed")
    await cluster.clear_faults("n1")
    assert await rows_at_all(cluster, "n2") == []
    # and the commitlog replay of a restart does not bring them back either
    await cluster.kill("n3")
    await cluster.start_node("n3")
    assert await rows_at_all(cluster, "n1") == []


async def test_commitlog_replay_after_a_restart_does_not_bring_truncated_rows_back(cluster):
    for k in range(ROWS):
        await cluster.execute("n1", "INSERT INTO ks.t (k, v) VALUES (?, 'x')", [k], consistency="ALL")
    await cluster.execute("n1", "TRUNCATE ks.t")
    await cluster.execute("n1", "INSERT INTO ks.t (k, v) VALUES (1000, 'after')", consistency="ALL")
    for node in cluster.node_names:   # a crash of every node: only the commitlog is left
        await cluster.kill(node)
    for node in cluster.node_names:
        await cluster.start_node(node, wait=False)
    await cluster.wait_all_up()
    assert await rows_at_all(cluster, "n2") == [[1000, "after"]]


async def test_truncate_waits_for_the_node_s_background_writes_to_the_table(cluster):
    await cluster.set_faults("n1", {"delay_ms": {"n3": 600}})
    for k in range(ROWS):
        await cluster.execute("n1", "INSERT INTO ks.t (k, v) VALUES (?, 'x')", [k], consistency="QUORUM")
    assert cluster.coordinator("n1").writes.statistics().background_writes > 0
    await cluster.execute("n1", "TRUNCATE ks.t")
    assert all(r.writes.statistics().background_writes == 0 for r in cluster.runtimes["n1"])
    await cluster.clear_faults("n1")
    assert await rows_at_all(cluster, "n2") == []
