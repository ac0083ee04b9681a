"""Validation of backfill requests (pure): every problem named with its flag, value and what is allowed."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mimecast_siem.checkpoints import count_windows, split_range
from mimecast_siem.collector.backfill.plan import (
    BackfillInputError,
    BackfillRequest,
    backfillable_streams,
    parse_backfill_time,
    plan_backfill,
    target_sinks,
)
from mimecast_siem.config.models import STREAM_NAMES, Settings
from tests.collector.helpers import daemon_config

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
#: Every registered stream (the tenant of these tests lists them all).
# The SIEM streams keep 7 days only: the default --since of these tests is further back.
ALL = tuple(s for s in STREAM_NAMES if not s.startswith("siem-"))


def settings(tmp_path: Path, **top: Any) -> Settings:
    raw = daemon_config("http://127.0.0.1:9", "client-1", "secret-value", tmp_path, streams=ALL, **top)
    return Settings.model_validate(raw)


def request(**fields: Any) -> BackfillRequest:
    base: dict[str, Any] = {
        "tenant": "acme",
        "streams": ("ttp-url",),
        "since": "2026-10-01",
        "until": "2026-11-01",
    }
    base.update(fields)
    return BackfillRequest(**base)


def problems_of(tmp_path: Path, req: BackfillRequest, **top: Any) -> list[str]:
    with pytest.raises(BackfillInputError) as caught:
        plan_backfill(settings(tmp_path, **top), req, NOW)
    return caught.value.problems


def test_a_valid_request_becomes_a_plan_with_config_defaults(tmp_path: Path) -> None:
    plan = plan_backfill(settings(tmp_path), request(streams=("audit", "ttp-url")), NOW)
    assert plan.tenant == "acme"
    assert plan.streams == ("ttp-url", "audit")  # catalogue order, whatever the flag order
    assert plan.since == datetime(2026, 10, 1, tzinfo=UTC)
    assert plan.until == datetime(2026, 11, 1, tzinfo=UTC)
    assert plan.window == timedelta(hours=1)  # backfill.window default
    assert plan.concurrency == 4  # backfill.concurrency default
    assert plan.windows_per_stream == 31 * 24
    assert plan.windows_total == 2 * 31 * 24
    assert plan.sinks == ()


def test_flags_override_the_defaults(tmp_path: Path) -> None:
    plan = plan_backfill(settings(tmp_path), request(window="15m", concurrency=8, sinks=("out", "out")), NOW)
    assert plan.window == timedelta(minutes=15)
    assert plan.concurrency == 8
    assert plan.sinks == ("out",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-01", datetime(2026, 10, 1, tzinfo=UTC)),
        ("2026-10-01T06:30:00Z", datetime(2026, 10, 1, 6, 30, tzinfo=UTC)),
        ("2026-10-01T06:30:00", datetime(2026, 10, 1, 6, 30, tzinfo=UTC)),
        ("2026-10-01T08:30:00+02:00", datetime(2026, 10, 1, 6, 30, tzinfo=UTC)),
        ("2026-10-01 06:30:00.750Z", datetime(2026, 10, 1, 6, 30, tzinfo=UTC)),
    ],
)
def test_absolute_times_are_read_as_utc_whole_seconds(text: str, expected: datetime) -> None:
    assert parse_backfill_time("--since", text) == expected


@pytest.mark.parametrize("text", ["7d", "now", "yesterday", "", "2026-13-01", "01/10/2026"])
def test_relative_or_malformed_times_are_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ValueError, match="--since") as caught:
        parse_backfill_time("--since", text)
    assert "ISO-8601" in str(caught.value)
    assert "resume" in str(caught.value)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_any_utc_time_written_in_iso_reads_back(when: datetime) -> None:
    assert parse_backfill_time("--until", when.isoformat()) == when.replace(microsecond=0)


def test_until_before_since(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, request(since="2026-11-01", until="2026-10-01"))
    assert "--until '2026-10-01'" in problem
    assert "is not after --since '2026-11-01'" in problem


def test_until_equal_to_since(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, request(since="2026-10-01", until="2026-10-01T00:00:00Z"))
    assert "is not after" in problem


def test_dates_in_the_future(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, request(since="2026-12-01", until="2026-12-02"))
    assert any("--since '2026-12-01'" in p and "in the future" in p for p in problems)
    assert any("--until '2026-12-02'" in p and "in the future" in p for p in problems)
    (problem,) = problems_of(tmp_path, request(until="2026-11-26"))
    assert "--until '2026-11-26' (2026-11-26T00:00:00Z) is in the future; now is 2026-11-25T12:00:00Z" in problem


def test_audit_history_is_limited_to_60_days(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, request(streams=("audit",), since="2026-09-01", until="2026-10-01"))
    assert "--since '2026-09-01' is too far back for stream audit" in problem
    assert "60d" in problem
    assert "at or after 2026-09-26T12:01:00Z" in problem
    # Within the limit it is fine; streams without a known limit are not restricted.
    plan_backfill(settings(tmp_path), request(streams=("audit",), since="2026-10-01"), NOW)
    plan_backfill(settings(tmp_path), request(streams=("ttp-url",), since="2026-01-01"), NOW)


@pytest.mark.parametrize(
    ("stream", "kind"), [("held-messages", "snapshot"), ("hold-summary", "gauge"), ("email-queues", "gauge")]
)
def test_snapshot_and_gauge_streams_cannot_be_backfilled_and_say_why(tmp_path: Path, stream: str, kind: str) -> None:
    (problem,) = problems_of(tmp_path, request(streams=(stream,)))
    assert f"--stream {stream!r} cannot be backfilled: {stream} is a {kind} stream" in problem
    assert "past" in problem
    assert "ttp-url, ttp-attachment, ttp-impersonation, audit" in problem


def test_unknown_tenant_and_stream_are_reported_together(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, request(tenant="globex", streams=("ttp-urls",)))
    assert "--tenant 'globex' is not configured; configured tenants: acme" in problems
    assert any(
        p.startswith("--stream 'ttp-urls' is unknown; streams that can be backfilled: ttp-url") for p in problems
    )


def test_stream_choice_is_required_and_exclusive(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, request(streams=()))
    assert "give --stream (repeatable) or --all-streams" in problem
    (problem,) = problems_of(tmp_path, request(all_streams=True))
    assert problem == "--stream and --all-streams exclude each other; give one of them"


def test_all_streams_takes_the_enabled_log_streams_and_notes_the_others(tmp_path: Path) -> None:
    config = settings(tmp_path)
    plan = plan_backfill(config, request(streams=(), all_streams=True), NOW)
    enabled = config.enabled_streams(config.tenants[0])
    assert plan.streams == tuple(s for s in backfillable_streams() if s in enabled)
    assert plan.streams
    assert any("skips held-messages, hold-summary, email-queues" in note for note in plan.notes)


def test_all_streams_without_any_log_stream(tmp_path: Path) -> None:
    raw = daemon_config("http://127.0.0.1:9", "c", "secret-value", tmp_path, streams=("held-messages",))
    (problem,) = _problems(Settings.model_validate(raw), request(streams=(), all_streams=True))
    assert "--all-streams: tenant 'acme' has no enabled stream that can be backfilled" in problem


def _problems(s: Settings, req: BackfillRequest) -> list[str]:
    with pytest.raises(BackfillInputError) as caught:
        plan_backfill(s, req, NOW)
    return caught.value.problems


@pytest.mark.parametrize(
    ("window", "fragment"),
    [
        ("soon", "--window 'soon' is not a duration"),
        ("0s", "must be a whole number of seconds, at least 1s"),
        ("1.5s", "must be a whole number of seconds"),
    ],
)
def test_bad_windows(tmp_path: Path, window: str, fragment: str) -> None:
    (problem,) = problems_of(tmp_path, request(window=window))
    assert fragment in problem


def test_a_window_that_cuts_too_many_windows(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, request(since="2000-01-01", window="1s"))
    assert "--window 1s cuts this range into" in problem
    assert "use a larger --window" in problem


@pytest.mark.parametrize("concurrency", [0, 33, -1])
def test_concurrency_bounds(tmp_path: Path, concurrency: int) -> None:
    (problem,) = problems_of(tmp_path, request(concurrency=concurrency))
    assert f"--concurrency {concurrency} is out of range; allowed: 1 to 32" == problem


def test_sinks_must_be_configured_enabled_and_routed(tmp_path: Path) -> None:
    sinks = [
        {"name": "out", "type": "file", "path": str(tmp_path / "a")},
        {"name": "soc", "type": "file", "path": str(tmp_path / "b")},
        {"name": "old", "type": "file", "path": str(tmp_path / "c"), "enabled": False},
    ]
    routes = [{"streams": ["audit"], "sinks": ["soc"]}, {"streams": ["*"], "sinks": ["out"]}]
    problems = problems_of(tmp_path, request(sinks=("nope", "old")), sinks=sinks, routes=routes)
    assert "--sink 'nope' is not configured; configured sinks: out, soc, old" in problems
    assert "--sink 'old' is disabled (sinks[].enabled: false); enabled sinks: out, soc" in problems
    (problem,) = problems_of(tmp_path, request(streams=("ttp-url",), sinks=("soc",)), sinks=sinks, routes=routes)
    assert (
        "none of them receives stream ttp-url of tenant acme under the configured routes (it goes to: out)" in problem
    )
    s = settings(tmp_path, sinks=sinks, routes=routes)
    plan = plan_backfill(s, request(streams=("audit",), sinks=("soc",), since="2026-11-01", until="2026-11-02"), NOW)
    assert target_sinks(s, "acme", "audit", plan.sinks) == ["soc"]  # not "out", which the routes also select
    assert target_sinks(s, "acme", "audit", ()) == ["out", "soc"]
    assert target_sinks(s, "acme", "ttp-url", ()) == ["out"]


def test_a_stream_routed_nowhere(tmp_path: Path) -> None:
    routes = [{"streams": ["audit"], "sinks": ["out"]}]
    (problem,) = problems_of(tmp_path, request(streams=("ttp-url",)), routes=routes)
    assert problem == (
        "stream ttp-url of tenant acme is not routed to any enabled sink; add a route or name a sink with --sink"
    )


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path, request(tenant="nobody", streams=("hold-summary",), since="x", until="y", concurrency=0, window="0s")
    )
    assert len(problems) == 6


def test_a_range_ending_close_to_now_gets_a_note(tmp_path: Path) -> None:
    plan = plan_backfill(settings(tmp_path), request(since="2026-11-25T10:00:00Z", until="2026-11-25T11:59:50Z"), NOW)
    assert any("may still arrive" in note for note in plan.notes)
    plan = plan_backfill(settings(tmp_path), request(since="2026-11-25T10:00:00Z", until="2026-11-25T11:00:00Z"), NOW)
    assert plan.notes == ()


@given(
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=1, max_value=10**5),
)
def test_windows_cover_the_range_contiguously_and_bounded(offset: int, span: int, window_seconds: int) -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=offset)
    until = since + timedelta(seconds=span)
    window = timedelta(seconds=window_seconds)
    if count_windows(since, until, window) > 2000:
        window = timedelta(seconds=span // 1000 + 1)
    windows = list(split_range(since, until, window))
    assert windows[0][0] == since
    assert windows[-1][1] == until
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    assert all(timedelta(0) < end - start <= window for start, end in windows)
    assert len(windows) == count_windows(since, until, window)


def test_siem_streams_are_refused_beyond_the_seven_days_files_are_kept(tmp_path: Path) -> None:
    raw = daemon_config("http://127.0.0.1:9", "c", "secret-value", tmp_path, streams=())
    raw["tenants"][0]["siem"] = {"types": ["receipt"]}
    config = Settings.model_validate(raw)
    old = request(streams=("siem-receipt",), since="2026-11-10T00:00:00Z", until="2026-11-12T00:00:00Z")
    with pytest.raises(BackfillInputError) as caught:
        plan_backfill(config, old, NOW)
    assert any("too far back for stream siem-receipt" in p and "last 1w" in p for p in caught.value.problems)
    recent = request(streams=("siem-receipt",), since="2026-11-24T00:00:00Z", until="2026-11-25T00:00:00Z")
    assert plan_backfill(config, recent, NOW).streams == ("siem-receipt",)
