"""CEF's extension and LEEF's attributes are assembled in one joined pass: the same text as pair by pair.

``extension_text`` escapes every value at once inside the joined extension (a mark holds each key's
``=``), LEEF sanitises its values joined by ``|``; a value holding the mark takes the pair-by-pair
path. These properties hold both paths to the plain definition, whatever the values contain.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.sinks.formats.cef import DEFAULT_LIMIT, KEY_LIMITS, escape_extension_value, extension_text, truncate
from mimecast_siem.sinks.formats.leef import VALUE_LIMIT, dev_time, leef_line, sanitise_value

#: Characters that escaping, sanitising or the marks treat specially, and a little of everything else.
_ALPHABET = st.sampled_from(["a", "=", "\\", "\n", "\r", "\x00", "|", "^", "\t", "\x7f", " ", "é", "\u202e"])
_VALUES = st.one_of(
    st.text(_ALPHABET, max_size=12),
    st.text(_ALPHABET, min_size=60, max_size=70),  # over act/outcome's 63
    st.builds(lambda c, n: c * n, st.sampled_from(["u", "=", "|"]), st.integers(1000, 4100)),
)
_CEF_KEYS = st.sampled_from(["rt", "act", "outcome", "externalId", "msg", "request", "cs1", "cn1", "custom"])


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(_CEF_KEYS, _VALUES), max_size=8))
def test_cef_extension_is_the_pairs_capped_and_escaped_one_by_one(pairs: list[tuple[str, str]]) -> None:
    expected = " ".join(
        f"{key}={escape_extension_value(truncate(value, KEY_LIMITS.get(key, DEFAULT_LIMIT)))}" for key, value in pairs
    )
    assert extension_text(pairs) == expected


def test_cef_value_holding_the_mark_keeps_it_and_still_escapes() -> None:
    assert extension_text([("msg", "a\x00b=c"), ("act", "x\\y")]) == "msg=a\x00b\\=c act=x\\\\y"


@settings(max_examples=300, deadline=None)
@given(
    attributes=st.lists(st.tuples(st.sampled_from(["devTime", "url", "subject", "x"]), _VALUES), max_size=8),
    delimiter=st.sampled_from(["^", "\t", "~", "#"]),
)
def test_leef_attributes_are_capped_and_sanitised_one_by_one(attributes: list[tuple[str, str]], delimiter: str) -> None:
    limits = {"url": 4000}
    line = leef_line(version="1", event_id="ttp-url:clean", delimiter=delimiter, attributes=attributes, limits=limits)
    body = delimiter.join(
        f"{key}={sanitise_value(truncate(value, limits.get(key, VALUE_LIMIT)), delimiter)}" for key, value in attributes
    )
    declared = "x09" if delimiter == "\t" else delimiter
    assert line == f"LEEF:2.0|Mimecast|Email Security|1|ttp-url:clean|{declared}|{body}"


@settings(max_examples=300, deadline=None)
@given(
    when=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    offset_minutes=st.integers(-600, 600),
)
def test_dev_time_is_the_documented_strftime_text(when: datetime, offset_minutes: int) -> None:
    aware = when.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    utc = aware.astimezone(UTC)
    expected = utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"
    assert dev_time(aware) == expected


def test_dev_time_cuts_milliseconds() -> None:
    assert dev_time(datetime(2026, 12, 7, 21, 39, 39, 999_999, tzinfo=UTC)) == "2026-12-07T21:39:39.999+0000"
