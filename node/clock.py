"""Time for every component of a shard: one injectable clock.

Logic never calls ``time.time()`` or ``asyncio.sleep()`` directly; it asks the clock
it was given. ``SystemClock`` reads the real clocks; ``ManualClock`` is moved by tests
(``advance``) so that TTL, timeouts and failure detection run without sleeping.

Invariant: ``monotonic()`` never goes backwards; ``now_us()`` may be skewed (the
nemesis clock fault) but is the only source of write timestamps.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time


class Clock:
    """The interface. Subclasses provide the three readings and ``sleep``."""

    def now_us(self) -> int:
        """Wall-clock microseconds since the epoch: write timestamps, TTL."""
        raise NotImplementedError

    def now_s(self) -> float:
        """Wall-clock seconds since the epoch (float): expiry checks, gc_grace."""
        return self.now_us() / 1_000_000

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: timeouts, failure detection."""
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError


class SystemClock(Clock):
    """The real clocks, with an optional skew (ms) applied to wall time only."""

    def __init__(self, skew_ms: int = 0) -> None:
        self.skew_ms = skew_ms

    def now_us(self) -> int:
        return time.time_ns() // 1000 + self.skew_ms * 1000

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock(Clock):
    """A clock that moves only when told to. Sleepers wake when ``advance`` passes
    their deadline, in deadline order."""

    def __init__(self, start_us: int = 1_700_000_000_000_000) -> None:
        self._wall_us = start_us
        self._mono = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._sequence = itertools.count()

    def now_us(self) -> int:
        return self._wall_us

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._sequence), future))
        await future

    def advance(self, seconds: float) -> None:
        """Move both clocks forward and wake every sleeper whose deadline passed."""
        assert seconds >= 0, "a clock never goes back"
        self._mono += seconds
        self._wall_us += int(seconds * 1_000_000)
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
