"""The outbound messages of one member to one peer: a bounded queue and a bounded
number of sends in flight, so a slow or cut-off peer costs a fixed amount of memory.

Raft tolerates lost messages (it resends what matters on the next heartbeat), so a
full queue drops its oldest message rather than blocking the algorithm. Each message
is one RPC whose answer is empty; a failed send is counted, never retried here.

Invariant: messages leave in the order they were queued; at most ``send_window`` are
in flight and at most ``send_queue_messages`` wait; ``aclose`` ends every task.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from node.errors import RequestError
from node.raft.config import RaftConfig
from node.rpc.errors import RpcError
from node.rpc.messaging import MessagingService
from node.rpc.transport import ShardId


class PeerSender:
    def __init__(self, messaging: MessagingService, target: ShardId, config: RaftConfig,
                 log: Any) -> None:
        self.messaging = messaging
        self.target = target
        self.config = config
        self.log = log
        self._queue: deque[tuple[int, Any]] = deque()
        self._wakeup = asyncio.Event()
        self._window = asyncio.Semaphore(config.send_window)
        self._sends: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0
        self.failed = 0

    def start(self) -> None:
        assert self._runner is None, "started once"
        self._runner = asyncio.get_running_loop().create_task(self._run())

    def put(self, verb: int, payload: Any) -> None:
        if len(self._queue) >= self.config.send_queue_messages:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append((verb, payload))
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._window.acquire()
            if not self._queue:
                self._window.release()
                continue
            verb, payload = self._queue.popleft()
            task = asyncio.get_running_loop().create_task(self._send(verb, payload))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _send(self, verb: int, payload: Any) -> None:
        try:
            await self.messaging.send(verb, self.target, payload, self.config.send_timeout_s)
            self.sent += 1
        except (RpcError, RequestError) as error:
            self.failed += 1
            self.log.debug("raft.send_failed", target=str(self.target), error=type(error).__name__)
        finally:
            self._window.release()

    async def aclose(self) -> None:
        tasks = [task for task in (self._runner, *self._sends) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._queue.clear()
