"""Dropped columns never come back and never break a table (issue 12): a DROP records
the column's drop time, as Cassandra's ``system_schema.dropped_columns``; cells of it
written at or before that time are gone for reads, compaction, read repair and hints,
and a re-ADD with another type is refused."""

import pytest

from node.errors import Invalid
from scripts.testing.local_cluster import LocalCluster, cluster_config, wait_for
from tests.cluster.test_hints import counter, pending_for

KEYSPACE = "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}"


@pytest.fixture
async def cluster(tmp_path):
    local = LocalCluster(tmp_path, cluster_config(3, 2, ["hints.retry_ms=200"]))
    await local.start()
    try:
        await local.execute("n1", KEYSPACE)
        await local.execute("n1", "CREATE TABLE ks.t (k int PRIMARY KEY, v text, w text)")
        yield local
    finally:
        await local.aclose()


async def select_all(cluster, node="n2", consistency="ALL"):
    result = await cluster.execute(node, "SELECT k, v, w FROM ks.t", consistency=consistency)
    return sorted(result.rows)


async def flush_and_compact(cluster):
    for name in cluster.node_names:
        await cluster.coordinator(name).shard.run_admin_on_node("storage.flush", {})
        await cluster.coordinator(name).shard.run_admin_on_node("storage.compact", {})


async def test_drop_then_re_add_of_the_same_name_never_brings_the_old_values_back(cluster):
    for k in range(10):
        await cluster.execute("n1", "INSERT INTO ks.t (k, v, w) VALUES (?, ?, ?)", [k, f"old{k}", "w"],
                              consistency="ALL")
    await flush_and_compact(cluster)   # some old values on disk, some in memtables
    for k in range(10, 20):
        await cluster.execute("n1", "INSERT INTO ks.t (k, v, w) VALUES (?, ?, ?)", [k, f"old{k}", "w"],
                              consistency="ALL")
    await cluster.execute("n1", "ALTER TABLE ks.t DROP v")
    await cluster.execute("n1", "ALTER TABLE ks.t ADD v text")
    assert await select_all(cluster) == [[k, None, "w"] for k in range(20)]
    await cluster.execute("n3", "UPDATE ks.t SET v = 'new' WHERE k = 3", consistency="ALL")
    expected = [[k, "new" if k == 3 else None, "w"] for k in range(20)]
    assert await select_all(cluster) == expected
    await flush_and_compact(cluster)
    assert await select_all(cluster) == expected
    result = await cluster.execute("n1", "SELECT v FROM ks.t WHERE k = 5", consistency="ONE")
    assert result.rows == [[None]]


async def test_re_adding_a_dropped_column_with_another_type_is_refused(cluster):
    await cluster.execute("n1", "INSERT INTO ks.t (k, v, w) VALUES (1, 'abc', 'w')", consistency="ALL")
    await cluster.execute("n1", "ALTER TABLE ks.t DROP v")
    with pytest.raises(Invalid) as error:
        await cluster.execute("n1", "ALTER TABLE ks.t ADD v int")
    assert error.value.message == ("Cannot re-add previously dropped column 'v' of type int, "
                                   "incompatible with previous type text")
    result = await cluster.execute("n2", "SELECT * FROM ks.t", consistency="ALL")
    assert result.rows == [[1, "w"]]


async def test_a_read_at_all_after_drop_column_with_a_stale_replica_carrying_it_succeeds(cluster):
    for k in range(20):
        await cluster.execute("n1", "INSERT INTO ks.t (k, v, w) VALUES (?, 'v0', 'w0')", [k],
                              consistency="ALL")
    await cluster.execute("n1", "UPDATE ks.t SET v = 'stale' WHERE k = 0", consistency="ALL")
    for runtimes in cluster.runtimes.values():
        for runtime in runtimes:
            runtime.hints.enabled = False     # n3 stays stale: no hint will fix it
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    for k in range(20):
        await cluster.execute("n1", "UPDATE ks.t SET v = 'v1', w = 'w1' WHERE k = ?", [k],
                              consistency="QUORUM")
    await cluster.start_node("n3")
    await cluster.execute("n1", "ALTER TABLE ks.t DROP v")
    for k in range(20):   # every read repairs n3, whose v cells (and ours) are dropped
        result = await cluster.execute(f"n{k % 3 + 1}", "SELECT * FROM ks.t WHERE k = ?", [k],
                                       consistency="ALL")
        assert result.rows == [[k, "w1"]]
    assert await rows_w_on_alone(cluster, "n3", range(20)) == {k: "w1" for k in range(20)}


async def rows_w_on_alone(cluster, node, keys):
    for other in [n for n in cluster.node_names if n != node]:
        await cluster.kill(other)
    await wait_for(lambda: all(not cluster.sees(node, other) for other in cluster.node_names
                               if other != node), what="the others seen DOWN")
    found = {}
    for k in keys:
        result = await cluster.execute(node, "SELECT w FROM ks.t WHERE k = ?", [k], consistency="ONE")
        if result.rows:
            found[k] = result.rows[0][0]
    return found


async def test_a_hint_carrying_a_dropped_column_is_delivered_without_it(cluster):
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    for k in range(100):
        await cluster.execute("n1", "INSERT INTO ks.t (k, v, w) VALUES (?, ?, ?)", [k, f"v{k}", f"w{k}"],
                              consistency="QUORUM")
    assert pending_for(cluster, "n3") == 100
    await cluster.execute("n1", "ALTER TABLE ks.t DROP w")
    await cluster.start_node("n3")
    await wait_for(lambda: pending_for(cluster, "n3") == 0, timeout_s=20, what="every hint delivered")
    assert counter(cluster, "sent") == 100 and counter(cluster, "discarded_invalid") == 0
    version = cluster.coordinator("n1").schema.version()
    await wait_for(lambda: all(r.schema.version() == version for r in cluster.runtimes["n3"]),
                   what="n3 has the schema without w")
    for runtimes in cluster.runtimes.values():
        for runtime in runtimes:
            runtime.hints.enabled = False
    await cluster.kill("n1")
    await cluster.kill("n2")
    await wait_for(lambda: not cluster.sees("n3", "n1") and not cluster.sees("n3", "n2"),
                   what="n3 alone")
    result = await cluster.execute("n3", "SELECT * FROM ks.t", consistency="ONE")
    assert sorted(result.rows) == [[k, f"v{k}"] for k in range(100)]
