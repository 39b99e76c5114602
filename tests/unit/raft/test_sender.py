"""A member's messages to one peer: bounded in flight and in waiting (the oldest is
dropped), in order, failures counted, every task ended by aclose."""

import asyncio

from node.raft.config import RaftConfig
from node.raft.sender import PeerSender
from node.rpc.errors import RpcTimeout
from node.rpc.transport import ShardId
from tests.unit.rpc.harness import RecordingLog


class StallingMessaging:
    """Sends that wait until released; ``fail`` makes them raise instead."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.release = asyncio.Event()
        self.fail = False

    async def send(self, verb, target, payload, timeout_s):
        self.started.append(payload)
        await self.release.wait()
        if self.fail:
            raise RpcTimeout("late")


async def settle():
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_stalled_peer_holds_a_window_and_a_queue_then_the_oldest_is_dropped():
    messaging = StallingMessaging()
    config = RaftConfig(send_window=2, send_queue_messages=3)
    sender = PeerSender(messaging, ShardId("n2", 0), config, RecordingLog())
    sender.start()
    for number in range(10):
        sender.put(14, number)
        await settle()
    assert messaging.started == [0, 1]           # the window is full
    assert sender.dropped == 5                   # 2..6 dropped, 7, 8, 9 wait
    messaging.release.set()
    await settle()
    assert messaging.started == [0, 1, 7, 8, 9] and sender.sent == 5
    await sender.aclose()


async def test_failed_sends_are_counted_and_aclose_ends_stalled_sends():
    messaging = StallingMessaging()
    sender = PeerSender(messaging, ShardId("n2", 0), RaftConfig(send_window=1), RecordingLog())
    sender.start()
    messaging.fail = True
    messaging.release.set()
    sender.put(14, "a")
    await settle()
    assert sender.failed == 1 and sender.sent == 0
    messaging.release.clear()
    sender.put(14, "b")
    await settle()
    tasks = [sender._runner, *sender._sends]
    assert len(tasks) == 2 and not any(task.done() for task in tasks)
    await sender.aclose()
    assert all(task.done() for task in tasks)
