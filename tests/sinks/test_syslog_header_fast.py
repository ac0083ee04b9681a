"""The syslog header's per-message path gives the bytes of its definition.

``SyslogMessageBuilder.build`` writes the header from parts kept per stream and tenant;
``_build_general`` is the message step by step (the definition). Both are held together here over any
configuration and message, bad ones included (the same exception, or the same bytes), and the two
timestamp writers are held to their strftime definitions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.sinks.formats.syslog_header import (
    _MONTHS,
    Limited,
    StreamHeader,
    SyslogMessageBuilder,
    rfc3164_timestamp,
    rfc3339_timestamp,
)

WHEN = datetime(2026, 11, 5, 9, 7, 3, 120000, tzinfo=UTC)

# Any character (lone surrogates included: JSON-decoded text can hold them), and the ones the header cares about.
_ANY = st.characters(codec=None, categories=None)
_SPECIAL = st.sampled_from(list('"\\]\n\r =|-@é\U0001f389\ud800\x00\x7f'))
_TEXT = st.one_of(st.text(_ANY, max_size=40), st.text(_SPECIAL, max_size=20))
_HEADER_VALUE = st.one_of(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40), _TEXT)
_SD_ID = st.one_of(st.none(), st.just("mimecast@32473"), st.text(_SPECIAL, min_size=0, max_size=5), _TEXT)
_OFFSET = st.integers(-23 * 60, 23 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
_AWARE = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=_OFFSET)
_TIMESTAMP = st.one_of(_AWARE, _AWARE, st.datetimes())  # naive ones too: refused the same way


def _outcome(call: Any) -> Limited | str:
    try:
        result: Limited = call()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return result


@st.composite
def _builders(draw: st.DrawFn) -> SyslogMessageBuilder:
    streams = draw(
        st.dictionaries(
            st.sampled_from(["ttp-url", "audit", "siem-receipt"]),
            st.builds(
                StreamHeader, app_name=st.one_of(st.none(), _HEADER_VALUE), msgid=st.one_of(st.none(), _HEADER_VALUE)
            ),
            max_size=2,
        )
    )
    return SyslogMessageBuilder(
        rfc=draw(st.sampled_from(["5424", "3164"])),
        facility=draw(st.one_of(st.integers(0, 23), st.integers(-2, 30))),
        hostname=draw(st.one_of(st.just("-"), st.just(""), _HEADER_VALUE)),
        app_name=draw(st.one_of(st.just("mimecast-siem"), st.just(""), _HEADER_VALUE)),
        procid=draw(st.one_of(st.just("-"), st.just(""), st.just("4242"), _HEADER_VALUE)),
        msgid=draw(st.one_of(st.none(), _HEADER_VALUE)),
        sd_id=draw(_SD_ID),
        utf8_bom=draw(st.booleans()),
        lf_safe=draw(st.booleans()),
        max_bytes=draw(st.one_of(st.integers(0, 200), st.integers(200, 9000))),
        streams=streams,
    )


_MESSAGE = st.fixed_dictionaries(
    {
        "severity": st.one_of(st.integers(0, 7), st.integers(-2, 9), st.booleans()),
        "timestamp": _TIMESTAMP,
        "tenant": st.one_of(st.just("acme"), _TEXT),
        "stream": st.one_of(st.sampled_from(["ttp-url", "audit", "siem-receipt"]), _TEXT),
        "event_id": st.one_of(st.text("0123456789abcdef", min_size=32, max_size=32), _TEXT),
        "msg": st.one_of(st.text(_ANY, max_size=300), st.text(_SPECIAL, max_size=100)),
    }
)


@settings(max_examples=400, deadline=None)
@given(builder=_builders(), messages=st.lists(_MESSAGE, min_size=1, max_size=4))
def test_build_is_the_general_path(builder: SyslogMessageBuilder, messages: list[dict[str, Any]]) -> None:
    # Several messages per builder and each twice: the first of a stream and tenant builds its parts,
    # the others reuse them.
    for message in messages + messages:
        expected = _outcome(lambda m=message: builder._build_general(**m))
        assert _outcome(lambda m=message: builder.build(**m)) == expected


def test_parts_are_kept_per_stream_and_tenant() -> None:
    builder = SyslogMessageBuilder(hostname="h", procid="1", streams={"audit": StreamHeader(msgid="AUDIT")})
    common: dict[str, Any] = {"severity": 6, "timestamp": WHEN, "event_id": "e" * 32, "msg": "m"}
    first = builder.build(tenant="acme", stream="audit", **common)
    assert first.data.startswith(
        b'<134>1 2026-11-05T09:07:03.12Z h mimecast-siem 1 AUDIT [mimecast@32473 tenant="acme"'
    )
    other = builder.build(tenant="beta", stream="ttp-url", **common)
    assert b' ttp-url [mimecast@32473 tenant="beta" stream="ttp-url" event_id="eeee' in other.data
    assert set(builder._parts) == {("audit", "acme"), ("ttp-url", "beta")}
    assert builder.build(tenant="acme", stream="audit", **common) == first


def test_an_invalid_sd_id_is_refused_for_every_message() -> None:
    builder = SyslogMessageBuilder(sd_id="bad id")
    for _ in range(2):
        with pytest.raises(ValueError, match="invalid SD-ID"):
            builder.build(severity=6, timestamp=WHEN, tenant="t", stream="audit", event_id="e", msg="m")
    assert not builder._parts


def test_a_3164_procid_that_is_not_utf8_takes_the_general_path() -> None:
    builder = SyslogMessageBuilder(rfc="3164", procid="\ud800")
    for _ in range(2):
        with pytest.raises(UnicodeEncodeError):
            builder.build(severity=6, timestamp=WHEN, tenant="t", stream="audit", event_id="e", msg="m")
    assert builder._parts[("audit", "t")].general


def _rfc3339_by_strftime(when: datetime) -> str:
    """The definition: strftime's text and the fraction without trailing zeros."""
    utc = when.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def _rfc3164_by_strftime(when: datetime) -> str:
    utc = when.astimezone(UTC)
    return f"{_MONTHS[utc.month - 1]} {utc.day:>2} {utc:%H:%M:%S}"


@settings(max_examples=1000, deadline=None)
@given(when=_AWARE)
def test_timestamps_are_their_strftime_definitions(when: datetime) -> None:
    assert rfc3339_timestamp(when) == _rfc3339_by_strftime(when)
    assert rfc3164_timestamp(when) == _rfc3164_by_strftime(when)


@pytest.mark.parametrize("year", [1, 9, 99, 999, 1000, 2026, 9999])
@pytest.mark.parametrize("microsecond", [0, 1, 10, 120000, 999999])
def test_timestamps_over_years_and_fractions(year: int, microsecond: int) -> None:
    when = datetime(year, 3, 4, 5, 6, 7, microsecond, tzinfo=UTC)
    assert rfc3339_timestamp(when) == _rfc3339_by_strftime(when)
    assert rfc3164_timestamp(when) == _rfc3164_by_strftime(when)
