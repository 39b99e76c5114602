"""What only the in-memory transport has: the hub, crashes of whole nodes, msgpack on
every message."""

import asyncio

import pytest

from node.rpc.errors import ConnectionLost, PeerUnreachable
from node.rpc.transport import ShardId
from node.rpc.verbs import Verb
from tests.unit.rpc.harness import Cluster, eventually


@pytest.fixture
async def cluster():
    built = Cluster("memory")
    yield built
    await built.aclose()


async def test_a_three_node_two_shard_cluster_talks_all_to_all(cluster):
    shards = [ShardId(f"n{n}", s) for n in (1, 2, 3) for s in (0, 1)]
    services = [await cluster.shard(shard.node, shard.shard) for shard in shards]
    calls = [service.send(Verb.ECHO, target, [str(service.me), str(target)], timeout_s=5)
             for service in services for target in shards]
    answers = await asyncio.gather(*calls)
    assert answers == [[str(s), str(t)] for s in shards for t in shards]


async def test_disconnecting_a_node_fails_calls_in_flight_and_a_new_incarnation_answers(cluster):
    one = await cluster.shard("n1")
    for index in (0, 1):
        two = await cluster.shard("n2", index)
    never = asyncio.Event()

    async def stall(source, payload):
        await never.wait()

    two.register(Verb.READ_DATA, stall)
    call = asyncio.ensure_future(one.send(Verb.READ_DATA, ShardId("n2", 1), None, timeout_s=60))
    await eventually(lambda: two.transport.statistics().handlers_running == 1)
    assert cluster.network.disconnect("n2") == [ShardId("n2", 0), ShardId("n2", 1)]
    with pytest.raises(ConnectionLost):
        await call
    with pytest.raises(PeerUnreachable):
        await one.send(Verb.ECHO, ShardId("n2", 0), None, timeout_s=5)
    for index in (0, 1):
        cluster.services.pop(ShardId("n2", index))
        await cluster._start(ShardId("n2", index))
    assert await one.send(Verb.ECHO, ShardId("n2", 1), "back", timeout_s=5) == "back"


async def test_payloads_are_copies_through_msgpack(cluster):
    one, two = await cluster.shard("n1"), await cluster.shard("n2")
    received = []

    async def keep(source, payload):
        received.append(payload)
        return payload

    two.register(Verb.MUTATION, keep)
    sent = {"rows": [1, 2]}
    answer = await one.send(Verb.MUTATION, ShardId("n2", 0), sent, timeout_s=5)
    assert answer == sent and answer is not sent and received[0] is not sent
