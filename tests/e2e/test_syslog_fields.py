"""End to end: the real SyslogSink to real rsyslog and syslog-ng; every parsed field is checked.

The receivers (tests/fixtures/receivers.py) write what they parsed as JSON: PRI, timestamp,
hostname, app-name, procid, msgid, their own parse of the structured data, and MSG.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from mimecast_siem.config.models import STREAM_NAMES, SinkSettings
from mimecast_siem.events import Event
from mimecast_siem.sinks.base import SinkContext
from mimecast_siem.sinks.formats import get_encoder
from mimecast_siem.sinks.formats.event_facts import event_facts, syslog_severity
from mimecast_siem.sinks.syslog import SyslogSink
from tests.fixtures.receivers import Received, SyslogReceiver, stored_msg
from tests.sinks.test_cef_leef_golden import CASES, load_event

STREAMS_GOLDEN = Path(__file__).resolve().parents[1] / "streams" / "golden"

pytestmark = pytest.mark.e2e

NASTY_TENANT = 'ten"ant\\with]brackets é'
NASTY_SUBJECT = 'Grüße 🎉 pipe|equals=back\\slash ]bracket "quote" line1\nline2\rcr'


def make_sink(tmp_path: Path, port: int, fmt: str = "cef", **options: Any) -> SyslogSink:
    base: dict[str, Any] = {"host": "127.0.0.1", "port": port, "hostname": "fwd-01.example", "procid": "4242"}
    base.update(options)
    settings = SinkSettings(name="siem", type="syslog", format=fmt, **base)
    return SyslogSink(settings, SinkContext(data_dir=tmp_path, instance_id="t", version="0.1.0"))


def golden_events() -> list[Event]:
    """One event per golden case, plus the first golden event of every stream they lack (tests/streams),
    with a nasty tenant and distinct times."""
    loaded = [load_event(case) for case in CASES]
    covered = {e.stream for e in loaded}
    for stream in STREAM_NAMES:
        if stream not in covered:
            first = orjson.loads((STREAMS_GOLDEN / f"{stream}.expected.json").read_bytes())[0]
            loaded.append(
                Event(
                    event_id=first["event_id"],
                    tenant=first["tenant"],
                    stream=first["stream"],
                    timestamp=datetime.fromisoformat(first["timestamp"]),
                    document=first["document"],
                    raw=first["raw"],
                    kind=first.get("kind", "log"),
                )
            )
    events = []
    for n, event in enumerate(loaded):
        when = datetime(2026, 11, 25, 10, n // 60, n % 60, 123456, tzinfo=UTC)
        events.append(replace(event, tenant=NASTY_TENANT, timestamp=when))
    return events


def by_event_id(records: list[Received]) -> dict[str, Received]:
    out = {}
    for r in records:
        event_id = r.param("event_id")
        assert event_id is not None, r
        assert event_id not in out, f"duplicate record for {event_id}"
        out[event_id] = r
    return out


def expected_timestamp(kind: str, when: datetime) -> str:
    if kind == "rsyslog":
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


@pytest.mark.parametrize("fmt", ["cef", "leef", "json"])
async def test_every_field_of_every_stream_as_the_receiver_parsed_it(
    tmp_path: Path, syslog_receiver: SyslogReceiver, fmt: str
) -> None:
    events = golden_events()
    assert {e.stream for e in events} >= set(STREAM_NAMES)
    sink = make_sink(
        tmp_path, syslog_receiver.ports["tcp"], fmt, streams={"audit": {"app_name": "mc-audit", "msgid": "AUDIT"}}
    )
    result = await sink.send(events)
    await sink.close()
    assert result.accepted == len(events)
    received = by_event_id(syslog_receiver.wait_for(len(events)))
    assert len(received) == len(events)
    encoder = get_encoder(fmt)
    for event in events:
        r = received[event.event_id]
        assert r.listener == "tcp"
        assert r.pri == 16 * 8 + syslog_severity(event_facts(event).severity)
        assert r.timestamp == expected_timestamp(syslog_receiver.kind, event.timestamp)
        assert r.hostname == "fwd-01.example"
        assert r.procid == "4242"
        assert r.app_name == ("mc-audit" if event.stream == "audit" else "mimecast-siem")
        assert r.msgid == ("AUDIT" if event.stream == "audit" else event.stream)
        assert r.sd == {"mimecast@32473": {"tenant": NASTY_TENANT, "stream": event.stream, "event_id": event.event_id}}
        [record] = encoder.encode(event)
        text = (
            record
            if isinstance(record, str)
            else orjson.dumps(record, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        )
        assert r.msg == stored_msg(syslog_receiver.kind, text)


async def test_unicode_and_separators_survive_in_cef(tmp_path: Path, syslog_receiver: SyslogReceiver) -> None:
    event = Event(
        "c" * 32,
        "acme",
        "ttp-url",
        datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC),
        {},
        {"subject": NASTY_SUBJECT, "url": "http://x/?a=b|c\\d", "scanResult": "malicious", "action": "block"},
    )
    sink = make_sink(tmp_path, syslog_receiver.ports["tcp"])
    await sink.send([event])
    await sink.close()
    [r] = syslog_receiver.wait_for(1)
    body = r.msg.removeprefix("\ufeff")
    # CEF escaping as the receiver stored it: no raw line break, pipes kept, = and \ escaped.
    assert 'msg=Grüße 🎉 pipe|equals\\=back\\\\slash ]bracket "quote" line1\\nline2\\rcr' in body
    assert "request=http://x/?a\\=b|c\\\\d" in body
    assert r.timestamp.startswith("2026-11-25T10:00:00")
    assert r.pri == 16 * 8 + 4  # malicious and blocked → warning


async def test_rfc3164_header_is_parsed_by_both(tmp_path: Path, syslog_receiver: SyslogReceiver) -> None:
    event = load_event("ttp-url-clean")
    sink = make_sink(tmp_path, syslog_receiver.ports["tcp"], rfc="3164", facility="local4", app_name="mimecast")
    await sink.send([event])
    await sink.close()
    [r] = syslog_receiver.wait_for(1)
    assert r.pri == 20 * 8 + 6
    assert r.hostname == "fwd-01.example"
    assert r.app_name == "mimecast"
    assert r.procid == "4242"
    [line] = get_encoder("cef").encode(event)
    assert isinstance(line, str)
    # No BOM in 3164; rsyslog keeps the space after "TAG:" in its msg property, syslog-ng does not.
    assert r.msg == (" " + line if syslog_receiver.kind == "rsyslog" else line)
    assert r.timestamp[5:19] == event.timestamp.strftime("%m-%dT%H:%M:%S")


async def test_udp_one_datagram_per_message(tmp_path: Path, syslog_receiver: SyslogReceiver) -> None:
    events = golden_events()[:5]
    sink = make_sink(tmp_path, syslog_receiver.ports["udp"], transport="udp")
    await sink.start()
    await sink.send(events)
    await sink.close()
    received = by_event_id(syslog_receiver.wait_for(len(events)))
    assert set(received) == {e.event_id for e in events}
    assert {r.listener for r in received.values()} == {"udp"}


async def test_rsyslog_imptcp_listener_parses_the_same_fields(tmp_path: Path, rsyslog_receiver: SyslogReceiver) -> None:
    events = golden_events()
    sink = make_sink(tmp_path, rsyslog_receiver.ports["ptcp"])
    await sink.send(events)
    await sink.close()
    received = by_event_id(rsyslog_receiver.wait_for(len(events)))
    encoder = get_encoder("cef")
    for event in events:
        r = received[event.event_id]
        assert r.listener == "ptcp"
        assert (r.hostname, r.app_name, r.procid, r.msgid) == ("fwd-01.example", "mimecast-siem", "4242", event.stream)
        assert r.param("tenant") == NASTY_TENANT
        [line] = encoder.encode(event)
        assert isinstance(line, str)
        assert r.msg == stored_msg("rsyslog", line)
