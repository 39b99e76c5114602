"""Schema, writes and single-partition reads at every consistency level, in-process."""

import pytest

from coordinator.cql3.query_processor import QueryOptions

from node.errors import AlreadyExists, CqlSyntaxError, Invalid, Unavailable
from scripts.testing.local_cluster import wait_for

KEYSPACE = ("CREATE KEYSPACE ks WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 3}")


async def make_table(cluster, extra=""):
    await cluster.execute("n1", KEYSPACE)
    await cluster.execute("n1", "CREATE TABLE ks.t (k int, c int, v text, s int static, "
                                f"PRIMARY KEY (k, c)){extra}")


async def test_ddl_reaches_every_shard_of_every_node(cluster):
    await make_table(cluster)
    versions = {r.schema.version() for runtimes in cluster.runtimes.values() for r in runtimes}
    assert len(versions) == 1
    for runtimes in cluster.runtimes.values():
        for runtime in runtimes:
            assert runtime.schema.table("ks", "t").name == "t"
    with pytest.raises(AlreadyExists):
        await cluster.execute("n2", "CREATE TABLE ks.t (k int PRIMARY KEY)")
    await cluster.execute("n2", "CREATE TABLE IF NOT EXISTS ks.t (k int PRIMARY KEY)")


async def test_write_then_read_through_every_node_at_quorum(cluster):
    await make_table(cluster)
    for k in range(20):
        await cluster.execute(f"n{k % 3 + 1}", "INSERT INTO ks.t (k, c, v) VALUES (?, ?, ?)",
                              [k, k * 10, f"value-{k}"], consistency="QUORUM")
    for node in cluster.node_names:
        for k in range(20):
            result = await cluster.execute(node, "SELECT k, c, v FROM ks.t WHERE k = ?", [k],
                                           consistency="QUORUM", shard=1)
            assert result.rows == [[k, k * 10, f"value-{k}"]]


async def test_rows_come_back_in_clustering_order_with_static_and_desc(cluster):
    await make_table(cluster)
    for c in (3, 1, 2):
        await cluster.execute("n1", "INSERT INTO ks.t (k, c, v) VALUES (1, ?, ?)", [c, str(c)])
    await cluster.execute("n1", "UPDATE ks.t SET s = 9 WHERE k = 1")
    result = await cluster.execute("n2", "SELECT c, v, s FROM ks.t WHERE k = 1", consistency="ALL")
    assert result.rows == [[1, "1", 9], [2, "2", 9], [3, "3", 9]]
    result = await cluster.execute("n3", "SELECT c FROM ks.t WHERE k = 1 ORDER BY c DESC LIMIT 2")
    assert result.rows == [[3], [2]]
    result = await cluster.execute("n3", "SELECT COUNT(*) FROM ks.t WHERE k IN (1, 2)")
    assert result.rows == [[3]]


async def test_deletes_and_ttl(cluster):
    await make_table(cluster)
    for c in range(5):
        await cluster.execute("n1", "INSERT INTO ks.t (k, c, v) VALUES (7, ?, 'x')", [c],
                              consistency="ALL")
    await cluster.execute("n2", "DELETE FROM ks.t WHERE k = 7 AND c = 0", consistency="ALL")
    await cluster.execute("n2", "DELETE FROM ks.t WHERE k = 7 AND c >= 3", consistency="ALL")
    result = await cluster.execute("n3", "SELECT c FROM ks.t WHERE k = 7", consistency="ALL")
    assert result.rows == [[1], [2]]
    await cluster.execute("n1", "INSERT INTO ks.t (k, c, v) VALUES (8, 1, 'short') USING TTL 100")
    result = await cluster.execute("n1", "SELECT ttl(v), writetime(v) FROM ks.t WHERE k = 8")
    assert 98 <= result.rows[0][0] <= 100 and result.rows[0][1] > 0
    await cluster.execute("n1", "DELETE FROM ks.t WHERE k = 7", consistency="ALL")
    assert (await cluster.execute("n3", "SELECT * FROM ks.t WHERE k = 7")).rows == []


@pytest.mark.parametrize("down", [0, 1, 2])
async def test_each_level_succeeds_exactly_when_enough_replicas_are_alive(cluster, down):
    await make_table(cluster)
    for name in ["n3", "n2"][:down]:
        await cluster.kill(name)
        await cluster.wait_seen_down(name)
    alive = 3 - down
    for level, needed in (("ONE", 1), ("TWO", 2), ("THREE", 3), ("QUORUM", 2), ("ALL", 3),
                          ("LOCAL_ONE", 1), ("LOCAL_QUORUM", 2)):
        for query, params in (("INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a')", None),
                              ("SELECT * FROM ks.t WHERE k = 1", None)):
            if alive >= needed:
                await cluster.execute("n1", query, params, consistency=level)
            else:
                with pytest.raises(Unavailable) as caught:
                    await cluster.execute("n1", query, params, consistency=level)
                assert caught.value.details == {"consistency": level, "required": needed,
                                                "alive": alive}
    await cluster.execute("n1", "INSERT INTO ks.t (k, c, v) VALUES (2, 1, 'a')", consistency="ANY")


