"""A token bucket over the injectable clock: at most ``rate_bytes_per_s`` on average,
bursts up to one second's worth.

Invariant: ``acquire(n)`` returns only once the bucket paid for ``n`` bytes; a request
larger than the burst waits for the bucket to fill, then goes alone.
"""

from __future__ import annotations

from node.clock import Clock


class Throttle:
    def __init__(self, rate_bytes_per_s: int, clock: Clock) -> None:
        assert rate_bytes_per_s > 0, "a throttle has a positive rate"
        self.rate_bytes_per_s = rate_bytes_per_s
        self.clock = clock
        self._tokens = float(rate_bytes_per_s)
        self._last = clock.monotonic()
        self.waits = 0

    def _refill(self) -> None:
        now = self.clock.monotonic()
        self._tokens = min(float(self.rate_bytes_per_s),
                           self._tokens + (now - self._last) * self.rate_bytes_per_s)
        self._last = now

    async def acquire(self, size_bytes: int) -> None:
        self._refill()
        needed = min(size_bytes, self.rate_bytes_per_s)
        while self._tokens < needed:
            self.waits += 1
            await self.clock.sleep((needed - self._tokens) / self.rate_bytes_per_s)
            self._refill()
        self._tokens -= size_bytes  # may go negative for an oversize request: later ones wait
