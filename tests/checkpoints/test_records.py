"""Pure rules of the state store: window splitting, job keys, status transitions, audit records."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.checkpoints import (
    BACKFILL_TRANSITIONS,
    AuditRecord,
    BackfillStatus,
    backfill_job_key,
    count_windows,
    split_range,
)
from mimecast_siem.checkpoints.records import transition_allowed

instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
# Ratios stay below a few thousand windows per example so the property runs quickly.
windows = st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=3))
spans = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2))


@settings(deadline=None)
@given(since=instants, span=spans, window=windows)
def test_split_range_covers_the_range_contiguously_with_bounded_windows(
    since: datetime, span: timedelta, window: timedelta
) -> None:
    until = since + span
    parts = list(split_range(since, until, window))
    assert len(parts) == count_windows(since, until, window)
    if span == timedelta(0):
        assert parts == []
        return
    assert parts[0][0] == since
    assert parts[-1][1] == until
    for (_, end), (start, _) in itertools.pairwise(parts):
        assert end == start
    assert all(timedelta(0) < end - start <= window for start, end in parts)
    # every window but the last is exactly the window size
    assert all(end - start == window for start, end in parts[:-1])


def test_split_range_refuses_a_non_positive_window() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="window must be a positive duration"):
        list(split_range(since, since + timedelta(hours=1), timedelta(0)))


@given(
    streams=st.lists(st.sampled_from(["ttp-url", "ttp-attachment", "held-messages"]), min_size=1),
    sinks=st.lists(st.sampled_from(["file", "hec", "syslog"])),
    since=instants,
    span=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30)),
)
def test_job_key_ignores_order_and_repetition_and_offset(
    streams: list[str], sinks: list[str], since: datetime, span: timedelta
) -> None:
    until = since + span
    key = backfill_job_key("acme", streams, since, until, sinks)
    shifted = timezone(timedelta(hours=5, minutes=30))
    assert key == backfill_job_key("acme", list(reversed(streams)) * 2, since, until, sorted(sinks))
    assert key == backfill_job_key("acme", streams, since.astimezone(shifted), until.astimezone(shifted), sinks)
    assert key != backfill_job_key("other", streams, since, until, sinks)
    assert key != backfill_job_key("acme", streams, since, until + timedelta(seconds=1), sinks)
    assert key != backfill_job_key("acme", streams, since - timedelta(seconds=1), until, sinks)
    assert key != backfill_job_key("acme", [*streams, "ttp-impersonation"], since, until, sinks)
    assert key != backfill_job_key("acme", streams, since, until, [*sinks, "stdout"])


def test_job_key_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        backfill_job_key("acme", ["ttp-url"], datetime(2026, 1, 1), datetime(2026, 1, 2, tzinfo=UTC), [])


def test_done_is_final_and_cancelled_can_only_be_requeued() -> None:
    assert BACKFILL_TRANSITIONS[BackfillStatus.DONE] == frozenset()
    assert BACKFILL_TRANSITIONS[BackfillStatus.CANCELLED] == {BackfillStatus.QUEUED}
    assert transition_allowed(BackfillStatus.QUEUED, BackfillStatus.RUNNING)
    assert transition_allowed(BackfillStatus.RUNNING, BackfillStatus.CANCELLED)
    assert not transition_allowed(BackfillStatus.DONE, BackfillStatus.QUEUED)
    assert not transition_allowed(BackfillStatus.CANCELLED, BackfillStatus.RUNNING)
    assert set(BACKFILL_TRANSITIONS) == set(BackfillStatus)


def _audit(**overrides: object) -> AuditRecord:
    fields: dict[str, object] = {
        "at": datetime(2026, 1, 1, tzinfo=UTC),
        "actor": "soar",
        "action": "release-held-message",
        "param_digest": _digest({"id": "x"}),
        "outcome": "ok",
    }
    fields.update(overrides)
    return AuditRecord(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"at": datetime(2026, 1, 1)}, "AuditRecord.at must be a timezone-aware"),
        ({"param_digest": "Bearer abc.def"}, "param_digest must be 16-128 lowercase hex"),
        ({"param_digest": '{"token": "s3cret"}'}, "param_digest must be 16-128 lowercase hex"),
        ({"outcome": "failed because token s3cret was wrong"}, "outcome must be a short lowercase word"),
        ({"error_code": "token s3cret"}, "error_code must be 1-64 characters"),
        ({"actor": ""}, "AuditRecord.actor must be a non-empty string"),
        ({"duration_ms": -1}, "duration_ms must be >= 0"),
        ({"mimecast_status": 42}, "mimecast_status must be an HTTP status"),
    ],
)
def test_audit_record_refuses_free_text_and_bad_values(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _audit(**overrides)


def test_audit_record_accepts_bounded_codes() -> None:
    record = _audit(error_code="err_validation_blank", mimecast_status=400, outcome="refused", tenant="acme")
    assert record.error_code == "err_validation_blank"


def _digest(params: object) -> str:
    return hashlib.sha256(repr(params).encode()).hexdigest()
