"""Schema changes through group 0: what Cassandra and ScyllaDB users expect when DDL
races, meets a partition, or reaches a node that was down. Each scenario lost or hid
data, or never converged, when schema was merged between nodes by timestamp."""

import asyncio

import pytest

from node.errors import AlreadyExists, NoQuorum
from scripts.testing.local_cluster import LocalCluster, cluster_config, wait_for

KEYSPACE = ("CREATE KEYSPACE ks WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 3}")
ROWS = 20


@pytest.fixture
async def cluster(tmp_path):
    local = LocalCluster(tmp_path, cluster_config(3, 2, ["timeouts.ddl_ms=2000"]))
    await local.start()
    try:
        yield local
    finally:
        await local.aclose()


def every_runtime(cluster):
    return [r for runtimes in cluster.runtimes.values() for r in runtimes]


def table_ids(cluster, name="t"):
    return {r.schema.table("ks", name).id for r in every_runtime(cluster)
            if ("ks", name) in r.schema.tables}


async def one_schema_version(cluster, timeout_s=10.0):
    await wait_for(lambda: len({r.schema.version() for r in every_runtime(cluster)}) == 1,
                   timeout_s=timeout_s, what="one schema version on every shard")
    return every_runtime(cluster)[0].schema.version()


async def isolate(cluster, node):
    others = [n for n in cluster.node_names if n != node]
    await cluster.set_faults(node, {"partition": others})
    for other in others:
        await cluster.set_faults(other, {"partition": [node]})
    await cluster.wait_seen_down(node)


async def heal(cluster):
    for name in cluster.node_names:
        await cluster.clear_faults(name)
    await cluster.wait_all_up()


async def test_racing_create_table_if_not_exists_gives_one_table(cluster):
    await cluster.execute("n1", KEYSPACE)
    statement = "CREATE TABLE IF NOT EXISTS ks.t (k int PRIMARY KEY, v int)"
    await asyncio.gather(*(cluster.execute(node, statement, shard=shard)
                           for node in cluster.node_names for shard in (0, 1)))
    await one_schema_version(cluster)
    assert len(table_ids(cluster)) == 1
    assert all(("ks", "t") in r.schema.tables for r in every_runtime(cluster))


async def test_create_through_a_cut_off_node_fails_and_acknowledged_rows_survive_the_heal(cluster):
    await cluster.execute("n1", KEYSPACE)
    await isolate(cluster, "n1")
    statement = "CREATE TABLE IF NOT EXISTS ks.t (k int PRIMARY KEY, v int)"
    with pytest.raises(NoQuorum, match="no quorum"):
        await cluster.execute("n1", statement)
    assert ("ks", "t") not in cluster.coordinator("n1").schema.tables, "nothing changed"
    await cluster.execute("n2", statement)
    for k in range(ROWS):
        await cluster.execute("n2", "INSERT INTO ks.t (k, v) VALUES (?, ?)", [k, k], consistency="QUORUM")
    await heal(cluster)
    await one_schema_version(cluster)
    assert len(table_ids(cluster)) == 1
    for k in range(ROWS):
        result = await cluster.execute("n1", "SELECT v FROM ks.t WHERE k = ?", [k], consistency="QUORUM")
        assert result.rows == [[k]]


async def test_concurrent_alters_through_different_nodes_both_land(cluster):
    await cluster.execute("n1", KEYSPACE)
    await cluster.execute("n1", "CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    await asyncio.gather(cluster.execute("n1", "ALTER TABLE ks.t ADD x int"),
                         cluster.execute("n2", "ALTER TABLE ks.t ADD y int", shard=1),
                         cluster.execute("n3", "ALTER TABLE ks.t ADD z text"))
    await one_schema_version(cluster)
    for runtime in every_runtime(cluster):
        assert {"x", "y", "z"} <= {c.name for c in runtime.schema.table("ks", "t").columns}
    await cluster.execute("n3", "INSERT INTO ks.t (k, v, x, y, z) VALUES (1, 1, 2, 3, 'z')",
                          consistency="ALL")
    result = await cluster.execute("n1", "SELECT x, y, z FROM ks.t WHERE k = 1", consistency="ALL")
    assert result.rows == [[2, 3, "z"]]


async def test_racing_creates_without_if_not_exists_answer_already_exists_exactly_once_but_one(cluster):
    await cluster.execute("n1", KEYSPACE)
    statement = "CREATE TABLE ks.t (k int PRIMARY KEY)"
    outcomes = await asyncio.gather(*(cluster.execute(n, statement) for n in cluster.node_names),
                                    return_exceptions=True)
    assert sum(1 for o in outcomes if not isinstance(o, BaseException)) == 1
    assert sum(1 for o in outcomes if isinstance(o, AlreadyExists)) == 2
    await one_schema_version(cluster)
    assert len(table_ids(cluster)) == 1


async def test_a_partition_heals_into_one_schema_version_and_no_quorum_changes_nothing(cluster):
    await cluster.execute("n1", KEYSPACE)
    await isolate(cluster, "n3")
    with pytest.raises(NoQuorum):
        await cluster.execute("n3", "CREATE TABLE ks.lost (k int PRIMARY KEY)")
    await cluster.execute("n1", "CREATE TABLE ks.kept (k int PRIMARY KEY)")
    await heal(cluster)
    await one_schema_version(cluster)
    assert all(("ks", "kept") in r.schema.tables and ("ks", "lost") not in r.schema.tables
               for r in every_runtime(cluster))


async def test_a_node_that_was_down_serves_a_table_made_while_it_was_down(cluster):
    await cluster.execute("n1", KEYSPACE)
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    await cluster.execute("n1", "CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    await cluster.execute("n1", "INSERT INTO ks.t (k, v) VALUES (1, 1)", consistency="QUORUM")
    await cluster.start_node("n3")
    # at once, on a shard that is not the group 0 member: it catches up before answering
    result = await cluster.execute("n3", "SELECT v FROM ks.t WHERE k = 1", consistency="QUORUM", shard=1)
    assert result.rows == [[1]]
    await one_schema_version(cluster)


async def test_concurrent_alters_through_sibling_shards_keep_every_acknowledged_column(cluster):
    """A change is computed from the coordinating shard's own schema: a barrier that
    answered group 0's state before shard 0 had pushed it to this sibling let an ALTER
    rebuild the table from a stale copy and drop a column another ALTER had added."""
    await cluster.execute("n1", KEYSPACE)
    await cluster.execute("n1", "CREATE TABLE ks.shared (k int PRIMARY KEY)")
    columns = [f"c_{node}_{i}" for node in cluster.node_names for i in range(8)]

    async def alter(column):
        await cluster.execute(column.split("_")[1], f"ALTER TABLE ks.shared ADD {column} int", shard=1)
        return column

    outcomes = await asyncio.gather(*(alter(c) for c in columns), return_exceptions=True)
    acknowledged = [c for c in outcomes if isinstance(c, str)]
    assert acknowledged, outcomes
    await one_schema_version(cluster)
    for runtime in every_runtime(cluster):
        table = runtime.schema.table("ks", "shared")
        missing = [c for c in acknowledged if c not in {col.name for col in table.columns}]
        assert not missing, (runtime.shard.node, runtime.shard.shard, missing)
