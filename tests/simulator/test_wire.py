"""Dates and envelopes on the wire."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mimecast_siem.simulator.wire import envelope, error_envelope, failure, format_time, parse_time

STAMPS = st.integers(0, 4_102_444_800)  # 1970 .. 2100


@given(STAMPS)
def test_format_then_parse_round_trips(epoch: int) -> None:
    text = format_time(epoch)
    assert text.endswith("+0000")
    assert len(text) == 24
    assert parse_time(text) == epoch


@given(STAMPS)
def test_all_accepted_suffixes_mean_the_same_instant(epoch: int) -> None:
    base = format_time(epoch)[:19]
    assert parse_time(base + "Z") == parse_time(base + "+00:00") == parse_time(base + "+0000") == epoch


def test_offsets_and_fractions() -> None:
    assert parse_time("2026-11-25T13:00:00+01:00") == datetime(2026, 11, 25, 12, tzinfo=UTC).timestamp()
    assert parse_time("2026-11-25T07:00:00-0500") == datetime(2026, 11, 25, 12, tzinfo=UTC).timestamp()
    assert parse_time("2026-11-25T12:00:00.250Z") == datetime(2026, 11, 25, 12, tzinfo=UTC).timestamp() + 0.25
    assert format_time(datetime(2026, 11, 25, 12, 0, 5, 900000, tzinfo=UTC).timestamp()) == "2026-11-25T12:00:05+0000"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "2026-11-25",
        "2026-11-25T12:00:00",
        "2026-11-25 12:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-25T12:00:00+2500",
        17,
    ],
)
def test_bad_dates_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_time(bad)


def test_envelopes() -> None:
    assert envelope([1]) == {"meta": {"status": 200}, "data": [1], "fail": []}
    assert envelope([], pagination={"pageSize": 5})["meta"] == {"status": 200, "pagination": {"pageSize": 5}}
    assert failure({"a": 1}, "err_x", "m") == {
        "key": {"a": 1},
        "errors": [{"code": "err_x", "message": "m", "retryable": False}],
    }
    body = error_envelope(429, "err_rate_limit_exceeded", "slow down", retryable=True)
    assert body["meta"]["status"] == 429
    assert body["fail"][0]["message"] == "slow down"
    assert body["fail"][0]["errors"][0]["retryable"] is True
