"""Hints never wedge (issue 12): a hint its target refuses for good (``Invalid``) is
counted and skipped, and the rest of the target's queue is delivered at full speed."""

from aiohttp.test_utils import TestClient, TestServer

from node.dht.token import token_of
from node.mutation.mutation import Cell, Mutation, Row
from scripts.testing.local_cluster import LocalCluster, cluster_config, wait_for
from tests.cluster.test_hints import counter, make_table, pending_for, rows_on_alone

ROWS = 200


async def test_a_hint_the_target_refuses_is_counted_and_skipped_and_the_queue_goes_on(tmp_path):
    cluster = LocalCluster(tmp_path, cluster_config(3, 2, ["hints.retry_ms=200"]))
    await cluster.start()
    try:
        await make_table(cluster)
        await cluster.kill("n3")
        await cluster.wait_seen_down("n3")
        coordinator = cluster.coordinator("n1")
        table = coordinator.schema.table("ks", "t")
        for k in range(ROWS):
            await cluster.execute("n1", "INSERT INTO ks.t (k, v) VALUES (?, ?)", [k, f"v{k}"],
                                  consistency="QUORUM")
            if k == 20:  # a poison hint early in the queue: a column n3 will never accept
                key = table.serialize_partition_key([10_000])
                now_us = coordinator.shard.clock.now_us()
                poison = Mutation(table.id, key, token_of(key), rows={
                    b"": Row(Cell(now_us, b""), None, {"gone": Cell(now_us, b"x")})})
                assert await coordinator.hints.store("n3", poison)
        assert pending_for(cluster, "n3") == ROWS + 1
        await cluster.start_node("n3")
        await wait_for(lambda: pending_for(cluster, "n3") == 0, timeout_s=20,
                       what="every hint delivered or discarded")
        assert counter(cluster, "discarded_invalid") == 1
        assert counter(cluster, "sent") == ROWS
        async with TestClient(TestServer(coordinator.http.app)) as http:
            metrics = await (await http.get("/metrics")).text()
        assert 'shardsim_hints_discarded_invalid{node="n1",shard="0"} 1' in metrics
        assert await rows_on_alone(cluster, "n3", range(ROWS)) == set(range(ROWS))
    finally:
        await cluster.aclose()
