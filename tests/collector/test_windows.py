"""Window planner: contiguous, bounded, never past now - lag, first run from start_from."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.collector.windows import FetchRange, Window, caught_up, fetch_range, plan_windows

NOW = datetime(2026, 11, 25, 12, 0, 0, 500_000, tzinfo=UTC)

durations = st.integers(min_value=0, max_value=7 * 86400).map(lambda s: timedelta(seconds=s))
positive = st.integers(min_value=1, max_value=86400).map(lambda s: timedelta(seconds=s))
moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(
    checkpoint=st.one_of(st.none(), moments),
    now=moments,
    lag=st.integers(min_value=0, max_value=3600).map(lambda s: timedelta(seconds=s)),
    max_window=positive,
    start_from=durations,
    limit=st.integers(min_value=1, max_value=8),
)
def test_windows_are_contiguous_bounded_and_behind_the_head(
    checkpoint: datetime | None,
    now: datetime,
    lag: timedelta,
    max_window: timedelta,
    start_from: timedelta,
    limit: int,
) -> None:
    windows = plan_windows(checkpoint, now, lag=lag, max_window=max_window, start_from=start_from, limit=limit)
    assert len(windows) <= limit
    if not windows:
        return
    expected_start = (checkpoint if checkpoint is not None else now - start_from).replace(microsecond=0)
    assert windows[0].start == expected_start
    for before, after in itertools.pairwise(windows):
        assert before.end == after.start
    for w in windows:
        assert timedelta(0) < w.duration <= max_window
        assert w.end <= now - lag
        assert w.end.microsecond == 0


def test_first_run_defaults_to_one_hour_back_never_years() -> None:
    windows = plan_windows(None, NOW, lag=timedelta(minutes=1), max_window=timedelta(hours=6))
    assert windows == [Window(datetime(2026, 11, 25, 11, 0, 0, tzinfo=UTC), datetime(2026, 11, 25, 11, 59, tzinfo=UTC))]


def test_absolute_start_from_and_history_limit() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    windows = plan_windows(
        None, NOW, lag=timedelta(0), max_window=timedelta(days=365), start_from=start, max_history=timedelta(days=60)
    )
    assert windows[0].start >= NOW - timedelta(days=60)
    assert windows[0].start <= NOW - timedelta(days=59)


def test_long_gap_is_split_and_caught_up_only_at_the_head() -> None:
    checkpoint = datetime(2026, 11, 25, 6, tzinfo=UTC)
    windows = plan_windows(checkpoint, NOW, lag=timedelta(0), max_window=timedelta(hours=1), limit=2)
    assert [w.duration for w in windows] == [timedelta(hours=1)] * 2
    assert not caught_up(windows, NOW, timedelta(0))
    rest = plan_windows(windows[-1].end, NOW, lag=timedelta(0), max_window=timedelta(hours=1))
    assert len(rest) == 4
    assert caught_up(rest, NOW, timedelta(0))


def test_checkpoint_at_or_past_head_plans_nothing() -> None:
    head = NOW.replace(microsecond=0) - timedelta(minutes=1)
    assert plan_windows(head, NOW, lag=timedelta(minutes=1), max_window=timedelta(hours=1)) == []
    assert plan_windows(head + timedelta(hours=1), NOW, lag=timedelta(minutes=1), max_window=timedelta(hours=1)) == []


def test_only_the_window_at_the_checkpoint_rereads_the_overlap() -> None:
    checkpoint = datetime(2026, 11, 25, 10, tzinfo=UTC)
    first, second = plan_windows(checkpoint, NOW, lag=timedelta(0), max_window=timedelta(hours=1), limit=2)
    overlap = timedelta(minutes=5)
    assert fetch_range(first, checkpoint=checkpoint, overlap=overlap) == FetchRange(checkpoint - overlap, first.end)
    assert fetch_range(second, checkpoint=checkpoint, overlap=overlap) == FetchRange(second.start, second.end)


def test_half_open_membership() -> None:
    w = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, tzinfo=UTC))
    assert w.contains(w.start)
    assert not w.contains(w.end)
    assert FetchRange(w.start, w.end).contains(w.start)
    assert not FetchRange(w.start, w.end).contains(w.end)


def test_bad_windows_are_refused() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="not after"):
        Window(t, t)
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="max_window"):
        plan_windows(None, NOW, lag=timedelta(0), max_window=timedelta(0))


@settings(max_examples=200, deadline=None)
@given(millis=st.integers(min_value=1, max_value=120_000), limit=st.integers(min_value=1, max_value=8))
def test_a_fractional_max_window_still_gives_whole_second_windows(millis: int, limit: int) -> None:
    # Windows sized from a measured rate (redelivery_pages) are fractional; the wire format is not:
    # a fractional end is sent floored, so the next window would read its first second twice.
    max_window = timedelta(milliseconds=millis)
    checkpoint = datetime(2026, 11, 25, 11, 50, 0, tzinfo=UTC)
    windows = plan_windows(checkpoint, NOW, lag=timedelta(seconds=2), max_window=max_window, limit=limit)
    assert windows
    assert windows[0].start == checkpoint
    for before, after in itertools.pairwise(windows):
        assert before.end == after.start
    for w in windows:
        assert w.start.microsecond == 0
        assert w.end.microsecond == 0
        assert timedelta(seconds=1) <= w.duration <= max(max_window, timedelta(seconds=1))


def test_a_checkpoint_ahead_of_the_clock_waits_and_then_re_reads_its_overlap() -> None:
    """Clock skew (a replica whose clock ran ahead committed it, or this clock stepped back): nothing is planned
    and the checkpoint is never moved back; once the clock passes it, the first window starts there and
    re-reads the overlap before it, across the year end."""
    lag, overlap = timedelta(minutes=1), timedelta(minutes=5)
    checkpoint = datetime(2027, 1, 1, 0, 2, tzinfo=UTC)
    early = datetime(2026, 12, 31, 23, 55, tzinfo=UTC)
    assert plan_windows(checkpoint, early, lag=lag, max_window=timedelta(hours=1)) == []
    assert caught_up([], early, lag)
    later = checkpoint + lag + timedelta(seconds=30)
    windows = plan_windows(checkpoint, later, lag=lag, max_window=timedelta(hours=1))
    assert windows == [Window(checkpoint, checkpoint + timedelta(seconds=30))]
    assert fetch_range(windows[0], checkpoint=checkpoint, overlap=overlap) == FetchRange(
        datetime(2026, 12, 31, 23, 57, tzinfo=UTC), windows[0].end
    )
