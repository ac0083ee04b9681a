"""mimecast_siem.aio.wait_for never loses a cancellation (Python 3.11's asyncio.wait_for can)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from mimecast_siem.aio import wait_for

Waiter = Callable[[Awaitable[Any], float], Coroutine[Any, Any, Any]]


async def cancellations_lost(waiter: Waiter) -> int:
    """Cancel a task in the same loop turns as the event it waits for is set; count tasks that carried on.

    This is how a queue drainer waits for new events while ``close()`` cancels it: a delivery sets
    ``arrived`` and the shutdown cancels the drainer right after.
    """
    lost = 0
    for turns in range(6):
        event = asyncio.Event()
        task: asyncio.Task[Any] = asyncio.create_task(waiter(event.wait(), 1.0))
        await asyncio.sleep(0)
        event.set()
        for _ in range(turns):
            await asyncio.sleep(0)
        if not task.cancel():
            continue  # finished before the cancel: nothing to lose
        try:
            await task
        except asyncio.CancelledError:
            continue
        lost += 1  # cancel() was accepted, yet the task returned normally
    return lost


async def test_a_cancellation_racing_the_completion_is_never_lost() -> None:
    assert await cancellations_lost(wait_for) == 0


@pytest.mark.skipif(
    sys.version_info >= (3, 12),
    reason="the race is a Python 3.11 asyncio.wait_for bug (3.12 reimplemented wait_for on asyncio.timeout)",
)
async def test_the_race_is_real_with_asyncio_wait_for() -> None:
    # Proves the test above can fail: the standard library's wait_for of 3.11 loses the cancellation.
    assert await cancellations_lost(asyncio.wait_for) >= 1


async def test_wait_for_returns_the_result_and_times_out() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert await wait_for(answer(), 1.0) == 42
    assert await wait_for(answer(), None) == 42
    never = asyncio.Event()
    with pytest.raises(TimeoutError):
        await wait_for(never.wait(), 0.01)


async def test_a_future_is_cancelled_when_the_time_runs_out() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError):
        await wait_for(future, 0.01)
    assert future.cancelled()
