"""Everything one coordinator shard holds for one target node, as db/hints'
host_manager: the target's ``HintStore`` and its ``HintSender``, and the task that
replays when woken (the target seen UP) and every ``retry_ms`` while hints remain.

Invariant: at most one replay round of a target runs at a time, owned by this
object's task; ``aclose`` stops it and closes the store (fsyncing what it holds).
"""

from __future__ import annotations

import asyncio
from typing import Any

from node.clock import Clock
from node.hints.segment import frame
from node.hints.sender import HintSender
from node.hints.statistics import HintCounters
from node.hints.store import HintStore


class EndpointManager:
    def __init__(self, target: str, store: HintStore, sender: HintSender, *, retry_ms: int,
                 clock: Clock, counters: HintCounters, log: Any) -> None:
        assert retry_ms > 0, "replay retries on a period"
        self.target = target
        self.store = store
        self.sender = sender
        self.retry_s = retry_ms / 1000
        self.clock = clock
        self.counters = counters
        self.log = log
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.replaying = False
        self._backoff_s: float | None = None  # set after an interrupted round

    def start(self) -> None:
        assert self._task is None, "started once"
        self._wake.set()  # hints found on disk go as soon as the target is UP
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"hints-{self.target}")

    def wake(self) -> None:
        """Replay now (the target was seen UP)."""
        self._wake.set()

    async def store_hint(self, payload: bytes, max_bytes: int) -> bool:
        """Append one hint and wait until it is durable; False if it was refused."""
        record = frame(payload)
        if self.store.pending_bytes + len(record) > max_bytes:
            self.counters.dropped_limit += 1
            return False
        try:
            sequence = self.store.append(record)
            await self.store.wait_durable(sequence)
        except OSError as error:
            self.counters.store_errors += 1
            self.log.warning("hints.store_failed", target=self.target, error=str(error))
            return False
        self.counters.written += 1
        return True

    async def _run(self) -> None:
        while True:
            await self._wait_woken_or_period()
            self._wake.clear()
            if not self.store.has_pending() or not self.sender.routing.is_alive(self.target):
                continue
            self.replaying = True
            finished = False
            try:
                finished = await self.sender.replay()
            except asyncio.CancelledError:
                raise
            except Exception:  # a disk error while reading: logged, retried next period
                self.log.exception("hints.replay_failed", target=self.target)
            finally:
                self.replaying = False
            # A round cut short (e.g. a shard of a node just seen UP not listening yet)
            # is retried after 0.5 s, doubling up to retry_ms, not a whole period later.
            if finished:
                self._backoff_s = None
            else:
                self._backoff_s = min(self.retry_s, (self._backoff_s or 0.25) * 2)

    async def _wait_woken_or_period(self) -> None:
        if self._wake.is_set():
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(self._backoff_s or self.retry_s))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.store.aclose()
