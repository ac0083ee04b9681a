"""Property tests of the LEEF 2.0 encoder: every line parses back strictly to the sanitised values.

The strict parser here reads the header (six ``|``-separated fields, the sixth declaring the
delimiter as one character or ``xNN``/``0xNN``), then splits attributes on the delimiter and each
attribute on its first ``=``. Values must equal the input after the documented sanitisation
(delimiter, CR, LF and other control characters → space) and length caps.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.events import Event
from mimecast_siem.sinks.formats.cef import truncate
from mimecast_siem.sinks.formats.leef import (
    URL_LIMIT,
    VALUE_LIMIT,
    LeefEncoder,
    header_delimiter,
    parse_delimiter,
    sanitise_value,
)

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class LeefSyntaxError(ValueError):
    pass


def parse_leef(line: str) -> tuple[list[str], str, list[tuple[str, str]]]:
    """Strictly parse one LEEF 2.0 line into (header fields, delimiter, attributes in order)."""
    if "\n" in line or "\r" in line:
        raise LeefSyntaxError("raw CR/LF in a LEEF line")
    parts = line.split("|", 6)
    if len(parts) != 7 or parts[0] != "LEEF:2.0":
        raise LeefSyntaxError("not a LEEF 2.0 header")
    declared = parts[5]
    match = re.fullmatch(r"(?:0x|x)([0-9A-Fa-f]{2})", declared)
    if match:
        delimiter = chr(int(match.group(1), 16))
    elif len(declared) == 1:
        delimiter = declared
    else:
        raise LeefSyntaxError(f"bad delimiter declaration {declared!r}")
    attributes: list[tuple[str, str]] = []
    for item in parts[6].split(delimiter):
        key, sep, value = item.partition("=")
        if not sep or not _KEY.match(key):
            raise LeefSyntaxError(f"bad attribute {item[:40]!r}")
        attributes.append((key, value))
    return parts[:5], delimiter, attributes


_nasty = st.text(alphabet=st.sampled_from([*"|=\\\n\r ^~;#\t\x00\x1b\x7f", "é", "🎉"]), min_size=1, max_size=40)
_unicode = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=200)
_huge = st.tuples(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=8), st.integers(1000, 9000)).map(
    lambda t: (t[0] * t[1])[:70_000]
)
values = st.one_of(_unicode, _nasty, _huge)
delimiters = st.sampled_from(["^", "tab", "x09", "0x7E", "~", ";", "#", "!"])


@settings(max_examples=80, deadline=None)
@given(delimiter=delimiters, subject=values, url=values, sender=values, policy=values, category=values, tenant=values)
def test_every_attribute_round_trips(
    delimiter: str, subject: str, url: str, sender: str, policy: str, category: str, tenant: str
) -> None:
    raw = {
        "subject": subject,
        "url": url,
        "fromUserEmailAddress": sender,
        "ttpDefinition": policy,
        "category": category,
        "scanResult": "clean",
        "sendingIp": "10.0.0.1",
    }
    event = Event("e" * 32, tenant, "ttp-url", datetime(2026, 11, 25, 10, 0, 0, 987654, tzinfo=UTC), {}, raw)
    encoder = LeefEncoder(delimiter=delimiter, device_version="1.2")
    [line] = encoder.encode(event)
    assert isinstance(line, str)
    header, declared, attrs = parse_leef(line)
    assert declared == encoder.delimiter
    assert header == ["LEEF:2.0", "Mimecast", "Email Security", "1.2", "ttp-url:clean"]
    got = dict(attrs)
    assert len(got) == len(attrs), "duplicate attribute keys"

    def expect(value: str, cap: int = VALUE_LIMIT) -> str:
        return sanitise_value(truncate(value, cap), encoder.delimiter)

    assert got["subject"] == expect(subject)
    assert got["url"] == expect(url, URL_LIMIT)
    assert got["sender"] == expect(sender)
    assert got["policy"] == expect(policy)
    assert got["category"] == expect(category)
    assert got["tenant"] == expect(tenant)
    assert got["devTime"] == "2026-11-25T10:00:00.987+0000"
    assert got["devTimeFormat"] == "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
    assert got["sev"] == "1"
    assert got["src"] == "10.0.0.1"
    assert got["eventId"] == "e" * 32
    # Sanitisation never leaves the delimiter or a line break inside a value.
    for _, value in attrs:
        assert encoder.delimiter not in value
        assert "\n" not in value
        assert "\r" not in value


@settings(max_examples=200, deadline=None)
@given(value=values, delimiter=delimiters)
def test_sanitise_replaces_exactly_the_dangerous_characters(value: str, delimiter: str) -> None:
    delim = parse_delimiter(delimiter)
    out = sanitise_value(value, delim)
    assert len(out) == len(value)
    for before, after in zip(value, out, strict=True):
        dangerous = before == delim or before == "\x7f" or (before < " " and before != "\t")
        assert after == (" " if dangerous else before)


def test_header_declares_tab_in_hex_and_printables_as_themselves() -> None:
    assert header_delimiter("\t") == "x09"
    assert header_delimiter("^") == "^"


@pytest.mark.parametrize(
    ("given_value", "expected"), [("^", "^"), ("tab", "\t"), ("\\t", "\t"), ("x09", "\t"), ("0x5E", "^"), ("~", "~")]
)
def test_parse_delimiter_accepts_documented_forms(given_value: str, expected: str) -> None:
    assert parse_delimiter(given_value) == expected


@pytest.mark.parametrize("bad", ["|", "=", "\\", ".", "ab", "a", "1", " ", "", "x7c", "é"])
def test_parse_delimiter_refuses_unusable_values_with_a_clear_message(bad: str) -> None:
    with pytest.raises(ValueError, match="LEEF delimiter"):
        parse_delimiter(bad)


def test_header_pipes_and_controls_in_event_id_are_made_safe() -> None:
    event = Event("e" * 32, "acme", "weird|stream\nname", datetime(2026, 1, 1, tzinfo=UTC), {}, {})
    [line] = LeefEncoder().encode(event)
    assert isinstance(line, str)
    header, _, attrs = parse_leef(line)
    assert re.fullmatch(r"[A-Za-z0-9:_.-]+", header[4])
    assert dict(attrs)["stream"] == "weird|stream name"
