"""The replay throttle keeps to its rate on the manual clock."""

import asyncio

from node.clock import ManualClock
from node.hints.throttle import Throttle


async def test_bytes_beyond_the_burst_wait_for_the_clock():
    clock = ManualClock()
    throttle = Throttle(1000, clock)
    await throttle.acquire(1000)  # the first second's burst
    waiting = asyncio.ensure_future(throttle.acquire(500))
    await asyncio.sleep(0)
    assert not waiting.done()
    clock.advance(0.3)
    await asyncio.sleep(0)
    assert not waiting.done()
    clock.advance(0.25)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert waiting.done() and throttle.waits >= 1
