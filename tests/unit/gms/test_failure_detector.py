"""The failure detector on a manual clock: UP at the first answer, DOWN after silence."""

import asyncio

from node.clock import ManualClock
from node.gms.failure_detector import DOWN, UP, FailureDetector


class FakePeers:
    """Answers heartbeats for the nodes listed as reachable."""

    def __init__(self):
        self.reachable = set()
        self.sent = []

    async def send(self, peer, shard, state):
        self.sent.append((peer, shard))
        if peer not in self.reachable:
            raise ConnectionError(peer)
        return {"node": peer, "shards": 3, "schema_version": "v-" + peer, "generation": 7}


def make_detector(clock, peers):
    return FailureDetector(node="n1", shard=1, peers={"n2": 2, "n3": 2}, heartbeat_ms=500,
                           timeout_ms=2000, send_heartbeat=peers.send,
                           local_state=lambda: {"node": "n1", "shards": 2}, clock=clock)


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


async def test_peers_start_down_and_come_up_at_their_first_answer():
    clock, peers = ManualClock(), FakePeers()
    detector = make_detector(clock, peers)
    events = []
    detector.subscribe(lambda node, state: events.append((node, state)))
    detector.start()
    try:
        await settle()
        assert detector.live_nodes() == {"n1"}
        peers.reachable = {"n2", "n3"}
        clock.advance(0.5)
        await settle()
        assert detector.live_nodes() == {"n1", "n2", "n3"}
        assert detector.endpoints["n2"].shards == 3
        assert detector.endpoints["n2"].schema_version == "v-n2"
        assert sorted(events) == [("n2", UP), ("n3", UP)]
        assert ("n2", 1) in peers.sent  # shard 1 heartbeats the peer's shard 1 % 2
    finally:
        await detector.aclose()


async def test_a_silent_peer_is_down_after_the_timeout_and_up_again_when_it_answers():
    clock, peers = ManualClock(), FakePeers()
    peers.reachable = {"n2", "n3"}
    detector = make_detector(clock, peers)
    events = []
    detector.subscribe(lambda node, state: events.append((node, state)))
    detector.start()
    try:
        await settle()
        assert detector.is_alive("n3")
        peers.reachable = {"n2"}
        for _ in range(4):  # 2.0 s of silence: not yet past the timeout
            clock.advance(0.5)
            await settle()
        assert detector.is_alive("n3")
        clock.advance(0.5)
        await settle()
        assert not detector.is_alive("n3") and detector.is_alive("n2")
        assert events[-1] == ("n3", DOWN)
        clock.advance(3.0)
        assert detector.down_for_s("n3") >= 3.0
        peers.reachable = {"n2", "n3"}
        clock.advance(0.5)
        await settle()
        assert detector.is_alive("n3") and events[-1] == ("n3", UP)
        assert detector.down_for_s("n3") == 0.0
    finally:
        await detector.aclose()


async def test_an_incoming_heartbeat_counts_as_hearing_from_the_peer():
    clock, peers = ManualClock(), FakePeers()
    detector = make_detector(clock, peers)
    answer = detector.handle_heartbeat("n3", {"shards": 4, "schema_version": "abc"})
    assert answer == {"node": "n1", "shards": 2}
    assert detector.is_alive("n3") and detector.endpoints["n3"].shards == 4
    detector.handle_heartbeat("n9", {"shards": 1})  # unknown nodes are ignored
    assert "n9" not in detector.endpoints


async def test_a_listener_that_raises_does_not_stop_detection():
    clock, peers = ManualClock(), FakePeers()
    detector = make_detector(clock, peers)

    def broken(node, state):
        raise RuntimeError("bug")

    detector.subscribe(broken)
    detector.handle_heartbeat("n2", {})
    assert detector.is_alive("n2")
