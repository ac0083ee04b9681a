"""The pure half of the syslog sink: rendering a batch into framed messages, severity, oversize, backoff."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest

from mimecast_siem.events import Event
from mimecast_siem.sinks.formats import get_encoder
from mimecast_siem.sinks.formats.base import Record
from mimecast_siem.sinks.formats.syslog_header import BOM, TRUNCATION_MARKER, SyslogMessageBuilder
from mimecast_siem.sinks.syslog import RenderedBatch, record_text, render_batch
from mimecast_siem.sinks.syslog_transport import ReconnectBackoff
from tests.sinks.builders import make_event, record
from tests.sinks.test_syslog_header import parse_5424

BUILDER = SyslogMessageBuilder(hostname="fwd1", procid="7")


def render(events: list[Event], fmt: str = "cef", **kw: Any) -> RenderedBatch:
    args: dict[str, Any] = {
        "encoder": get_encoder(fmt),
        "builder": BUILDER,
        "framing": "octet-counting",
        "fixed_severity": None,
        "dead_letter_oversize": False,
    }
    args.update(kw)
    return render_batch(events, **args)


def unframe(frame: bytes) -> bytes:
    length, _, rest = frame.partition(b" ")
    assert int(length) == len(rest)
    return rest


@pytest.mark.parametrize(
    ("raw_changes", "severity"),
    [
        ({"scanResult": "malicious", "action": "block"}, 4),  # CEF 9 → warning
        ({"scanResult": "malicious", "action": "warn"}, 4),  # CEF 8 → warning
        ({"scanResult": "suspicious", "action": "allow"}, 5),  # CEF 6 → notice
        ({"scanResult": "clean", "action": "allow"}, 6),  # CEF 1 → informational
    ],
)
def test_auto_severity_follows_the_verdict(raw_changes: dict[str, str], severity: int) -> None:
    event = make_event("ttp-url", record("ttp-url", **raw_changes), document={})
    out = render([event])
    assert out.accepted == 1
    parsed = parse_5424(unframe(out.messages[0]))
    assert parsed.pri == 16 * 8 + severity


def test_fixed_severity_overrides_the_event() -> None:
    event = make_event("ttp-url", record("ttp-url", scanResult="malicious"), document={})
    parsed = parse_5424(unframe(render([event], fixed_severity=2).messages[0]))
    assert parsed.pri == 16 * 8 + 2


def test_json_records_travel_as_compact_json_with_event_identity_in_sd() -> None:
    event = make_event("audit")
    out = render([event], fmt="json")
    parsed = parse_5424(unframe(out.messages[0]))
    assert parsed.msg.startswith(BOM)
    body = orjson.loads(parsed.msg[len(BOM) :])
    assert body == orjson.loads(orjson.dumps(get_encoder("json").encode(event)[0], default=str))
    assert b"\n" not in parsed.msg
    assert dict(parsed.sd[0][1]) == {"tenant": "acme", "stream": "audit", "event_id": event.event_id}
    assert parsed.msgid == "audit"
    assert parsed.timestamp == "2026-11-25T10:00:00.123Z"


def test_ocsf_may_send_two_messages_for_one_event() -> None:
    event = make_event("ttp-url", record("ttp-url", scanResult="malicious", action="block"))
    encoder = get_encoder("ocsf")
    out = render([event], fmt="ocsf")
    assert out.accepted == 1
    assert len(out.messages) == len(encoder.encode(event)) == 2


def test_oversize_is_truncated_by_default_and_counted() -> None:
    big = make_event("ttp-url", record("ttp-url", subject="s" * 900, url="http://x/" + "u" * 3000), document={})
    builder = SyslogMessageBuilder(hostname="fwd1", max_bytes=1000)
    out = render([big], builder=builder)
    assert (out.accepted, out.truncated, out.rejected) == (1, 1, [])
    message = unframe(out.messages[0])
    assert len(message) <= 1000
    assert message.endswith(TRUNCATION_MARKER.encode())


def test_oversize_dead_letter_keeps_the_whole_event_out_of_the_stream() -> None:
    small = make_event("ttp-url", seq=1)
    big = make_event("ttp-url", record("ttp-url", subject="s" * 900, url="http://x/" + "u" * 3000), seq=2)
    builder = SyslogMessageBuilder(hostname="fwd1", max_bytes=1000)
    out = render([small, big], builder=builder, dead_letter_oversize=True)
    assert out.accepted == 1
    assert len(out.messages) == 1
    assert [r.event for r in out.rejected] == [big]
    assert "max_message_bytes (1000 bytes)" in out.rejected[0].reason


class _Exploding:
    name = "boom"

    def encode(self, event: Event) -> list[Record]:
        if event.raw.get("subject") == "bad":
            raise ValueError("cannot encode this one")
        return [f"ok {event.event_id}"]


def test_an_unencodable_event_is_rejected_not_the_batch() -> None:
    good = make_event("ttp-url", record("ttp-url", subject="good"), seq=1)
    bad = make_event("ttp-url", record("ttp-url", subject="bad"), seq=2)
    out = render([good, bad], encoder=_Exploding())
    assert out.accepted == 1
    assert [r.event for r in out.rejected] == [bad]
    assert "the boom encoder failed: ValueError: cannot encode this one" in out.rejected[0].reason


@pytest.mark.parametrize(("fmt", "reason"), [("cef", "offset-naive"), ("json", "timezone-aware")])
def test_an_event_without_a_timezone_is_rejected_not_the_batch(fmt: str, reason: str) -> None:
    good = make_event("audit", seq=1)
    naive = make_event("audit", seq=2, timestamp=datetime(2026, 11, 25, 10, 0))
    out = render([good, naive], fmt=fmt)
    assert out.accepted == 1
    assert len(out.messages) == 1
    assert [r.event for r in out.rejected] == [naive]
    assert reason in out.rejected[0].reason


def test_udp_messages_are_not_framed_and_lf_framing_appends_lf() -> None:
    event = make_event("audit")
    udp = render([event], framing=None).messages[0]
    assert udp.startswith(b"<")
    lf = render([event], framing="lf").messages[0]
    assert lf.endswith(b"\n")
    assert lf.count(b"\n") == 1


def test_record_text() -> None:
    assert record_text("CEF:0|x") == "CEF:0|x"
    assert record_text({"a": "line\nbreak", "n": 1}) == '{"a":"line\\nbreak","n":1}'


def test_reconnect_backoff_doubles_up_to_the_cap() -> None:
    backoff = ReconnectBackoff(initial=0.5, maximum=4.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(6)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0]
    jittered = ReconnectBackoff(initial=1.0, maximum=10.0, jitter=0.5)
    assert jittered.delay(2, rand=1.0) == 1.0
    assert jittered.delay(2, rand=0.0) == 2.0
    assert ReconnectBackoff(initial=1, maximum=30).delay(10_000) <= 30


def test_builder_cef_over_rfc3164() -> None:
    event = make_event("ttp-url", record("ttp-url", scanResult="clean", action="allow"), document={})
    builder = SyslogMessageBuilder(rfc="3164", hostname="fwd1", procid="7", facility=4)
    message = render([event], builder=builder, framing=None).messages[0]
    assert message.startswith(b"<38>Nov 25 10:00:00 fwd1 mimecast-siem[7]: CEF:0|Mimecast|Email Security|")


@pytest.mark.parametrize(
    ("fmt", "identity"),
    [
        ("leef", ["tenant={tenant}", "stream={stream}", "eventId={event_id}"]),
        ("cef", ["|{stream}:", "externalId={event_id}", "cs6Label=tenant cs6={tenant}"]),
    ],
)
def test_truncation_never_removes_the_event_identity(fmt: str, identity: list[str]) -> None:
    """Long values (subject, URL, reason) come after the identity, so cutting the tail keeps it."""
    raw = record("ttp-url", subject="s" * 900, url="http://x/" + "u" * 3000, reason="r" * 500)
    big = make_event("ttp-url", raw, document={})
    builder = SyslogMessageBuilder(rfc="3164", hostname="fwd1", max_bytes=1024)  # UDP/3164: 1024 in all
    out = render([big], fmt, builder=builder, framing=None)
    assert out.truncated == 1
    message = out.messages[0].decode()
    assert len(message.encode()) <= 1024
    for part in identity:
        assert part.format(tenant=big.tenant, stream=big.stream, event_id=big.event_id) in message, message
