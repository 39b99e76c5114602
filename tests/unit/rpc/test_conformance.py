"""One conformance suite, run against both transports: the in-memory one and TCP on
127.0.0.1. Time is a ManualClock: timeouts, delays and backoff happen only when the
test advances it; real time only carries bytes."""

from __future__ import annotations

import asyncio
import random

import pytest

from node.errors import ServerError, WriteTimeout
from node.rpc.errors import (ConnectionLost, FrameTooLarge, PeerUnreachable, RpcTimeout,
                             TransportClosed, UnknownVerb)
from node.rpc.transport import ShardId
from node.rpc.verbs import Verb
from tests.unit.rpc.harness import Cluster, eventually

N1, N2, N3 = ShardId("n1", 0), ShardId("n2", 0), ShardId("n3", 0)


@pytest.fixture(params=["memory", "tcp"])
async def cluster(request):
    built = Cluster(request.param)
    yield built
    await built.aclose()


async def settle(cluster: Cluster, rounds: int = 20) -> None:
    """Let real time carry what is in flight (for asserting that something did *not*
    happen before the clock moves)."""
    for _ in range(rounds):
        await asyncio.sleep(0.001)


async def test_echo_round_trip_carries_msgpack_values(cluster):
    one, _ = await cluster.shard("n1"), await cluster.shard("n2")
    payload = {"text": "é日", "bytes": b"\x00\xff", "list": [1, -2, 3.5, None, True], 7: "int key"}
    assert await one.send(Verb.ECHO, N2, payload, timeout_s=5) == payload


async def test_sending_to_oneself_runs_the_handler_without_a_socket(cluster):
    one = await cluster.shard("n1")
    assert await one.send(Verb.ECHO, N1, [1, 2], timeout_s=5) == [1, 2]
    assert cluster.services[N1].transport.statistics().requests_sent == 0


async def test_requests_on_one_connection_arrive_in_send_order(cluster):
    one, two = await cluster.shard("n1"), await cluster.shard("n2")
    seen: list[int] = []

    async def record(source, payload):
        seen.append(payload)
        return payload

    two.register(Verb.MUTATION, record)
    await one.send(Verb.ECHO, N2, "warm up", timeout_s=5)
    answers = await asyncio.gather(*(one.send(Verb.MUTATION, N2, i, timeout_s=5) for i in range(200)))
    assert seen == list(range(200))
    assert answers == list(range(200))


async def test_a_request_without_answer_times_out_and_the_connection_survives(cluster):
    one, two = await cluster.shard("n1"), await cluster.shard("n2")
    never = asyncio.Event()

    async def stall(source, payload):
        await never.wait()

    two.register(Verb.READ_DATA, stall)
    call = asyncio.ensure_future(one.send(Verb.READ_DATA, N2, None, timeout_s=2.0))
    await settle(cluster)
    assert not call.done()
    cluster.clock.advance(2.0)
    with pytest.raises(RpcTimeout) as raised:
        await call
    assert raised.value.details["verb"] == "READ_DATA"
    assert await one.send(Verb.ECHO, N2, "still here", timeout_s=5) == "still here"


async def test_reconnects_after_the_peer_restarts(cluster):
    one, two = await cluster.shard("n1"), await cluster.shard("n2")
    never = asyncio.Event()

    async def stall(source, payload):
        await never.wait()

    two.register(Verb.READ_DATA, stall)
    assert await one.send(Verb.ECHO, N2, 1, timeout_s=5) == 1
    in_flight = asyncio.ensure_future(one.send(Verb.READ_DATA, N2, None, timeout_s=60))
    await eventually(lambda: cluster.services[N2].transport.statistics().handlers_running == 1)
    await cluster.stop(N2)
    with pytest.raises(ConnectionLost):
        await in_flight
    with pytest.raises(PeerUnreachable):
        await one.send(Verb.ECHO, N2, 2, timeout_s=5)
    await cluster._start(N2)
    answers: list[object] = []

    async def attempt() -> bool:
        try:
            answers.append(await one.send(Verb.ECHO, N2, 3, timeout_s=5))
        except PeerUnreachable:
            cluster.clock.advance(1.0)  # past the backoff
        return bool(answers)

    for _ in range(200):
        if await attempt():
            break
        await asyncio.sleep(0.005)
    assert answers == [3]


