"""Times and durations people type: one reader for every flag and key (--since, --until, --to, start_from)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mimecast_siem.actions.commands import parse_since
from mimecast_siem.collector.backfill.plan import parse_backfill_time
from mimecast_siem.collector.commands import parse_checkpoint_time
from mimecast_siem.config.models import parse_start_from
from mimecast_siem.times import (
    format_duration,
    format_utc,
    parse_duration,
    parse_time_or_age,
    parse_user_time,
    time_back_from,
    utc_now,
)

PLUS_TWO = timezone(timedelta(hours=2))
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-01", datetime(2026, 10, 1, tzinfo=UTC)),
        ("2026-10-01T06:30:00Z", datetime(2026, 10, 1, 6, 30, tzinfo=UTC)),
        ("2026-10-01t06:30:00z", datetime(2026, 10, 1, 6, 30, tzinfo=UTC)),
        (" 2026-10-01T06:30:00 ", datetime(2026, 10, 1, 6, 30, tzinfo=UTC)),
        ("2026-10-01 06:30:00.750Z", datetime(2026, 10, 1, 6, 30, 0, 750000, tzinfo=UTC)),
        ("2026-10-01T06:30:00+0000", datetime(2026, 10, 1, 6, 30, tzinfo=UTC)),
        ("2026-10-01T08:30:00+02:00", datetime(2026, 10, 1, 8, 30, tzinfo=PLUS_TWO)),
    ],
)
def test_an_absolute_time_without_offset_is_utc_and_a_given_offset_is_kept(text: str, expected: datetime) -> None:
    parsed = parse_user_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("text", ["", "7d", "now", "2026-13-01", "01/10/2026", "2026-10-01Zz"])
def test_what_is_not_an_absolute_time_is_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - callers word the message with their flag
        parse_user_time(text)


def test_a_time_or_an_age_reads_durations_times_and_what_yaml_gives() -> None:
    assert parse_time_or_age("7d") == timedelta(days=7)
    assert parse_time_or_age("PT5M") == timedelta(minutes=5)
    assert parse_time_or_age(90) == timedelta(seconds=90)
    assert parse_time_or_age("2026-11-01T00:00:00Z") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_time_or_age(date(2026, 11, 1)) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_time_or_age(datetime(2026, 11, 1, 3)) == datetime(2026, 11, 1, 3, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"duration back from now .* ISO-8601 time \(2026-11-01T00:00:00Z\)"):
        parse_time_or_age("last tuesday")
    with pytest.raises(ValueError, match="duration back from now"):
        parse_time_or_age([1])
    assert time_back_from(timedelta(hours=2), NOW) == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert time_back_from(NOW - timedelta(days=1), NOW) == NOW - timedelta(days=1)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_every_flag_and_key_reads_a_time_the_same_way(when: datetime) -> None:
    text = when.isoformat()
    assert parse_user_time(text) == when
    assert parse_start_from(text) == when
    assert parse_since(text, NOW) == when
    assert parse_backfill_time("--since", text) == when.replace(microsecond=0)
    if when <= NOW:
        assert parse_checkpoint_time(text, NOW) == when.replace(microsecond=0)


@pytest.mark.parametrize("text", ["90", "30s", "5m", "1h", "2d", "1w", "500ms", "PT5M", "P1DT2H"])
def test_a_duration_in_any_accepted_form_reads_back_from_its_short_form(text: str) -> None:
    value = parse_duration(text)
    assert parse_duration(format_duration(value)) == value
    assert parse_since(text, NOW) == NOW - value


def test_times_for_people_are_utc_to_the_second() -> None:
    assert format_utc(datetime(2026, 11, 25, 12, 0, 5, 999_000, tzinfo=PLUS_TWO)) == "2026-11-25T10:00:05Z"
    now = utc_now()
    assert now.utcoffset() == timedelta(0)
    assert parse_user_time(format_utc(now)) == now.replace(microsecond=0)
