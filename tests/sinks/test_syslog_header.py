"""RFC 5424 / RFC 3164 message building, checked by a strict parser written from the RFC grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.sinks.formats.syslog_header import (
    BOM,
    TRUNCATION_MARKER,
    SdElement,
    StreamHeader,
    SyslogMessageBuilder,
    escape_sd_value,
    fit_message,
    frame,
    frame_lf,
    frame_octet_counting,
    header_field,
    is_valid_sd_name,
    parse_facility,
    parse_severity,
    pri,
    rfc3164_timestamp,
    rfc3339_timestamp,
)

_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
_PRINTUSASCII = re.compile(r"^[!-~]+$")


class SyslogSyntaxError(ValueError):
    pass


@dataclass
class Parsed5424:
    pri: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    sd: list[tuple[str, list[tuple[str, str]]]]
    msg: bytes


def parse_5424(data: bytes) -> Parsed5424:
    """Strict RFC 5424 parser (header grammar, SD escapes, valid UTF-8 MSG)."""
    m = re.match(rb"^<(0|[1-9]\d{0,2})>1 ", data)
    if not m:
        raise SyslogSyntaxError("bad PRI/VERSION")
    priority = int(m.group(1))
    if priority > 191:
        raise SyslogSyntaxError("PRI out of range")
    rest = data[m.end() :]
    fields = []
    for cap in (None, 255, 48, 128, 32):
        sp = rest.find(b" ")
        if sp < 0:
            raise SyslogSyntaxError("header ended early")
        token = rest[:sp].decode("ascii")
        rest = rest[sp + 1 :]
        if cap is not None and token != "-" and (not _PRINTUSASCII.match(token) or len(token) > cap):
            raise SyslogSyntaxError(f"bad header field {token!r}")
        fields.append(token)
    if fields[0] != "-" and not _TS.match(fields[0]):
        raise SyslogSyntaxError(f"bad timestamp {fields[0]!r}")
    sd: list[tuple[str, list[tuple[str, str]]]] = []
    text = rest
    if text.startswith(b"-"):
        text = text[1:]
    else:
        while text.startswith(b"["):
            text = text[1:]
            end = re.match(rb"[^ \]=\"]+", text)
            if not end:
                raise SyslogSyntaxError("bad SD-ID")
            sd_id = end.group().decode("ascii")
            text = text[end.end() :]
            params: list[tuple[str, str]] = []
            while text.startswith(b" "):
                pm = re.match(rb' ([!#-<>-\\^-~]{1,32})="', text)
                if not pm:
                    raise SyslogSyntaxError("bad SD-PARAM")
                text = text[pm.end() :]
                value = bytearray()
                while True:
                    if not text:
                        raise SyslogSyntaxError("unterminated PARAM-VALUE")
                    c = text[0:1]
                    if c == b"\\" and text[1:2] in (b'"', b"\\", b"]"):
                        value += text[1:2]
                        text = text[2:]
                    elif c == b'"':
                        text = text[1:]
                        break
                    elif c == b"]":
                        raise SyslogSyntaxError("unescaped ] in PARAM-VALUE")
                    else:
                        value += c
                        text = text[1:]
                params.append((pm.group(1).decode("ascii"), value.decode("utf-8")))
            if not text.startswith(b"]"):
                raise SyslogSyntaxError("SD element not closed")
            text = text[1:]
            sd.append((sd_id, params))
        if not sd:
            raise SyslogSyntaxError("no STRUCTURED-DATA")
    msg = b""
    if text:
        if not text.startswith(b" "):
            raise SyslogSyntaxError("no SP before MSG")
        msg = text[1:]
        msg.decode("utf-8")  # strict: MSG must be valid UTF-8
    return Parsed5424(priority, fields[0], fields[1], fields[2], fields[3], fields[4], sd, msg)


WHEN = datetime(2026, 11, 5, 9, 7, 3, 120000, tzinfo=UTC)


def build(builder: SyslogMessageBuilder, msg: str, **kw: object) -> bytes:
    args: dict[str, object] = {
        "severity": 6,
        "timestamp": WHEN,
        "tenant": "acme",
        "stream": "ttp-url",
        "event_id": "a" * 32,
        "msg": msg,
    }
    args.update(kw)
    return builder.build(**args).data  # type: ignore[arg-type]


def test_rfc5424_layout_every_field() -> None:
    builder = SyslogMessageBuilder(hostname="mx.example", app_name="mimecast-siem", procid="42", facility=16)
    data = build(builder, "CEF:0|x", severity=4)
    assert data == (
        b'<132>1 2026-11-05T09:07:03.12Z mx.example mimecast-siem 42 ttp-url [mimecast@32473 tenant="acme" '
        b'stream="ttp-url" event_id="' + b"a" * 32 + b'"] ' + BOM + b"CEF:0|x"
    )
    parsed = parse_5424(data)
    assert parsed.pri == 132
    assert parsed.msgid == "ttp-url"
    assert parsed.sd == [("mimecast@32473", [("tenant", "acme"), ("stream", "ttp-url"), ("event_id", "a" * 32)])]


def test_stream_overrides_and_nil_values() -> None:
    builder = SyslogMessageBuilder(
        hostname="",
        procid="-",
        sd_id=None,
        utf8_bom=False,
        streams={"audit": StreamHeader(app_name="mc-audit", msgid="AUD")},
    )
    parsed = parse_5424(build(builder, "hello", stream="audit"))
    assert (parsed.hostname, parsed.app_name, parsed.procid, parsed.msgid, parsed.sd) == (
        "-",
        "mc-audit",
        "-",
        "AUD",
        [],
    )
    assert parsed.msg == b"hello"


def test_rfc3339_timestamps() -> None:
    assert rfc3339_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    assert rfc3339_timestamp(datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)) == "2026-01-02T03:04:05.123456Z"
    plus2 = timezone(timedelta(hours=2))
    assert rfc3339_timestamp(datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=plus2)) == "2026-01-02T01:04:05.5Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        rfc3339_timestamp(datetime(2026, 1, 2))


def test_rfc3164_layout_space_padded_day_and_english_month() -> None:
    builder = SyslogMessageBuilder(rfc="3164", hostname="mx.example", app_name="mimecast siem!", procid="77")
    data = build(builder, "CEF:0|x", severity=6)
    assert data == b"<134>Nov  5 09:07:03 mx.example mimecast_siem_[77]: CEF:0|x"
    assert rfc3164_timestamp(datetime(2026, 12, 25, 23, 59, 59, tzinfo=UTC)) == "Dec 25 23:59:59"


@pytest.mark.parametrize(
    ("name", "number"), [("kern", 0), ("mail", 2), ("local0", 16), ("local7", 23), (5, 5), ("13", 13)]
)
def test_facility_names_and_numbers(name: str | int, number: int) -> None:
    assert parse_facility(name) == number


@pytest.mark.parametrize("bad", ["local8", "mailx", 24, -1, True])
def test_bad_facility_names_allowed_values(bad: str | int) -> None:
    with pytest.raises(ValueError, match="facility"):
        parse_facility(bad)


@pytest.mark.parametrize(("name", "number"), [("emerg", 0), ("warning", 4), ("warn", 4), ("info", 6), (7, 7)])
def test_severity_names_and_numbers(name: str | int, number: int) -> None:
    assert parse_severity(name) == number


def test_bad_severity_and_pri_range() -> None:
    with pytest.raises(ValueError, match="severity"):
        parse_severity("loud")
    with pytest.raises(ValueError, match="out of range"):
        parse_severity(8)
    assert pri(23, 7) == 191
    assert pri(0, 0) == 0
    with pytest.raises(ValueError, match="out of range"):
        pri(24, 0)


def test_header_fields_are_printable_ascii_and_capped() -> None:
    assert header_field("host name\twith ü", 255) == "host_name_with__"
    assert header_field("x" * 300, 255) == "x" * 255
    assert header_field(None, 32) == "-"


def test_sd_names_and_escaping() -> None:
    assert is_valid_sd_name("mimecast@32473")
    for bad in ("", "a b", "a=b", 'a"b', "a]b", "x" * 33, "é"):
        assert not is_valid_sd_name(bad)
    assert escape_sd_value('a"b\\c]d') == 'a\\"b\\\\c\\]d'
    with pytest.raises(ValueError, match="SD-ID"):
        SdElement("bad id", ()).render()


def test_size_ceiling_cuts_msg_on_a_character_boundary_with_marker() -> None:
    builder = SyslogMessageBuilder(hostname="h", max_bytes=300)
    result = builder.build(
        severity=6, timestamp=WHEN, tenant="acme", stream="ttp-url", event_id="a" * 32, msg="é" * 500
    )
    assert result.truncated
    assert len(result.data) <= 300
    parsed = parse_5424(result.data)
    assert parsed.msg.startswith(BOM)
    body = parsed.msg[len(BOM) :].decode("utf-8")
    assert body.endswith(TRUNCATION_MARKER)
    assert set(body.removesuffix(TRUNCATION_MARKER)) == {"é"}


def test_truncation_never_leaves_a_dangling_escape_backslash() -> None:
    limited = fit_message(b"P ", b"ab\\\\\\\\\\" + b"x" * 50, 2 + 7 + len(TRUNCATION_MARKER))
    kept = limited.data[2:].decode().removesuffix(TRUNCATION_MARKER)
    assert (len(kept) - len(kept.rstrip("\\"))) % 2 == 0


def test_ceiling_smaller_than_header_still_holds() -> None:
    limited = fit_message(b"x" * 100, b"msg", 50)
    assert limited.truncated
    assert len(limited.data) == 50


def test_lf_framing_escapes_newlines_everywhere() -> None:
    builder = SyslogMessageBuilder(hostname="h", lf_safe=True)
    data = build(builder, "line1\nline2\r\nline3", tenant="te\nnant")
    assert b"\n" not in data
    parsed = parse_5424(data)
    assert parsed.msg == BOM + b"line1\\nline2\r\\nline3"
    assert frame_lf(data) == data + b"\n"
    with pytest.raises(ValueError, match="LF"):
        frame_lf(b"a\nb")


def test_octet_counting_frame() -> None:
    assert frame_octet_counting("é\n".encode()) == b"3 \xc3\xa9\n"
    assert frame(b"abc", "octet-counting") == b"3 abc"
    assert frame(b"abc", "lf") == b"abc\n"


def test_lone_surrogates_do_not_fail_the_message() -> None:
    data = build(SyslogMessageBuilder(hostname="h"), "bad \udc80 text")
    assert parse_5424(data).msg == BOM + b"bad ? text"


_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)


@settings(max_examples=200, deadline=None)
@given(
    msg=st.one_of(_text, st.text(alphabet=st.sampled_from(list('"\\]\n\r =|é🎉')), max_size=100)),
    # Tenants are config names of at most 63 characters (config: tenants[].name); any characters here, to
    # test the SD escaping, but no longer than that: a 300-character tenant of 4-byte characters made a
    # header longer than the 480-byte ceiling, which no configuration can produce.
    tenant=st.one_of(
        st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=63),
        st.text(alphabet=st.sampled_from(list('"\\] ]=')), min_size=1, max_size=63),
    ),
    max_bytes=st.integers(480, 4000),
    lf=st.booleans(),
    rfc=st.sampled_from(["5424", "3164"]),
)
def test_any_message_parses_back_within_the_ceiling(msg: str, tenant: str, max_bytes: int, lf: bool, rfc: str) -> None:
    builder = SyslogMessageBuilder(rfc=rfc, hostname="h", procid="1", max_bytes=max_bytes, lf_safe=lf)  # type: ignore[arg-type]
    result = builder.build(severity=3, timestamp=WHEN, tenant=tenant, stream="audit", event_id="b" * 32, msg=msg)
    assert len(result.data) <= max_bytes
    result.data.decode("utf-8")
    if lf:
        assert b"\n" not in result.data
    expected_msg = msg.replace("\n", "\\n") if lf else msg
    if rfc == "3164":
        prefix = b"<131>Nov  5 09:07:03 h mimecast-siem[1]: "  # local0 (16) * 8 + err (3)
        assert result.data.startswith(prefix)
        body = result.data[len(prefix) :].decode()
    else:
        parsed = parse_5424(result.data)
        assert parsed.pri == 131
        assert parsed.msgid == "audit"
        expected_tenant = tenant.replace("\n", "\\n") if lf else tenant
        assert parsed.sd[0][1][0] == ("tenant", expected_tenant)
        assert parsed.msg.startswith(BOM)
        body = parsed.msg[len(BOM) :].decode()
    if result.truncated:
        assert body.endswith(TRUNCATION_MARKER)
        assert expected_msg.startswith(body.removesuffix(TRUNCATION_MARKER))
        assert len(result.data) > max_bytes - len(TRUNCATION_MARKER) - 8  # cut no more than needed
    else:
        assert body == expected_msg