async def test_a_slow_peer_holds_callers_at_the_in_flight_limit(cluster):
    one = await cluster.shard("n1", max_in_flight=4)
    two = await cluster.shard("n2", max_in_flight=4)
    release = asyncio.Event()
    running = 0
    most_running = 0

    async def slow(source, payload):
        nonlocal running, most_running
        running += 1
        most_running = max(most_running, running)
        await release.wait()
        running -= 1
        return payload

    two.register(Verb.MUTATION, slow)
    calls = [asyncio.ensure_future(one.send(Verb.MUTATION, N2, i, timeout_s=60)) for i in range(10)]

    def link():
        links = one.transport.statistics().links
        return links[0] if links else None

    await eventually(lambda: running == 4 and link() is not None and link().waiting == 6)
    assert link().in_flight == 4
    await settle(cluster)
    assert most_running == 4
    release.set()
    assert await asyncio.gather(*calls) == list(range(10))
    assert most_running == 4


async def test_an_unknown_verb_is_answered_with_an_error(cluster):
    one, _ = await cluster.shard("n1"), await cluster.shard("n2")
    with pytest.raises(UnknownVerb):
        await one.send(Verb.RANGE_READ, N2, None, timeout_s=5)
    with pytest.raises(UnknownVerb):
        await one.send(999, N2, None, timeout_s=5)
    assert await one.send(Verb.ECHO, N2, "after", timeout_s=5) == "after"


async def test_a_request_error_arrives_as_itself_with_its_details(cluster):
    one, two = await cluster.shard("n1"), await cluster.shard("n2")

    async def refuse(source, payload):
        raise WriteTimeout("not enough acks", consistency="QUORUM", received=1, required=2)

    two.register(Verb.MUTATION, refuse)
    for target in (N2, N1):
        if target == N1:
            one.register(Verb.MUTATION, refuse)
        with pytest.raises(WriteTimeout) as raised:
            await one.send(Verb.MUTATION, target, None, timeout_s=5)
        assert raised.value.message == "not enough acks"
        assert raised.value.details == {"consistency": "QUORUM", "received": 1, "required": 2}


async def test_a_handler_bug_answers_server_error_and_is_logged(cluster):
    one, two = await cluster.shard("n1"), await cluster.shard("n2")

    async def broken(source, payload):
        raise KeyError("oops")

    two.register(Verb.MUTATION, broken)
    with pytest.raises(ServerError) as raised:
        await one.send(Verb.MUTATION, N2, None, timeout_s=5)
    assert "KeyError" in raised.value.message
    assert cluster.log.named("rpc.handler_failed")
    assert await one.send(Verb.ECHO, N2, "alive", timeout_s=5) == "alive"


async def test_partition_set_on_one_node_cuts_both_directions(cluster):
    one, two = await cluster.shard("n1"), await cluster.shard("n2")
    one_b, three = await cluster.shard("n1", 1), await cluster.shard("n3")
    heard: list[tuple[str, object]] = []

    async def record(source, payload):
        heard.append((source.node, payload))
        return payload

    one.register(Verb.MUTATION, record)
    two.register(Verb.MUTATION, record)
    cluster.faults("n1").apply({"partition": ["n2"]})
    outgoing = asyncio.ensure_future(one.send(Verb.MUTATION, N2, "out", timeout_s=1))
    incoming = asyncio.ensure_future(two.send(Verb.MUTATION, N1, "in", timeout_s=1))
    assert await one.send(Verb.ECHO, N3, "n3", timeout_s=5) == "n3"
    assert await one.send(Verb.ECHO, ShardId("n1", 1), "same node", timeout_s=5) == "same node"
    assert await two.send(Verb.ECHO, N3, "n2 to n3", timeout_s=5) == "n2 to n3"
    await settle(cluster)
    cluster.clock.advance(1)
    for call in (outgoing, incoming):
        with pytest.raises(RpcTimeout):
            await call
    assert heard == []  # neither request reached a handler: dropped on the way out and in
    cluster.faults("n1").clear()
    assert await one.send(Verb.ECHO, N2, "healed", timeout_s=5) == "healed"
    assert await two.send(Verb.ECHO, N1, "healed", timeout_s=5) == "healed"
    assert cluster.faults("n1").dropped >= 2
    del one_b, three


async def test_delay_holds_messages_until_the_clock_moves_and_keeps_order(cluster):
    one, two = await cluster.shard("n1"), await cluster.shard("n2")
    seen: list[int] = []

    async def record(source, payload):
        seen.append(payload)
        return payload

    two.register(Verb.MUTATION, record)
    await one.send(Verb.ECHO, N2, "warm up", timeout_s=5)
    cluster.faults("n1").apply({"delay_ms": {"n2": 50}, "delay_jitter_ms": {"n2": 40}})
    calls = [asyncio.ensure_future(one.send(Verb.MUTATION, N2, i, timeout_s=10)) for i in range(20)]
    await settle(cluster)
    assert seen == [] and not any(call.done() for call in calls)
    cluster.clock.advance(0.005)  # below the least possible delay (50 - 40 ms)
    await settle(cluster)
    assert seen == []
    cluster.clock.advance(0.1)
    assert await asyncio.gather(*calls) == list(range(20))
    assert seen == list(range(20))


