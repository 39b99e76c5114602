"""Eager start of request handlers: run a handler's coroutine at once, inside the
callback that received the request, and make a task of it only if it has to wait.

Most answers (echo, heartbeat, a memtable read) never wait; creating and scheduling a
task for each costs more than the handler. This is Python 3.12's ``eager_task_factory``
done by hand for 3.11: the first step runs now, the rest (if any) in a task that
resumes the very same coroutine.

Invariant: the coroutine is stepped by exactly one owner at a time, and a task's
cancellation reaches the coroutine as it would through ``await``.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any


def start_eagerly(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, None]
                  ) -> asyncio.Task[None] | None:
    """Run ``coroutine`` to its first wait; None if it finished, else the task that
    carries it on."""
    try:
        waiting_on = coroutine.send(None)
    except StopIteration:
        return None
    return loop.create_task(_carry_on(coroutine, waiting_on))


async def _carry_on(coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    return await _resume(coroutine, waiting_on)


@types.coroutine
def _resume(coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> Generator[Any, Any, None]:
    while True:
        try:
            sent = yield waiting_on  # the task waits on what the coroutine waits on
        except BaseException as error:  # noqa: BLE001 - cancellation goes to the coroutine
            try:
                waiting_on = coroutine.throw(error)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                waiting_on = coroutine.send(sent)
            except StopIteration as stop:
                return stop.value


async def continue_in_task() -> None:
    """Yield once, so that a handler started eagerly goes on inside its own task: a
    handler that enters a deadline (which cancels the current task) calls this first."""
    if asyncio.current_task() is None:
        await asyncio.sleep(0)
