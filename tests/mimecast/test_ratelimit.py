"""The shared per-app limiter: priorities, concurrency, pacing, app-wide pauses, bounded waits."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.config.models import RateLimitSettings
from mimecast_siem.errors import RateLimited
from mimecast_siem.mimecast import Priority, RateLimiter, limiter_for, reset_limiters
from mimecast_siem.mimecast.ratelimit import (
    MAX_HEADER_PAUSE,
    MIN_PROBE_SPACING,
    PACE_MEMORY,
    retry_after_seconds,
)

WAIT = 5.0  # upper bound for any wait in these tests (they finish in milliseconds)


async def _hold(limiter: RateLimiter, release: asyncio.Event) -> None:
    async with limiter.slot(Priority.LIVE):
        await release.wait()


async def _until(predicate: object, timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.001)


async def test_waiters_are_served_by_priority_then_arrival() -> None:
    limiter = RateLimiter(max_concurrency=1)
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(limiter, release))
    await _until(lambda: limiter.in_flight == 1)
    order: list[str] = []

    async def take(name: str, priority: Priority) -> None:
        async with limiter.slot(priority):
            order.append(name)

    arrivals = [
        ("backfill-1", Priority.BACKFILL),
        ("live-1", Priority.LIVE),
        ("backfill-2", Priority.BACKFILL),
        ("action-1", Priority.ACTION),
        ("live-2", Priority.LIVE),
        ("action-2", Priority.ACTION),
    ]
    tasks = []
    for name, priority in arrivals:
        tasks.append(asyncio.create_task(take(name, priority)))
        expected = len(tasks)
        await _until(lambda: limiter.waiting == expected)  # noqa: B023 - awaited inside the loop body
    release.set()
    async with asyncio.timeout(WAIT):
        await asyncio.gather(holder, *tasks)
    assert order == ["action-1", "action-2", "live-1", "live-2", "backfill-1", "backfill-2"]


async def test_concurrency_is_capped_and_used() -> None:
    limiter = RateLimiter(max_concurrency=3)
    in_flight = 0
    peak = 0

    async def work() -> None:
        nonlocal in_flight, peak
        async with limiter.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.005)
            in_flight -= 1

    async with asyncio.timeout(WAIT):
        await asyncio.gather(*(work() for _ in range(20)))
    assert peak == 3
    assert limiter.in_flight == 0
    assert limiter.waiting == 0


async def test_pacing_spaces_request_starts() -> None:
    clock_starts: list[float] = []
    limiter = RateLimiter(max_concurrency=8, max_requests_per_second=50)
    loop = asyncio.get_running_loop()

    async def work() -> None:
        async with limiter.slot():
            clock_starts.append(loop.time())

    async with asyncio.timeout(WAIT):
        await asyncio.gather(*(work() for _ in range(6)))
    gaps = [b - a for a, b in itertools.pairwise(clock_starts)]
    assert all(gap >= 1 / 50 - 1e-3 for gap in gaps), gaps


async def test_a_pause_holds_every_caller_until_it_ends() -> None:
    limiter = RateLimiter(max_concurrency=4)
    loop = asyncio.get_running_loop()
    limiter.pause(0.15)
    pause_end = loop.time() + 0.15 - 0.01
    started: list[float] = []

    async def work(priority: Priority) -> float:
        async with limiter.slot(priority) as permit:
            started.append(loop.time())
            return permit.paused

    async with asyncio.timeout(WAIT):
        paused = await asyncio.gather(*(work(p) for p in (Priority.ACTION, Priority.LIVE, Priority.BACKFILL)))
    assert len(started) == 3
    assert all(t >= pause_end for t in started)
    assert all(p > 0 for p in paused)


async def test_pause_only_extends() -> None:
    limiter = RateLimiter()
    limiter.pause(30)
    limiter.pause(1)
    assert limiter.paused_for() > 20


async def test_max_wait_raises_rate_limited_with_the_pause_left() -> None:
    limiter = RateLimiter()
    limiter.pause(30)
    with pytest.raises(RateLimited) as info:
        async with asyncio.timeout(WAIT):
            await limiter.acquire(Priority.ACTION, max_wait=0.05)
    assert info.value.retry_after > 20
    assert "rate limited" in str(info.value)
    assert limiter.waiting == 0
    assert limiter.in_flight == 0


async def test_max_wait_fails_fast_when_a_pause_starts_while_waiting() -> None:
    limiter = RateLimiter(max_concurrency=1)
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(limiter, release))
    await _until(lambda: limiter.in_flight == 1)
    waiter = asyncio.create_task(limiter.acquire(Priority.ACTION, max_wait=WAIT * 10))
    await _until(lambda: limiter.waiting == 1)
    limiter.pause(WAIT * 100)
    with pytest.raises(RateLimited):
        async with asyncio.timeout(WAIT):
            await waiter
    release.set()
    await holder


async def test_max_wait_when_no_slot_frees_up() -> None:
    limiter = RateLimiter(max_concurrency=1)
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(limiter, release))
    await _until(lambda: limiter.in_flight == 1)
    with pytest.raises(RateLimited, match="max_concurrency"):
        await limiter.acquire(Priority.ACTION, max_wait=0.02)
    release.set()
    await holder
    assert limiter.in_flight == 0


async def test_max_wait_zero_still_gets_a_free_slot() -> None:
    limiter = RateLimiter()
    async with limiter.slot(Priority.ACTION, max_wait=0) as permit:
        assert permit.paused == 0


async def test_a_cancelled_waiter_leaves_the_queue_working() -> None:
    limiter = RateLimiter(max_concurrency=1)
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(limiter, release))
    await _until(lambda: limiter.in_flight == 1)
    doomed = asyncio.create_task(limiter.acquire(Priority.ACTION))
    survivor_done = asyncio.Event()

    async def survivor() -> None:
        async with limiter.slot(Priority.BACKFILL):
            survivor_done.set()

    other = asyncio.create_task(survivor())
    await _until(lambda: limiter.waiting == 2)
    doomed.cancel()
    release.set()
    async with asyncio.timeout(WAIT):
        await asyncio.gather(holder, other)
        with pytest.raises(asyncio.CancelledError):
            await doomed
    assert survivor_done.is_set()
    assert limiter.in_flight == 0
    assert limiter.waiting == 0


@pytest.mark.parametrize("max_wait", [None, 30.0])
async def test_a_waiter_cancelled_as_it_is_woken_is_cancelled_and_takes_no_slot(max_wait: float | None) -> None:
    # The slot frees up and the waiter is cancelled in the same turn of the event loop (a stream
    # abandoning its read-ahead page as another request ends). On Python 3.11 asyncio.wait_for dropped
    # that cancellation: the waiter took the slot and its caller carried on as if never cancelled.
    limiter = RateLimiter(max_concurrency=1)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire(max_wait=max_wait))
    await _until(lambda: limiter.waiting == 1)
    limiter.release()
    waiter.cancel()
    async with asyncio.timeout(WAIT):
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert limiter.in_flight == 0
    assert limiter.waiting == 0


def test_release_without_acquire_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        RateLimiter().release()


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        RateLimiter(max_concurrency=0)
    with pytest.raises(ValueError, match="max_requests_per_second"):
        RateLimiter(max_requests_per_second=0)


# --- 429 backoff ---------------------------------------------------------------------------------


def test_header_pause_is_exact() -> None:
    limiter = RateLimiter()
    assert limiter.on_rate_limited(2.5) == 2.5
    assert 2.0 < limiter.paused_for() <= 2.5


def test_headerless_pauses_grow_exponentially_and_reset_on_success() -> None:
    now = [0.0]
    limiter = RateLimiter(backoff_initial=1.0, backoff_max=8.0, clock=lambda: now[0])
    pauses = []
    for _ in range(6):
        pauses.append(limiter.on_rate_limited(None))
        now[0] += 100  # the pause has ended before the next 429
    # base doubles 1, 2, 4, 8, 8, 8 with jitter in [0.5, 1.0] x base
    for pause, base in zip(pauses, [1, 2, 4, 8, 8, 8], strict=True):
        assert base * 0.5 <= pause <= base
    limiter.on_success()
    assert limiter.on_rate_limited(None) <= 1.0


def test_429s_inside_a_pause_do_not_escalate() -> None:
    now = [0.0]
    limiter = RateLimiter(backoff_initial=1.0, backoff_max=60.0, clock=lambda: now[0])
    first = limiter.on_rate_limited(None)
    for _ in range(10):  # answers to requests that were already in flight
        limiter.on_rate_limited(None)
    assert limiter.paused_for() == pytest.approx(first)
    now[0] += 100
    assert limiter.on_rate_limited(None) <= 2.0  # the second escalation step, not the twelfth


async def test_after_a_429_one_probe_goes_first_then_spacing_shrinks_until_the_queue_drains() -> None:
    limiter = RateLimiter(max_concurrency=4)
    assert not limiter.rate_limited
    limiter.on_rate_limited(0.01)
    assert limiter.rate_limited
    assert limiter.concurrency_now == 1  # the probe
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(limiter, release))  # the probe, in flight
    await _until(lambda: limiter.in_flight == 1)
    waiter = asyncio.create_task(limiter.acquire(Priority.LIVE))
    await _until(lambda: limiter.waiting == 1)
    await asyncio.sleep(0.05)
    assert limiter.in_flight == 1  # nobody joins the probe before it succeeds
    limiter.on_success()  # the probe succeeded; a caller still queues
    assert limiter.concurrency_now == 4
    assert limiter.rate_limited  # pacing continues while callers queue
    async with asyncio.timeout(WAIT):
        await waiter
    limiter.release()
    release.set()
    await holder
    limiter.on_success()  # nobody waits any more: the episode ends
    assert not limiter.rate_limited


async def test_a_zero_pause_still_spaces_probes_and_doubles_while_they_are_refused() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert limiter.on_rate_limited(0.0) == pytest.approx(MIN_PROBE_SPACING)
    now[0] += 1.0
    assert limiter.on_rate_limited(0.0) == pytest.approx(2 * MIN_PROBE_SPACING)
    now[0] += 1.0
    limiter.on_success()
    now[0] += 1.0
    assert limiter.on_rate_limited(0.0) == pytest.approx(MIN_PROBE_SPACING)


async def test_the_pace_comes_from_successes_between_429s_not_from_the_reset_header() -> None:
    """A window quota: 40 requests per 10 s. The reset says 9.6 s; the quota sustains 4 requests/s."""
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    limiter.on_rate_limited(9.6)  # the burst spent the first window
    assert limiter.pace is None  # one 429 measures nothing yet: wait it out, then go
    now[0] = 9.6
    for _ in range(40):
        await limiter.acquire()
        now[0] += 0.01  # the round trip
        limiter.release()
        limiter.on_success()
    limiter.on_rate_limited(9.6)
    assert limiter.pace == pytest.approx(40 / 10.0, rel=0.01)
    assert limiter.learned_interval == pytest.approx(0.25, rel=0.01)


async def test_learned_pacing_is_forgotten_once_stale() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    limiter.on_rate_limited(0.1)
    now[0] += 1.0
    limiter.on_success()
    limiter.on_rate_limited(0.1)
    assert limiter.pace is not None
    now[0] += PACE_MEMORY + 1
    assert limiter.pace is None
    assert limiter.next_start_in() <= 0


async def test_remaining_header_lets_requests_go_and_waits_for_the_reset_when_empty() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    limiter.on_success({"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "2", "X-RateLimit-Reset": "500"})
    for _ in range(2):
        assert limiter.next_start_in() <= 0
        await limiter.acquire()
        limiter.release()
    assert limiter.next_start_in() == pytest.approx(0.5)  # nothing left: wait for the reset, no 429 needed
    now[0] += 0.5
    assert limiter.next_start_in() <= 0  # one request probes what came back


# --- headers -----------------------------------------------------------------------------------


def test_retry_after_seconds_wins_over_reset() -> None:
    assert retry_after_seconds({"Retry-After": "3", "X-RateLimit-Reset": "9000"}) == 3.0


def test_reset_is_milliseconds() -> None:
    assert retry_after_seconds({"X-RateLimit-Reset": "1500"}) == 1.5


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    later = (now + timedelta(seconds=42)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after_seconds({"Retry-After": later}, now) == pytest.approx(42)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "soon"}, None),
        ({"X-RateLimit-Reset": "nan"}, None),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "1e12"}, MAX_HEADER_PAUSE),
        ({"X-RateLimit-Reset": "999999999999"}, MAX_HEADER_PAUSE),
        ({"Retry-After": "soon", "X-RateLimit-Reset": "250"}, 0.25),
    ],
)
def test_header_edge_cases(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


# --- registry ----------------------------------------------------------------------------------


def test_one_limiter_per_client_id() -> None:
    reset_limiters()
    try:
        a = limiter_for("client-a")
        assert limiter_for("client-a") is a
        assert limiter_for("client-b") is not a
        limiter_for("client-a", RateLimitSettings(max_concurrency=7, max_requests_per_second=3))
        assert (a.max_concurrency, a.max_requests_per_second) == (7, 3)
    finally:
        reset_limiters()
    assert limiter_for("client-a") is not a


@settings(deadline=None)  # CI machines are shared; timing is not what these test
@given(
    st.dictionaries(
        st.sampled_from(["Retry-After", "X-RateLimit-Reset", "X-RateLimit-Limit"]),
        st.one_of(st.text(max_size=40), st.integers(-(10**15), 10**15).map(str), st.floats().map(str)),
    )
)
def test_any_header_values_give_none_or_a_bounded_pause(headers: dict[str, str]) -> None:
    pause = retry_after_seconds(headers)
    assert pause is None or 0.0 <= pause <= MAX_HEADER_PAUSE
    if "Retry-After" not in headers and "X-RateLimit-Reset" not in headers:
        assert pause is None
