"""read_ahead: the next page is fetched while the current one is delivered; order, errors and cleanup kept."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from mimecast_siem.collector.pipeline import read_ahead


class Walk:
    """A page walk that records what happened; ``gate`` lets a test hold page ``n``'s fetch."""

    def __init__(self, pages: int, *, fail_at: int | None = None) -> None:
        self.pages = pages
        self.fail_at = fail_at
        self.started: list[int] = []
        self.closed = False
        self.fetching = {n: asyncio.Event() for n in range(1, pages + 1)}

    async def walk(self) -> AsyncIterator[int]:
        try:
            for n in range(1, self.pages + 1):
                self.started.append(n)
                self.fetching[n].set()
                await asyncio.sleep(0)
                if n == self.fail_at:
                    raise ConnectionResetError(f"page {n} failed")
                yield n
        finally:
            self.closed = True


async def test_the_next_page_is_fetched_while_the_current_one_is_processed() -> None:
    walk = Walk(3)
    seen: list[int] = []
    async with contextlib.aclosing(read_ahead(walk.walk())) as pages:
        async for page in pages:
            if page < 3:
                # Without read-ahead this would wait forever (bounded here): the next fetch starts
                # only when the consumer asks for it.
                await asyncio.wait_for(walk.fetching[page + 1].wait(), timeout=5)
            seen.append(page)
    assert seen == [1, 2, 3]
    assert walk.started == [1, 2, 3]
    assert walk.closed


async def _consume(walk: Walk, seen: list[int], *, stop_at: int | None = None) -> None:
    async with contextlib.aclosing(read_ahead(walk.walk())) as pages:
        async for page in pages:
            if page == stop_at:
                raise RuntimeError("sink down")
            seen.append(page)


async def test_a_consumer_that_stops_abandons_the_page_ahead_and_closes_the_walk() -> None:
    walk = Walk(5)
    with pytest.raises(RuntimeError, match="sink down"):
        await _consume(walk, [], stop_at=2)
    assert walk.closed
    assert max(walk.started) <= 3  # one page ahead at most, never the rest of the walk


async def test_a_failed_fetch_surfaces_after_the_pages_before_it() -> None:
    walk = Walk(4, fail_at=3)
    seen: list[int] = []
    with pytest.raises(ConnectionResetError, match="page 3"):
        await _consume(walk, seen)
    assert seen == [1, 2]
    assert walk.closed


async def test_cancelling_the_consumer_cancels_the_fetch_ahead() -> None:
    walk = Walk(3)
    started_processing = asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(read_ahead(walk.walk())) as pages:
            async for _ in pages:
                started_processing.set()
                await asyncio.sleep(3600)

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started_processing.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    assert walk.closed
