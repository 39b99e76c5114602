"""Eager start of handlers: finished at once when they never wait, carried on by a
task (cancellable like any) when they do."""

import asyncio

from node.rpc.eager import start_eagerly


async def test_a_coroutine_that_never_waits_finishes_without_a_task():
    done = []

    async def quick():
        done.append(1)

    assert start_eagerly(asyncio.get_running_loop(), quick()) is None
    assert done == [1]


async def test_a_waiting_coroutine_goes_on_in_a_task_and_sees_results_and_cancellation():
    gate: asyncio.Future = asyncio.get_running_loop().create_future()
    trace = []

    async def waits():
        trace.append("started")
        trace.append(await gate)
        await asyncio.sleep(0)
        try:
            await asyncio.Event().wait()
        finally:
            trace.append("cleaned up")

    task = start_eagerly(asyncio.get_running_loop(), waits())
    assert task is not None and trace == ["started"]
    gate.set_result("value")
    for _ in range(5):
        await asyncio.sleep(0)
    assert trace == ["started", "value"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and trace[-1] == "cleaned up"
