"""End to end: framing and size limits against real receivers - one event is always one record.

* Octet counting carries raw line breaks inside MSG (rsyslog stores them as ``#012``, syslog-ng raw).
* LF framing: the sink sends embedded LFs as the two characters ``\\n``, so a receiver never splits
  a message (syslog-ng's ``network()`` LF source, rsyslog's imtcp which reads both framings).
* The size ceiling is applied before framing: a 70 KB event arrives as ONE record cut to the
  ceiling with the marker, and the connection keeps working. Without the ceiling rsyslog (limit
  8k) turns the rest of the frame into bogus extra records - the control case shows the test
  would catch it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.events import Event
from mimecast_siem.observability.metrics import Metrics, reset_metrics
from mimecast_siem.sinks.base import SinkContext
from mimecast_siem.sinks.formats.base import Record
from mimecast_siem.sinks.formats.syslog_header import TRUNCATION_MARKER
from mimecast_siem.sinks.syslog import SyslogSink
from tests.fixtures.receivers import SyslogReceiver, stored_msg

pytestmark = pytest.mark.e2e

MULTILINE = 'first line\nsecond line\r\nthird | = \\ ] " é'


@pytest.fixture
def fresh_metrics() -> Iterator[Metrics]:
    yield reset_metrics()
    reset_metrics()


def metric_value(m: Metrics, name: str, labels: dict[str, str]) -> float:
    return float(m.registry.get_sample_value(name, labels) or 0.0)


class RawText:
    """A test encoder whose MSG is the event's raw ``text`` as it is (line breaks included)."""

    name = "raw-text"

    def encode(self, event: Event) -> list[Record]:
        return [str(event.raw["text"])]


def make_event(n: int, text: str) -> Event:
    return Event(f"{n:032x}", "acme", "audit", datetime(2026, 11, 25, 10, 0, n % 60, tzinfo=UTC), {}, {"text": text})


def make_sink(tmp_path: Path, port: int, fmt: str = "json", **options: Any) -> SyslogSink:
    base: dict[str, Any] = {"host": "127.0.0.1", "port": port, "hostname": "fwd1"}
    base.update(options)
    settings = SinkSettings(name="siem", type="syslog", format=fmt, **base)
    return SyslogSink(settings, SinkContext(data_dir=tmp_path, instance_id="t", version="0.1.0"))


async def test_octet_counting_carries_raw_line_breaks(tmp_path: Path, syslog_receiver: SyslogReceiver) -> None:
    sink = make_sink(tmp_path, syslog_receiver.ports["tcp"])
    sink.encoder = RawText()
    events = [make_event(n, f"{n}: {MULTILINE}") for n in range(5)]
    await sink.send(events)
    await sink.close()
    records = syslog_receiver.wait_for(5)
    assert len(records) == 5
    for event, record in zip(events, records, strict=True):
        assert record.param("event_id") == event.event_id
        assert record.msg == stored_msg(syslog_receiver.kind, str(event.raw["text"]))


@pytest.mark.parametrize("listener", ["rsyslog:tcp", "syslog-ng:lf"])
async def test_lf_framing_escapes_line_breaks(
    tmp_path: Path, rsyslog_receiver: SyslogReceiver, syslog_ng_receiver: SyslogReceiver, listener: str
) -> None:
    kind, port_name = listener.split(":")
    receiver = rsyslog_receiver if kind == "rsyslog" else syslog_ng_receiver
    sink = make_sink(tmp_path, receiver.ports[port_name], framing="lf")
    sink.encoder = RawText()
    events = [make_event(n, f"{n}: {MULTILINE}") for n in range(5)]
    await sink.send(events)
    await sink.close()
    records = receiver.wait_for(5)
    assert len(records) == 5, [r.msg for r in records]
    for event, record in zip(events, records, strict=True):
        assert record.param("event_id") == event.event_id
        sent = str(event.raw["text"]).replace("\n", "\\n")
        assert record.msg == stored_msg(kind, sent)


async def test_oversize_event_arrives_as_one_truncated_record(
    tmp_path: Path, syslog_receiver: SyslogReceiver, fresh_metrics: Metrics
) -> None:
    # JSON is not capped per field like CEF: a 70 KB subject makes a 70 KB message.
    sink = make_sink(tmp_path, syslog_receiver.ports["tcp"])
    sink.encoder = RawText()
    huge = "é" + "x" * 70_000
    events = [make_event(0, "small before"), make_event(1, huge), make_event(2, "small after")]
    await sink.send(events)
    await sink.send([make_event(3, "next batch on the same connection")])
    await sink.close()
    records = syslog_receiver.wait_for(4)
    assert [r.param("event_id") for r in records] == [e.event_id for e in [*events, make_event(3, "")]]
    cut = records[1].msg
    assert cut.endswith(TRUNCATION_MARKER)
    assert cut.removeprefix("\ufeff").startswith("éxxx")
    assert len(cut.encode()) < 8000
    assert metric_value(fresh_metrics, "mimecast_siem_sink_messages_truncated_total", {"sink": "siem"}) == 1


async def test_oversize_dead_letter_mode_keeps_the_event_out(tmp_path: Path, syslog_receiver: SyslogReceiver) -> None:
    sink = make_sink(tmp_path, syslog_receiver.ports["tcp"], oversize="dead-letter")
    sink.encoder = RawText()
    events = [make_event(0, "small"), make_event(1, "y" * 20_000), make_event(2, "small too")]
    result = await sink.send(events)
    await sink.close()
    assert result.accepted == 2
    assert [r.event.event_id for r in result.rejected] == [events[1].event_id]
    records = syslog_receiver.wait_for(2)
    assert [r.param("event_id") for r in records] == [events[0].event_id, events[2].event_id]


async def test_control_without_the_ceiling_rsyslog_makes_bogus_records(
    tmp_path: Path, rsyslog_receiver: SyslogReceiver
) -> None:
    # The receiver-side failure the ceiling prevents: rsyslog truncates at its 8k maxMessageSize and
    # reads the rest of the frame as new messages.
    sink = make_sink(tmp_path, rsyslog_receiver.ports["tcp"], max_message_bytes=30_000)
    sink.encoder = RawText()
    await sink.send([make_event(0, "z" * 20_000)])
    await sink.close()
    records = rsyslog_receiver.wait_for(2)
    assert len(records) > 1
    assert records[0].param("event_id") == make_event(0, "").event_id
    assert all(r.param("event_id") is None for r in records[1:])


async def test_syslog_ng_takes_large_messages_up_to_its_limit(
    tmp_path: Path, syslog_ng_receiver: SyslogReceiver
) -> None:
    # syslog-ng's log-msg-size() is 65536: a ceiling just below it delivers 60 KB intact.
    sink = make_sink(tmp_path, syslog_ng_receiver.ports["tcp"], max_message_bytes=65_000)
    sink.encoder = RawText()
    text = "q" * 60_000
    await sink.send([make_event(0, text), make_event(1, "after")])
    await sink.close()
    records = syslog_ng_receiver.wait_for(2)
    assert [r.msg for r in records] == [text, "after"]