async def test_delay_applies_to_answers_sent_to_the_named_node(cluster):
    one, two = await cluster.shard("n1"), await cluster.shard("n2")
    await one.send(Verb.ECHO, N2, "warm up", timeout_s=5)
    cluster.faults("n2").apply({"delay_ms": {"n1": 30}})
    call = asyncio.ensure_future(one.send(Verb.ECHO, N2, "late", timeout_s=10))
    await eventually(lambda: cluster.services[N2].transport.statistics().requests_received >= 2)
    await settle(cluster)
    assert not call.done()
    cluster.clock.advance(0.03)
    assert await call == "late"
    del two


async def test_drop_probability_follows_the_seeded_random(cluster):
    one, _ = await cluster.shard("n1"), await cluster.shard("n2")
    await one.send(Verb.ECHO, N2, "warm up", timeout_s=5)
    cluster.faults("n1").apply({"drop_probability": {"n2": 0.5}, "seed": 7})
    replay = random.Random(7)
    expected_lost = {i for i in range(40) if replay.random() < 0.5}
    calls = [asyncio.ensure_future(one.send(Verb.ECHO, N2, i, timeout_s=1)) for i in range(40)]
    await eventually(lambda: sum(call.done() for call in calls) == 40 - len(expected_lost))
    cluster.clock.advance(1)
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    lost = {i for i, outcome in enumerate(outcomes) if isinstance(outcome, RpcTimeout)}
    assert lost == expected_lost
    assert all(outcomes[i] == i for i in range(40) if i not in lost)
    assert 5 < len(lost) < 35


async def test_an_unreachable_peer_raises_peer_unreachable(cluster):
    one = await cluster.shard("n1")
    with pytest.raises(PeerUnreachable):
        await one.send(Verb.ECHO, ShardId("n9", 0), None, timeout_s=5)


async def test_after_aclose_sends_raise_transport_closed(cluster):
    one, _ = await cluster.shard("n1"), await cluster.shard("n2")
    assert await one.send(Verb.ECHO, N2, 1, timeout_s=5) == 1
    await cluster.stop(N1)
    with pytest.raises(TransportClosed):
        await one.send(Verb.ECHO, N2, 1, timeout_s=5)


async def test_a_payload_that_msgpack_cannot_carry_fails_at_the_caller(cluster):
    one, _ = await cluster.shard("n1"), await cluster.shard("n2")
    with pytest.raises(TypeError):
        await one.send(Verb.ECHO, N2, {"a set": {1, 2}}, timeout_s=5)
    assert await one.send(Verb.ECHO, N2, "fine", timeout_s=5) == "fine"


async def test_a_request_over_the_frame_limit_is_not_sent(cluster):
    one, _ = await cluster.shard("n1"), await cluster.shard("n2")
    with pytest.raises(FrameTooLarge):
        await one.send(Verb.ECHO, N2, b"x" * (16 * 1024 * 1024 + 1), timeout_s=5)
    assert await one.send(Verb.ECHO, N2, "fine", timeout_s=5) == "fine"


async def test_an_answer_that_does_not_pack_becomes_server_error(cluster):
    one, two = await cluster.shard("n1"), await cluster.shard("n2")

    async def bad_answer(source, payload):
        return object()

    two.register(Verb.READ_DIGEST, bad_answer)
    with pytest.raises(ServerError):
        await one.send(Verb.READ_DIGEST, N2, None, timeout_s=5)
    assert await one.send(Verb.ECHO, N2, "fine", timeout_s=5) == "fine"


async def test_partition_set_on_the_receiver_drops_what_arrives_from_the_named_node(cluster):
    one, two = await cluster.shard("n1"), await cluster.shard("n2")
    heard: list[object] = []

    async def record(source, payload):
        heard.append(payload)
        return payload

    two.register(Verb.MUTATION, record)
    await one.send(Verb.ECHO, N2, "warm up", timeout_s=5)
    cluster.faults("n2").apply({"partition": ["n1"]})
    call = asyncio.ensure_future(one.send(Verb.MUTATION, N2, "lost", timeout_s=1))
    await eventually(lambda: cluster.faults("n2").dropped == 1)
    cluster.clock.advance(1)
    with pytest.raises(RpcTimeout):
        await call
    assert heard == []


async def test_a_local_call_times_out_on_the_clock_too(cluster):
    one = await cluster.shard("n1")
    never = asyncio.Event()

    async def stall(source, payload):
        await never.wait()

    one.register(Verb.READ_DATA, stall)
    call = asyncio.ensure_future(one.send(Verb.READ_DATA, N1, None, timeout_s=0.5))
    await settle(cluster)
    assert not call.done()
    cluster.clock.advance(0.5)
    with pytest.raises(RpcTimeout):
        await call
