"""The late-arrival tracker (pure): which slice is due, which ids were read, when tracking gives up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mimecast_siem.collector import late_audit
from mimecast_siem.collector.late_audit import KnownIds, LateArrivalTracker
from mimecast_siem.collector.windows import FetchRange
from tests.sinks.builders import batch

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LAG, OVERLAP, EVERY = timedelta(seconds=60), timedelta(minutes=5), timedelta(minutes=10)


def test_slices_are_due_once_their_bound_passed_by_a_whole_period() -> None:
    t = LateArrivalTracker(EVERY)
    assert t.next_slice(T0, lag=LAG, overlap=OVERLAP) is None  # not tracking yet
    t.start(T0)
    t.start(T0 + timedelta(hours=1))  # no-op while tracking
    assert t.tracked_from == T0
    due = T0 + LAG + OVERLAP + 2 * EVERY
    assert t.next_slice(due - timedelta(seconds=1), lag=LAG, overlap=OVERLAP) is None
    assert t.next_slice(due, lag=LAG, overlap=OVERLAP) == FetchRange(T0, T0 + EVERY)


def test_known_ids_by_minute_and_forgetting_audited_minutes() -> None:
    t = LateArrivalTracker(EVERY)
    t.start(T0)
    t.track(["old"], [T0 - timedelta(seconds=1)])  # before tracking started: ignored
    t.track(["a", "b", "a"], [T0, T0 + timedelta(seconds=30), T0])
    t.track(["c"], [T0 + timedelta(minutes=2)])
    assert t.size == 3
    assert t.known(FetchRange(T0, T0 + timedelta(minutes=1))) == {"a", "b"}
    t.audited(T0 + timedelta(minutes=1))
    assert t.size == 1
    assert t.known(FetchRange(T0, T0 + timedelta(minutes=3))) == {"c"}


def test_tracking_restarts_when_a_backlog_would_hold_too_many_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(late_audit, "MAX_TRACKED_IDS", 2)
    t = LateArrivalTracker(EVERY)
    t.start(T0)
    t.track(["a", "b", "c"], [T0, T0, T0])
    assert (t.tracked_from, t.size) == (None, 0)


def test_the_audit_dedupe_passes_only_ids_never_read() -> None:
    events = batch(4)
    known = KnownIds({events[0].event_id, events[2].event_id})
    fresh, dropped = known.fresh([*events, events[1]])
    assert [e.event_id for e in fresh] == [events[1].event_id, events[3].event_id]
    assert dropped == 3
