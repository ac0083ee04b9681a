"""Dates on the wire: we send ``+0000``, we accept every form peers and Mimecast use (section 2.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.mimecast import format_mimecast_time, parse_mimecast_time

aware = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
)


def test_format_is_the_documented_form() -> None:
    assert format_mimecast_time(datetime(2026, 11, 25, 10, 0, tzinfo=UTC)) == "2026-11-25T10:00:00+0000"


def test_format_converts_other_offsets_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert format_mimecast_time(datetime(2026, 11, 25, 12, 0, 5, tzinfo=plus_two)) == "2026-11-25T10:00:05+0000"


def test_format_truncates_sub_seconds_never_rounding_up() -> None:
    assert format_mimecast_time(datetime(2026, 1, 1, 0, 0, 59, 999_999, tzinfo=UTC)) == "2026-01-01T00:00:59+0000"


def test_format_refuses_naive() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_mimecast_time(datetime(2026, 11, 25, 10, 0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T10:00:00+0000", datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2026-11-25T10:00:00+00:00", datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2026-11-25T10:00:00Z", datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2026-11-25T10:00:00.123Z", datetime(2026, 11, 25, 10, 0, 0, 123_000, tzinfo=UTC)),
        ("2026-11-25T10:00:00.123456789+0000", datetime(2026, 11, 25, 10, 0, 0, 123_456, tzinfo=UTC)),
        ("2026-11-25T15:30:00+0530", datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2026-11-25T02:00:00-08:00", datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2026-11-25 10:00:00+0000", datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("1732010000123", datetime(2024, 11, 19, 9, 53, 20, 123_000, tzinfo=UTC)),
    ],
)
def test_parse_accepts_every_known_form(text: str, expected: datetime) -> None:
    parsed = parse_mimecast_time(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_parse_epoch_milliseconds_number() -> None:
    assert parse_mimecast_time(1732010000123) == datetime(2024, 11, 19, 9, 53, 20, 123_000, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-11-25T10:00:00", "2026-11-25 10:00"])
def test_parse_refuses_naive(text: str) -> None:
    with pytest.raises(ValueError, match="naive"):
        parse_mimecast_time(text)


@pytest.mark.parametrize("bad", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-25T10:00:00+2500", True, None])
def test_parse_refuses_garbage_with_a_clear_message(bad: object) -> None:
    with pytest.raises(ValueError, match=r"timestamp|offset|boolean"):
        parse_mimecast_time(bad)  # type: ignore[arg-type]


def test_parse_error_quotes_a_shortened_value() -> None:
    with pytest.raises(ValueError, match="not a Mimecast timestamp") as info:
        parse_mimecast_time("x" * 500)
    assert len(str(info.value)) < 300


@settings(deadline=None)  # CI machines are shared; timing is not what these test
@given(aware)
def test_format_then_parse_round_trips_to_the_second(when: datetime) -> None:
    parsed = parse_mimecast_time(format_mimecast_time(when))
    assert parsed == when.astimezone(UTC).replace(microsecond=0)


@settings(deadline=None)  # CI machines are shared; timing is not what these test
@given(aware)
def test_parse_of_isoformat_is_exact(when: datetime) -> None:
    assert parse_mimecast_time(when.isoformat()) == when


@settings(deadline=None)  # CI machines are shared; timing is not what these test
@given(st.integers(min_value=0, max_value=4_102_444_800_000))
def test_epoch_milliseconds_are_exact(millis: int) -> None:
    parsed = parse_mimecast_time(millis)
    assert round(parsed.timestamp() * 1000) == millis


@settings(deadline=None)  # CI machines are shared; timing is not what these test
@given(st.integers(min_value=10**9, max_value=4_102_444_800_000))
def test_epoch_milliseconds_as_digit_strings(millis: int) -> None:
    assert parse_mimecast_time(str(millis)) == parse_mimecast_time(millis)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-01T01:00:00+0100", datetime(2027, 1, 1, tzinfo=UTC)),  # the new year east of UTC is 2027 in UTC too
        ("2026-12-31T19:00:00-0500", datetime(2027, 1, 1, tzinfo=UTC)),  # 2026 west of UTC is already 2027
        ("2027-01-01T05:29:59.999+05:30", datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
        ("2026-12-31T23:59:59.999+0000", datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),  # not rounded up
        ("2026-12-31T23:59:59.9999999Z", datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),  # cut, not 2027
        ("2028-02-29T23:59:59Z", datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)),  # the leap day
        ("2028-03-01T00:59:59+0100", datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)),
        (1798761599999, datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),  # epoch ms, the year's last
        ("1798761600000", datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
def test_times_at_calendar_edges_keep_their_instant(text: str | int, expected: datetime) -> None:
    assert parse_mimecast_time(text) == expected


def test_times_on_the_wire_never_move_past_a_calendar_edge() -> None:
    # Truncated, never rounded: the last microsecond of a year is still sent as that year.
    assert format_mimecast_time(datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == "2026-12-31T23:59:59+0000"
    leap = datetime(2028, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert format_mimecast_time(leap) == "2028-02-29T23:30:00+0000"
    with pytest.raises(ValueError, match="day is out of range"):
        parse_mimecast_time("2027-02-29T00:00:00Z")  # no leap day in 2027
