"""NetworkTopologyStrategy over two DCs: LOCAL_QUORUM and EACH_QUORUM availability."""

import pytest

from node.errors import Unavailable
from scripts.testing.local_cluster import LocalCluster, cluster_config

KEYSPACE = ("CREATE KEYSPACE ks WITH replication = "
            "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 2}")


@pytest.fixture
async def two_dcs(tmp_path):
    """n1, n2 in dc1 and n3, n4 in dc2, one shard each, every key on all four."""
    cluster = LocalCluster(tmp_path, cluster_config(4, 1, dcs=["dc1", "dc1", "dc2", "dc2"],
                                                    racks=["r1", "r2", "r1", "r2"]))
    await cluster.start()
    await cluster.execute("n1", KEYSPACE)
    await cluster.execute("n1", "CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    try:
        yield cluster
    finally:
        await cluster.aclose()


async def attempt(cluster, level, write):
    query = "INSERT INTO ks.t (k, v) VALUES (1, 1)" if write else "SELECT v FROM ks.t WHERE k = 1"
    await cluster.execute("n1", query, consistency=level)


@pytest.mark.parametrize("down,local_quorum,each_quorum,quorum", [
    ([], True, True, True),
    (["n3"], True, False, True),          # dc2 has 1 of 2: no quorum there
    (["n2"], False, False, True),         # dc1 (the coordinator's) has 1 of 2
    (["n3", "n4"], True, False, False),   # dc2 gone: QUORUM of 4 needs 3
])
async def test_levels_count_replicas_per_dc(two_dcs, down, local_quorum, each_quorum, quorum):
    for name in down:
        await two_dcs.kill(name)
        await two_dcs.wait_seen_down(name)
    for level, expected, reads_too in (("LOCAL_QUORUM", local_quorum, True),
                                       ("EACH_QUORUM", each_quorum, False),
                                       ("QUORUM", quorum, True), ("LOCAL_ONE", True, True)):
        for write in (True, False) if reads_too else (True,):
            if expected:
                await attempt(two_dcs, level, write)
            else:
                with pytest.raises(Unavailable) as caught:
                    await attempt(two_dcs, level, write)
                assert caught.value.details["consistency"] == level
                assert caught.value.details["alive"] < caught.value.details["required"]