async def test_read_repair_at_all_fixes_a_replica_that_missed_a_write(cluster):
    await make_table(cluster)
    # Hinted handoff would hand the write to n3 on its return; switched off, n3 keeps missing it.
    await cluster.coordinator("n1").shard.run_admin_on_node("hints.set", {"enabled": False})
    await cluster.set_faults("n1", {"partition": ["n3"]})
    await cluster.set_faults("n3", {"partition": ["n1"]})
    await wait_for(lambda: not cluster.sees("n1", "n3"), what="n1 to see n3 DOWN")
    await cluster.execute("n1", "INSERT INTO ks.t (k, c, v) VALUES (5, 5, 'fresh')", consistency="ONE")
    await cluster.clear_faults("n1")
    await cluster.clear_faults("n3")
    await cluster.wait_all_up()
    n3 = cluster.coordinator("n3")
    result = await cluster.execute("n1", "SELECT v FROM ks.t WHERE k = 5", consistency="ALL")
    assert result.rows == [["fresh"]]
    assert cluster.coordinator("n1").reads.stats.read_repairs >= 1
    await cluster.kill("n1")
    await cluster.kill("n2")
    await cluster.wait_seen_down("n1")
    result = await n3.processor.execute("SELECT v FROM ks.t WHERE k = 5", QueryOptions())
    assert result.rows == [["fresh"]]


async def test_bad_statements_get_their_cql_errors(cluster):
    await make_table(cluster)
    with pytest.raises(CqlSyntaxError) as caught:
        await cluster.execute("n1", "SELEC * FROM ks.t")
    assert caught.value.details["line"] == 1
    with pytest.raises(Invalid, match="unconfigured table nope"):
        await cluster.execute("n1", "SELECT * FROM ks.nope WHERE k = 1")
    with pytest.raises(Invalid, match="does not exist"):
        await cluster.execute("n1", "SELECT * FROM nokeyspace.t WHERE k = 1")
    with pytest.raises(Invalid):
        await cluster.execute("n1", "INSERT INTO ks.t (k, c, v) VALUES ('text', 1, 'a')")
    with pytest.raises(Invalid, match="consistency"):
        await cluster.execute("n1", "SELECT * FROM ks.t WHERE k = 1", consistency="MOST")
    assert (await cluster.execute("n1", "SELECT * FROM ks.t WHERE k = 1")).rows == []


async def test_a_node_down_during_create_table_learns_it_after_restart(cluster):
    await cluster.execute("n1", KEYSPACE)
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    await cluster.execute("n1", "CREATE TABLE ks.late (k int PRIMARY KEY, v int)")
    await cluster.start_node("n3")
    await wait_for(lambda: all(("ks", "late") in r.schema.tables for r in cluster.runtimes["n3"]),
                   what="n3 to pull the schema it missed")
    await cluster.execute("n3", "INSERT INTO ks.late (k, v) VALUES (1, 2)", consistency="ALL")
    result = await cluster.execute("n3", "SELECT v FROM ks.late WHERE k = 1", consistency="ALL")
    assert result.rows == [[2]]


async def test_acknowledged_quorum_writes_survive_a_replica_crash(cluster):
    await make_table(cluster)
    for k in range(50):
        await cluster.execute("n1", "INSERT INTO ks.t (k, c, v) VALUES (?, 0, 'v')", [k],
                              consistency="QUORUM")
    await cluster.kill("n2")  # no flush: its memtables are lost, its commitlog is not
    await cluster.start_node("n2")
    for k in range(50):
        result = await cluster.execute("n2", "SELECT v FROM ks.t WHERE k = ?", [k], consistency="QUORUM")
        assert result.rows == [["v"]]


async def test_a_replica_that_vanished_but_is_still_seen_up_is_replaced_at_once(cluster):
    await make_table(cluster)
    for k in range(12):
        await cluster.execute("n1", "INSERT INTO ks.t (k, c, v) VALUES (?, 0, 'v')", [k],
                              consistency="ALL")
    cluster.network.disconnect("n2")  # a crash the failure detector has not noticed yet
    assert cluster.sees("n1", "n2")
    for k in range(12):
        result = await cluster.execute("n1", "SELECT v FROM ks.t WHERE k = ?", [k], consistency="QUORUM")
        assert result.rows == [["v"]]
    reads = cluster.coordinator("n1").reads.stats
    assert reads.replica_failovers > 0 and reads.read_timeouts == 0
    await cluster.kill("n2")


async def test_a_slow_replica_is_overtaken_by_a_speculative_request(cluster):
    await make_table(cluster)
    for k in range(12):
        await cluster.execute("n1", "INSERT INTO ks.t (k, c, v) VALUES (?, 0, 'v')", [k],
                              consistency="ALL")
    # What n1 sends to n2 arrives 1.5 s late (the read timeout is 1 s); n2's heartbeats
    # still reach n1 on time, so n1 keeps seeing it UP and keeps contacting it.
    await cluster.set_faults("n1", {"delay_ms": {"n2": 1500}})
    for k in range(12):
        result = await cluster.execute("n1", "SELECT v FROM ks.t WHERE k = ?", [k], consistency="QUORUM")
        assert result.rows == [["v"]]
    assert cluster.sees("n1", "n2")
    reads = cluster.coordinator("n1").reads.stats
    assert reads.speculative_retries > 0 and reads.read_timeouts == 0
    await cluster.clear_faults("n1")
