"""Gated windows (``redelivery_pages``): a later window of a catch-up is fetched ahead and delivers only
after its predecessor committed. When the predecessor fails, or the daemon stops, the later windows must
end without delivering, even when the cancellation sent to their read-ahead fetch is lost on its way.

The real client, simulator, state store and file sink; the page source in between decides which walk
fails and which one ignores a cancellation (as Python 3.11's ``asyncio.wait_for`` in the rate limiter
did when the slot freed up in the same loop turn - the hostile-API test hung on it, the stream's poll
waiting forever for a window parked at a gate nobody would open, and the daemon then ignored SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.collector import StreamTask
from mimecast_siem.errors import TransientError
from mimecast_siem.mimecast import MimecastClient, Page
from mimecast_siem.simulator import LateArrivals
from tests.collector.helpers import (
    RecordingClient,
    daemon_settings,
    delivered_ids,
    expected_ids,
    leased_task,
    read_documents,
)

MAX_WINDOW = timedelta(seconds=20)
HANG = 20.0  # a poll that takes this long is stuck (it takes well under a second)


class ScriptedWalks(RecordingClient):
    """The real client, with the first walk (the head window) held by ``head`` and later walks that
    ignore the first cancellation they get while their first page is being fetched."""

    def __init__(self, inner: MimecastClient) -> None:
        super().__init__(inner)
        self.head: Callable[[], Awaitable[None]] | None = None
        self.scripted = True
        self.walks = 0
        self.later_started = asyncio.Event()
        self.ignored_cancellations = 0

    async def walk(self, pages: AsyncIterator[Page]) -> AsyncIterator[Page]:
        self.walks += 1
        if not self.scripted:
            pass
        elif self.walks == 1:
            assert self.head is not None
            await self.head()
        else:
            self.later_started.set()
            try:
                await asyncio.sleep(HANG)
            except asyncio.CancelledError:
                self.ignored_cancellations += 1  # lost on its way: the fetch goes on
        async for page in pages:
            yield page


@contextlib.asynccontextmanager
async def stream_task(sim: Any, tmp_path: Path) -> AsyncIterator[tuple[StreamTask, ScriptedWalks, StateStore]]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    settings = daemon_settings(
        sim.url,
        sim.client_id,
        sim.client_secret,
        tmp_path,
        streams=("ttp-url",),
        stream_overrides={
            "start_from": start.isoformat(),
            "max_window": f"{int(MAX_WINDOW.total_seconds())}s",
            "concurrency": 3,
            "redelivery_pages": 2,
        },
    )
    async with leased_task(settings, tmp_path, "ttp-url", ScriptedWalks) as running:
        yield running


async def test_a_failed_head_window_ends_the_gated_windows_even_when_a_cancellation_is_lost(
    simulator_factory: Any, tmp_path: Path
) -> None:
    sim = await simulator_factory(rates={"ttp-url": 10.0})
    async with stream_task(sim, tmp_path) as (task, client, store):

        async def fail_once_the_next_window_is_fetched() -> None:
            await client.later_started.wait()
            raise TransientError("Mimecast answered HTTP 307 (a redirect) on /api/ttp/url/get-logs")

        client.head = fail_once_the_next_window_is_fetched
        async with asyncio.timeout(HANG):
            with pytest.raises(TransientError, match="307"):
                await task.poll_once()
        assert client.ignored_cancellations >= 1  # the situation this test is about did arise
        assert await store.get_checkpoint("acme", "ttp-url") is None
        assert delivered_ids(tmp_path / "out", "ttp-url") == {}  # the later windows delivered nothing
        # The next poll starts again from the head window and delivers.
        client.scripted = False
        async with asyncio.timeout(HANG):
            await task.poll_once()
        assert await store.get_checkpoint("acme", "ttp-url") is not None
    assert delivered_ids(tmp_path / "out", "ttp-url")


async def test_stopping_leaves_the_gated_windows_undelivered_and_commits_the_head(
    simulator_factory: Any, tmp_path: Path
) -> None:
    sim = await simulator_factory(rates={"ttp-url": 10.0})
    async with stream_task(sim, tmp_path) as (task, client, store):

        async def stop_while_the_head_is_in_flight() -> None:
            await client.later_started.wait()
            task.stopping.set()

        client.head = stop_while_the_head_is_in_flight
        async with asyncio.timeout(HANG):
            assert await task.poll_once() is False  # not caught up: the rest waits for the next start
        assert client.walks == 3
        head_start, _ = client.ranges[0]
        committed = await store.get_checkpoint("acme", "ttp-url")
    # The head window finished and committed; nothing after it was delivered.
    assert committed == head_start + MAX_WINDOW
    delivered = set(delivered_ids(tmp_path / "out", "ttp-url"))
    head = expected_ids("ttp-url", sim.ground_truth("ttp-url", head_start, committed))
    later = expected_ids("ttp-url", sim.ground_truth("ttp-url", committed, committed + 2 * MAX_WINDOW))
    assert head
    assert later
    assert head <= delivered
    assert not later & delivered


class CountedWalks(RecordingClient):
    """The real client; counts the walks in flight at once and records each walk's range."""

    def __init__(self, inner: MimecastClient, *, first_walk_delay: float = 0.0) -> None:
        super().__init__(inner)
        self.first_walk_delay = first_walk_delay
        self.active = 0
        self.max_active = 0

    async def walk(self, pages: AsyncIterator[Page]) -> AsyncIterator[Page]:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if len(self.ranges) == 1 and self.first_walk_delay:
                await asyncio.sleep(self.first_walk_delay)
            async for page in pages:
                yield page
        finally:
            self.active -= 1


