"""Property tests of the CEF encoder: whatever the event holds, the line parses back strictly.

A small strict CEF parser lives here (header: only ``\\|`` and ``\\\\`` escapes; extension: only
``\\\\``, ``\\=``, ``\\n``, ``\\r``; no raw CR/LF or unescaped ``=`` inside a value). Every value
must come back equal to the input, modulo the documented length caps with their marker.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.events import Event
from mimecast_siem.sinks.formats.cef import (
    KEY_LIMITS,
    TRUNCATION_MARKER,
    CefEncoder,
    cef_line,
    escape_extension_value,
    escape_header,
    truncate,
)
from mimecast_siem.streams.facts import is_blocking

_KEY = re.compile(r"^[A-Za-z0-9]+$")


class CefSyntaxError(ValueError):
    pass


def parse_cef(line: str) -> tuple[list[str], dict[str, str]]:
    """Strictly parse one CEF:0 line into (7 header fields, extension dict)."""
    if "\n" in line or "\r" in line:
        raise CefSyntaxError("raw CR/LF in a CEF line")
    if not line.startswith("CEF:0|"):
        raise CefSyntaxError("not CEF:0")
    header: list[str] = []
    field: list[str] = []
    i = 0
    while len(header) < 7:
        if i >= len(line):
            raise CefSyntaxError("header ended early")
        ch = line[i]
        if ch == "\\":
            nxt = line[i + 1] if i + 1 < len(line) else ""
            if nxt not in ("|", "\\"):
                raise CefSyntaxError(f"bad header escape \\{nxt!r}")
            field.append(nxt)
            i += 2
            continue
        if ch == "|":
            header.append("".join(field))
            field = []
        else:
            field.append(ch)
        i += 1
    return header, parse_extension(line[i:])


def parse_extension(text: str) -> dict[str, str]:
    """Split ``k=v k=v`` where values may hold spaces; ``=`` must be escaped inside values."""
    # Positions of unescaped '='.
    equals: list[int] = []
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "=":
            equals.append(i)
        i += 1
    pairs: dict[str, str] = {}
    key_starts: list[int] = []
    for pos in equals:
        start = text.rfind(" ", 0, pos) + 1
        key = text[start:pos]
        if not _KEY.match(key):
            raise CefSyntaxError(f"bad key {key!r}")
        key_starts.append(start)
    for n, pos in enumerate(equals):
        start = key_starts[n]
        key = text[start:pos]
        end = key_starts[n + 1] - 1 if n + 1 < len(equals) else len(text)
        if n + 1 < len(equals) and text[end] != " ":
            raise CefSyntaxError("pairs not separated by a space")
        if key in pairs:
            raise CefSyntaxError(f"duplicate key {key}")
        pairs[key] = unescape_value(text[pos + 1 : end])
    if not equals and text:
        raise CefSyntaxError("extension without pairs")
    return pairs


def unescape_value(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            nxt = value[i + 1] if i + 1 < len(value) else ""
            mapping = {"\\": "\\", "=": "=", "n": "\n", "r": "\r"}
            if nxt not in mapping:
                raise CefSyntaxError(f"bad extension escape \\{nxt!r}")
            out.append(mapping[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


# --- strategies ---------------------------------------------------------------------------------

_nasty = st.text(alphabet=st.sampled_from([*list('|=\\\n\r ]"[=\x00\t'), "é", "🎉", "ß"]), min_size=1, max_size=40)
_unicode = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=200)
_huge = st.tuples(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=8), st.integers(1, 9000)).map(
    lambda t: (t[0] * t[1])[:70_000] if len(t[0] * t[1]) > 8000 else (t[0] * 9000)[:70_000]
)
values = st.one_of(_unicode, _nasty, _huge)


def _expected(value: str, key: str) -> str:
    return truncate(value, KEY_LIMITS.get(key, 4000))


@settings(max_examples=80, deadline=None)
@given(
    subject=values,
    url=values,
    sender=values,
    recipient=values,
    category=values,
    policy=values,
    message_id=values,
    action=values,
    awareness=values,
)
def test_every_extension_value_round_trips(
    subject: str,
    url: str,
    sender: str,
    recipient: str,
    category: str,
    policy: str,
    message_id: str,
    action: str,
    awareness: str,
) -> None:
    raw = {
        "subject": subject,
        "url": url,
        "fromUserEmailAddress": sender,
        "userEmailAddress": recipient,
        "category": category,
        "ttpDefinition": policy,
        "messageId": message_id,
        "action": action,
        "userAwarenessAction": awareness,
        "scanResult": "malicious",
    }
    event = Event("e" * 32, "acme", "ttp-url", datetime(2026, 11, 25, 10, 0, 0, 250000, tzinfo=UTC), {}, raw)
    [line] = CefEncoder(device_version="9.9").encode(event)
    assert isinstance(line, str)
    header, ext = parse_cef(line)
    # Malicious is 8, plus one when the action is a blocking word (a generated action can hold one).
    severity = "9" if is_blocking(action) else "8"
    assert header == ["CEF:0", "Mimecast", "Email Security", "9.9", "ttp-url:malicious", "URL Protect click", severity]
    assert ext["rt"] == "1795600800250"
    assert ext["msg"] == _expected(subject, "msg")
    assert ext["request"] == _expected(url, "request")
    assert ext["cs1"] == _expected(url, "cs1")
    assert ext["cs1Label"] == "fullUrl"
    assert ext["suser"] == _expected(sender, "suser")
    assert ext["duser"] == _expected(recipient, "duser")
    assert ext["cat"] == _expected(category, "cat")
    assert ext["cs2"] == _expected(policy, "cs2")
    assert ext["cs3"] == _expected(message_id, "cs3")
    assert ext["act"] == _expected(action, "act")
    assert ext["cs4"] == _expected(awareness, "cs4")
    # Bounded, whatever the input size: every value is capped, and escaping at most doubles it.
    assert len(line) < 2 * (5 * 1023 + 4 * 4000 + 63) + 1000


@settings(max_examples=200, deadline=None)
@given(version=values, class_id=values, name=values, severity=st.integers(-5, 20), value=values)
def test_header_fields_round_trip_with_control_characters_replaced(
    version: str, class_id: str, name: str, severity: int, value: str
) -> None:
    line = cef_line(version=version, class_id=class_id, name=name, severity=severity, extension=[("msg", value)])
    header, ext = parse_cef(line)

    def clean(text: str, cap: int) -> str:
        return "".join(" " if (c < " " or c == "\x7f") else c for c in truncate(text, cap))

    assert header[3] == clean(version, 1023)
    assert header[4] == clean(class_id, 1023)
    assert header[5] == clean(name, 512)
    assert header[6] == str(max(0, min(10, severity)))
    assert ext == {"msg": truncate(value, 1023)}


def test_truncation_keeps_the_start_and_shows_the_marker() -> None:
    long = "x" * 5000
    assert truncate(long, 1023) == "x" * (1023 - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER
    assert len(truncate(long, 1023)) == 1023
    assert truncate("short", 1023) == "short"
    assert truncate(long, 5) == TRUNCATION_MARKER[:5]


def test_escaping_rules_match_the_cef_standard() -> None:
    # Reference escaping as produced by syslog-ng's $(format-cef-extension) (sinks.md section 2.7).
    assert escape_extension_value("line1\nline2 back\\slash pipe|bar eq=sign") == (
        "line1\\nline2 back\\\\slash pipe|bar eq\\=sign"
    )
    assert escape_extension_value("http://x/a?b=c&d=e") == "http://x/a?b\\=c&d\\=e"
    assert escape_extension_value("cr\rhere") == "cr\\rhere"
    assert escape_header("a|b\\c=d\ne") == "a\\|b\\\\c=d e"


def test_strict_parser_rejects_broken_lines() -> None:
    import pytest

    with pytest.raises(CefSyntaxError):
        parse_cef("CEF:0|a|b|c|d|e|5|msg=a=b")
    with pytest.raises(CefSyntaxError):
        parse_cef("CEF:0|a|b|c|d|e|5|msg=a\\x")
    with pytest.raises(CefSyntaxError):
        parse_cef("CEF:0|a|b\\=|c|d|e|5|msg=a")
    with pytest.raises(CefSyntaxError):
        parse_cef("CEF:0|a|b|c|d|e|5|msg=a\nb")


def test_long_url_keeps_4000_characters_in_cs1_and_1023_in_request() -> None:
    url = "https://evil.example/?" + "q" * 6000
    event = Event("e" * 32, "acme", "ttp-url", datetime(2026, 1, 1, tzinfo=UTC), {}, {"url": url})
    [line] = CefEncoder().encode(event)
    assert isinstance(line, str)
    _, ext = parse_cef(line)
    assert len(ext["request"]) == 1023
    assert ext["request"].endswith(TRUNCATION_MARKER)
    assert len(ext["cs1"]) == 4000
    assert ext["cs1"].startswith(url[:3000])
