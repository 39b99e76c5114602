"""Failure detection and network faults in an in-process cluster."""

from scripts.testing.local_cluster import wait_for


async def test_every_node_sees_every_other_up(cluster):
    for observer in cluster.node_names:
        for target in cluster.node_names:
            assert cluster.sees(observer, target)


async def test_a_killed_node_is_seen_down_and_up_again_after_restart(cluster):
    await cluster.kill("n2")
    await cluster.wait_seen_down("n2")
    assert cluster.sees("n1", "n3")
    await cluster.start_node("n2")
    assert cluster.sees("n1", "n2") and cluster.sees("n2", "n1")


async def test_a_partition_set_on_both_sides_cuts_and_clearing_heals(cluster):
    await cluster.set_faults("n1", {"partition": ["n2"]})
    await cluster.set_faults("n2", {"partition": ["n1"]})
    await wait_for(lambda: not cluster.sees("n1", "n2") and not cluster.sees("n2", "n1"),
                   what="n1 and n2 to see each other DOWN")
    assert cluster.sees("n1", "n3") and cluster.sees("n3", "n2")
    faults = cluster.coordinator("n1", 1).shard.describe_faults()
    assert faults["partition"] == ["n2"]  # applied on every shard of the node
    await cluster.clear_faults("n1")
    await cluster.clear_faults("n2")
    await cluster.wait_all_up()