@contextlib.asynccontextmanager
async def counted_task(
    sim: Any, tmp_path: Path, overrides: Mapping[str, Any], *, first_walk_delay: float = 0.0
) -> AsyncIterator[tuple[StreamTask, CountedWalks, StateStore]]:
    settings = daemon_settings(
        sim.url, sim.client_id, sim.client_secret, tmp_path, streams=("ttp-url",), stream_overrides=dict(overrides)
    )
    walks = functools.partial(CountedWalks, first_walk_delay=first_walk_delay)
    async with leased_task(settings, tmp_path, "ttp-url", walks) as running:
        yield running


async def test_a_catch_up_keeps_its_windows_in_flight_and_delivers_them_in_order_in_one_poll(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """Each committed window makes room for the next one (not a batch of `concurrency` windows per
    poll), at most `concurrency` walk at once, and the windows are delivered and committed in order."""
    # No late arrivals: every record of the range is there for the one poll to read.
    sim = await simulator_factory(rates={"ttp-url": 20.0}, late=LateArrivals(fraction=0.0, min_delay=0, max_delay=0))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    overrides = {
        "start_from": start.isoformat(),
        "max_window": f"{int(MAX_WINDOW.total_seconds())}s",
        "concurrency": 3,
        "redelivery_pages": 2,
        "page_size": 50,
    }
    async with counted_task(sim, tmp_path, overrides) as (task, client, store):
        async with asyncio.timeout(HANG * 3):
            await task.poll_once()
        committed = await store.get_checkpoint("acme", "ttp-url")
    assert committed is not None
    # One poll went from the start to the head: 3 minutes of 20-second windows, not a batch of 3.
    assert len(client.ranges) >= 9
    assert committed >= start + timedelta(minutes=3) - timedelta(seconds=10)
    assert client.max_active <= 3
    assert [r[0] for r in client.ranges] == sorted(r[0] for r in client.ranges)
    delivered = delivered_ids(tmp_path / "out", "ttp-url")
    assert set(delivered) == expected_ids("ttp-url", sim.ground_truth("ttp-url", start, committed))
    assert max(delivered.values()) == 1
    # In order: the window of each document written never goes back.
    places = [
        int((datetime.fromisoformat(d["@timestamp"].replace("Z", "+00:00")) - start) / MAX_WINDOW)
        for d in read_documents(tmp_path / "out", "acme", "ttp-url")
    ]
    assert places == sorted(places)


async def test_a_poll_that_ends_more_than_a_poll_interval_behind_the_head_polls_again_at_once(
    simulator_factory: Any, tmp_path: Path
) -> None:
    sim = await simulator_factory(rates={"ttp-url": 5.0})
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    overrides = {"start_from": start.isoformat(), "poll_interval": "3s", "lag": "2s", "max_window": "2m"}
    async with counted_task(sim, tmp_path, overrides, first_walk_delay=4.5) as (task, client, store):
        async with asyncio.timeout(HANG):
            # One window up to the head, but it took 4.5 s: the head moved on by more than 3 s.
            assert await task.poll_once() is False
            assert len(client.ranges) == 1
            # The next poll reads those seconds at once and is then within a poll interval.
            assert await task.poll_once() is True
        assert await store.get_checkpoint("acme", "ttp-url") is not None
