"""A delay line: hands items on after a delay each, never out of order.

The fault hooks delay messages with jitter; a connection must still deliver in the
order it sent. So an item is released at ``max(now + delay, release time of the item
before it)``: a later message never overtakes an earlier one.

Invariant: ``deliver`` is called in ``put`` order, and never from inside ``put``
unless nothing is waiting and the delay is zero.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from node.rpc.timers import Cancellable, Timers


class DelayLine:
    def __init__(self, timers: Timers, deliver: Callable[[Any], None]) -> None:
        self._timers = timers
        self._deliver = deliver
        self._queue: deque[tuple[float, Any]] = deque()
        self._last_release = float("-inf")
        self._timer: Cancellable | None = None

    def put(self, item: Any, delay_s: float) -> None:
        if delay_s <= 0 and not self._queue:
            self._deliver(item)
            return
        now = self._timers.clock.monotonic()
        release = max(now + delay_s, self._last_release)
        self._last_release = release
        self._queue.append((release, item))
        if self._timer is None:
            self._timer = self._timers.call_later(self._queue[0][0] - now, self._release_due)

    def _release_due(self) -> None:
        self._timer = None
        now = self._timers.clock.monotonic()
        while self._queue and self._queue[0][0] <= now:
            self._deliver(self._queue.popleft()[1])
        if self._queue:
            self._timer = self._timers.call_later(self._queue[0][0] - now, self._release_due)

    def __len__(self) -> int:
        return len(self._queue)

    def clear(self) -> None:
        """Forget what is waiting (the connection closed)."""
        self._queue.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
