"""Overlap coverage: a catch-up re-reads nothing, a caught-up stream and a restarted one still re-read.

The overlap re-read exists for records that become visible late. A window read more than
``lag + overlap`` after its end already held every record it ever will (the delivery guarantee's
assumption), so re-reading it only costs requests and CPU (bench/RESULTS.md, benchmark 4).
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.collector import CATALOGUE, LeaseTerm, StreamContext, StreamTask
from mimecast_siem.collector.windows import FetchRange, Window, coverage_after, fetch_range, plan_walks
from mimecast_siem.mimecast import MimecastClient, reset_limiters
from mimecast_siem.simulator import LateArrivals
from mimecast_siem.sinks import DeadLetters, Router, SinkContext, build_sinks
from tests.collector.helpers import RecordingClient, daemon_settings, delivered_ids, expected_ids

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
LAG = timedelta(seconds=2)
OVERLAP = timedelta(seconds=20)
MAX_WINDOW = timedelta(seconds=15)
OVERLAP_BUSY = timedelta(seconds=10)
S = timedelta(seconds=1)


def test_a_window_read_long_after_its_end_is_covered_to_its_end() -> None:
    fetch = FetchRange(T0, T0 + 60 * S)
    covered = coverage_after(fetch, T0 + 600 * S, lag=LAG, overlap=OVERLAP, covered_until=None)
    assert covered == T0 + 60 * S


def test_a_window_read_near_its_end_is_covered_only_to_read_time_minus_lag_and_overlap() -> None:
    fetch = FetchRange(T0, T0 + 60 * S)
    covered = coverage_after(fetch, T0 + 62 * S, lag=LAG, overlap=OVERLAP, covered_until=None)
    assert covered == T0 + 40 * S


def test_coverage_does_not_jump_a_gap_and_never_shrinks() -> None:
    gap = FetchRange(T0 + 100 * S, T0 + 160 * S)
    assert coverage_after(gap, T0 + 900 * S, lag=LAG, overlap=OVERLAP, covered_until=T0 + 50 * S) == T0 + 50 * S
    early = FetchRange(T0, T0 + 60 * S)
    assert coverage_after(early, T0 + 1 * S, lag=LAG, overlap=OVERLAP, covered_until=T0 + 30 * S) == T0 + 30 * S


def test_the_re_read_starts_at_the_coverage_but_never_before_checkpoint_minus_overlap() -> None:
    window = Window(T0 + 60 * S, T0 + 120 * S)
    checkpoint = window.start
    assert fetch_range(window, checkpoint=checkpoint, overlap=OVERLAP) == FetchRange(T0 + 40 * S, window.end)
    assert fetch_range(window, checkpoint=checkpoint, overlap=OVERLAP, covered_until=T0 + 50 * S).start == T0 + 50 * S
    assert fetch_range(window, checkpoint=checkpoint, overlap=OVERLAP, covered_until=T0 + 60 * S).start == window.start
    assert fetch_range(window, checkpoint=checkpoint, overlap=OVERLAP, covered_until=T0).start == T0 + 40 * S


@given(
    start=st.integers(0, 1000),
    length=st.integers(1, 1000),
    read_after=st.integers(-5, 2000),
    previous=st.one_of(st.none(), st.integers(0, 2000)),
)
def test_coverage_is_bounded_by_what_was_read_and_what_was_surely_visible(
    start: int, length: int, read_after: int, previous: int | None
) -> None:
    fetch = FetchRange(T0 + start * S, T0 + (start + length) * S)
    read_at = fetch.end + read_after * S
    before = None if previous is None else T0 + previous * S
    covered = coverage_after(fetch, read_at, lag=LAG, overlap=OVERLAP, covered_until=before)
    assert covered is not None
    if before is not None:
        assert covered >= before
    if covered != (before if before is not None else fetch.start):
        # It grew: only over what this fetch read while those records were surely visible.
        assert covered <= fetch.end
        assert covered <= read_at - LAG - OVERLAP
        assert fetch.start <= (before if before is not None else fetch.start)


def test_a_busy_stream_sweeps_only_the_surely_visible_part_of_the_overlap() -> None:
    window = Window(T0 + 100 * S, T0 + 110 * S)  # a caught-up poll: 10 s of new records
    fetch = FetchRange(T0 + 80 * S, window.end)  # re-reads 20 s
    now = window.end + LAG  # only [80, 90) is older than lag + overlap
    walks = plan_walks(window, fetch, now, lag=LAG, overlap=OVERLAP, records_per_second=100.0, page_size=500)
    assert walks == [FetchRange(T0 + 80 * S, T0 + 90 * S), FetchRange(window.start, window.end)]
    # The whole overlap surely complete: one contiguous walk costs no more than two.
    later = plan_walks(
        window, fetch, window.end + 60 * S, lag=LAG, overlap=OVERLAP, records_per_second=100.0, page_size=500
    )
    assert later == [fetch]
    now = window.start + LAG  # nothing of the overlap is surely complete yet: leave it for later
    walks = plan_walks(window, fetch, now, lag=LAG, overlap=OVERLAP, records_per_second=100.0, page_size=500)
    assert walks == [FetchRange(window.start, window.end)]


def test_a_quiet_stream_or_an_unknown_rate_reads_the_overlap_in_one_walk() -> None:
    window = Window(T0 + 100 * S, T0 + 160 * S)
    fetch = FetchRange(T0 + 80 * S, window.end)
    now = window.end + LAG
    assert plan_walks(window, fetch, now, lag=LAG, overlap=OVERLAP, records_per_second=1.0, page_size=500) == [fetch]
    assert plan_walks(window, fetch, now, lag=LAG, overlap=OVERLAP, records_per_second=None, page_size=500) == [fetch]
    plain = FetchRange(window.start, window.end)
    assert plan_walks(window, plain, now, lag=LAG, overlap=OVERLAP, records_per_second=1e6, page_size=500) == [plain]


@given(
    overlap_start=st.integers(0, 99),
    length=st.integers(1, 300),
    now_after=st.integers(-50, 600),
    rate=st.floats(0.01, 10_000),
    page_size=st.integers(1, 500),
)
def test_walks_skip_only_what_may_not_be_visible_yet(
    overlap_start: int, length: int, now_after: int, rate: float, page_size: int
) -> None:
    window = Window(T0 + 100 * S, T0 + (100 + length) * S)
    fetch = FetchRange(T0 + overlap_start * S, window.end)
    now = window.end + now_after * S
    walks = plan_walks(window, fetch, now, lag=LAG, overlap=OVERLAP, records_per_second=rate, page_size=page_size)
    assert walks[-1].end == fetch.end
    assert walks[-1].start <= window.start
    assert all(fetch.start <= w.start < w.end <= fetch.end for w in walks)
    assert all(a.end <= b.start for a, b in itertools.pairwise(walks))
    read = sum((w.end - w.start).total_seconds() for w in walks)
    skipped_from = walks[0].end if len(walks) == 2 else (fetch.start if walks[0].start > fetch.start else fetch.end)
    if read < (fetch.end - fetch.start).total_seconds():
        # What is not read now is younger than lag + overlap: a later poll's sweep reads it.
        assert skipped_from >= min(window.start, now - LAG - OVERLAP - S)


async def test_catch_up_re_reads_nothing_live_and_restart_re_read_the_overlap(
    simulator_factory: Any, tmp_path: Path
) -> None:
    sim = await simulator_factory(
        rates={"ttp-url": 10.0}, late=LateArrivals(fraction=0.2, min_delay=1.0, max_delay=8.0)
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    settings = daemon_settings(
        sim.url,
        sim.client_id,
        sim.client_secret,
        tmp_path,
        streams=("ttp-url",),
        stream_overrides={
            "start_from": start.isoformat(),
            "lag": "2s",
            "overlap": "20s",
            "max_window": "15s",
            "concurrency": 2,
        },
    )
    reset_limiters()
    store = await StateStore.open(settings.state_url())
    router = Router(
        settings, build_sinks(settings, SinkContext(tmp_path, "me", "test")), DeadLetters(settings.dead_letter_path())
    )
    await router.start()
    try:
        async with MimecastClient(settings.tenants[0]) as inner:
            lease = await store.acquire_lease("acme", "ttp-url", "me", timedelta(minutes=5))
            assert lease is not None

            def new_task() -> tuple[StreamTask, RecordingClient]:
                client = RecordingClient(inner)
                ctx = StreamContext(
                    "acme",
                    CATALOGUE["ttp-url"],
                    settings.stream_settings(settings.tenants[0], "ttp-url"),
                    client,
                    router,
                )
                term = LeaseTerm("me", lease.epoch)
                return StreamTask(ctx, store, term, stopping=asyncio.Event()), client

            task, client = new_task()
            polls = 0
            while not await task.poll_once():
                polls += 1
                assert polls < 50, "the catch-up did not end"
            caught_up_at = await store.get_checkpoint("acme", "ttp-url")
            assert caught_up_at is not None
            # A walk longer than max_window reaches back before its window: an overlap re-read. None in
            # the catch-up, except in the last batch or two, whose predecessors were read near the head.
            re_reads = [(f, t) for f, t in client.ranges if t - f > MAX_WINDOW]
            assert len(client.ranges) >= 8
            assert len(re_reads) <= 2, client.ranges

            # Caught up: the next poll re-reads the overlap (late records may still appear there).
            await asyncio.sleep(3)
            client.ranges.clear()
            await task.poll_once()
            checkpoint = await store.get_checkpoint("acme", "ttp-url")
            assert checkpoint is not None
            assert client.ranges
            assert client.ranges[0][0] < caught_up_at

            # A restarted task knows nothing about coverage: the full overlap is re-read.
            await asyncio.sleep(3)
            restarted, client2 = new_task()
            await restarted.poll_once()
            assert client2.ranges[0][0] == checkpoint - OVERLAP
            final = await store.get_checkpoint("acme", "ttp-url")
    finally:
        await router.close()
        await store.close()
    assert final is not None
    # Nothing lost and nothing twice, late records included (they arrive within lag + overlap).
    truth = sim.ground_truth("ttp-url", start, final - OVERLAP)
    expected = expected_ids("ttp-url", truth)
    delivered = delivered_ids(tmp_path / "out", "ttp-url")
    assert expected, "the simulator served nothing"
    assert not expected - set(delivered), f"{len(expected - set(delivered))} of {len(expected)} events lost"
    assert not {i: n for i, n in delivered.items() if n > 1}, "events delivered twice"


async def test_a_busy_live_stream_reads_each_record_about_twice_not_once_per_poll(
    simulator_factory: Any, tmp_path: Path
) -> None:
    sim = await simulator_factory(
        rates={"ttp-url": 20.0}, late=LateArrivals(fraction=0.2, min_delay=1.0, max_delay=6.0)
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    settings = daemon_settings(
        sim.url,
        sim.client_id,
        sim.client_secret,
        tmp_path,
        streams=("ttp-url",),
        stream_overrides={
            "start_from": start.isoformat(),
            "lag": "2s",
            "overlap": "10s",
            "max_window": "15s",
            "concurrency": 1,
            "page_size": 20,
        },
    )
    reset_limiters()
    store = await StateStore.open(settings.state_url())
    router = Router(
        settings, build_sinks(settings, SinkContext(tmp_path, "me", "test")), DeadLetters(settings.dead_letter_path())
    )
    await router.start()
    try:
        async with MimecastClient(settings.tenants[0]) as inner:
            lease = await store.acquire_lease("acme", "ttp-url", "me", timedelta(minutes=5))
            assert lease is not None
            client = RecordingClient(inner)
            ctx = StreamContext(
                "acme", CATALOGUE["ttp-url"], settings.stream_settings(settings.tenants[0], "ttp-url"), client, router
            )
            task = StreamTask(ctx, store, LeaseTerm("me", lease.epoch), stopping=asyncio.Event())
            for _ in range(20):
                if await task.poll_once():
                    break
            live_from = await store.get_checkpoint("acme", "ttp-url")
            assert live_from is not None
            client.ranges.clear()
            for _ in range(14):  # polls 1 s apart: each would re-read all 10 s of overlap
                await asyncio.sleep(1)
                await task.poll_once()
            final = await store.get_checkpoint("acme", "ttp-url")
            assert final is not None
    finally:
        await router.close()
        await store.close()
    read = sum((t - f).total_seconds() for f, t in client.ranges)
    advanced = (final - live_from).total_seconds()
    assert advanced >= 8
    # Re-reading the whole overlap every poll reads ~(10 + 1) / 1 = 11 seconds per second of progress.
    assert read / advanced < 3.5, client.ranges
    truth = sim.ground_truth("ttp-url", start, final - OVERLAP_BUSY)
    expected = expected_ids("ttp-url", truth)
    delivered = delivered_ids(tmp_path / "out", "ttp-url")
    assert expected
    assert not expected - set(delivered), f"{len(expected - set(delivered))} of {len(expected)} events lost"
    assert not {i: n for i, n in delivered.items() if n > 1}, "events delivered twice"
