"""The HEC sink against the strict receiver: envelopes, gzip, batching, classification, partial batches."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from mimecast_siem.events import Event
from mimecast_siem.sinks.base import SinkContext, SinkPermanentError, SinkTransientError
from tests.sinks.builders import batch, make_event, record
from tests.sinks.conftest import HEC_TOKEN
from tests.sinks.hec_helpers import hec_sink
from tests.sinks.hec_receiver import HecReceiver, HecToken, run_hec_receiver


def ids_of(receiver: HecReceiver) -> list[str]:
    return [e.event["event"]["id"] for e in receiver.events]


def blank(seq: int) -> Event:
    """An event HEC refuses (code 13): the raw format of an empty record, without metadata."""
    return make_event("ttp-url", {}, seq=seq, event_id=f"blank-{seq}")


async def test_batch_arrives_with_envelope_metadata(hec: HecReceiver, context: SinkContext) -> None:
    sink = hec_sink(
        context, hec.url, index="mimecast", fields={"tenant": "{tenant}", "event_id": "{event_id}"}, host="{tenant}-gw"
    )
    events = batch(5)
    try:
        result = await sink.send(events)
    finally:
        await sink.close()
    assert (result.accepted, result.rejected) == (5, [])
    assert result.bytes_sent == hec.requests[-1].wire_bytes
    assert ids_of(hec) == [e.event_id for e in events]
    first = hec.events[0].envelope
    assert first["sourcetype"] == "mimecast:ttp:url"
    assert first["source"] == "mimecast:acme"
    assert first["host"] == "acme-gw"
    assert first["index"] == "mimecast"
    assert first["fields"] == {"tenant": "acme", "event_id": events[0].event_id}
    assert first["time"] == 1795600800.123
    assert first["event"]["mimecast"]["subject"] == "message 0"
    assert hec.requests[-1].gzip


async def test_gzip_can_be_turned_off(hec: HecReceiver, context: SinkContext) -> None:
    sink = hec_sink(context, hec.url, gzip=False)
    await sink.send(batch(2))
    await sink.close()
    assert not hec.requests[-1].gzip
    assert len(hec.events) == 2


async def test_per_stream_overrides_and_text_formats(hec: HecReceiver, context: SinkContext) -> None:
    sink = hec_sink(
        context,
        hec.url,
        fmt="cef",
        sourcetype="mimecast:cef",
        streams={"ttp-attachment": {"index": "security", "sourcetype": "mimecast:att", "source": "{stream}@{tenant}"}},
    )
    await sink.send([make_event("ttp-url"), make_event("ttp-attachment")])
    await sink.close()
    url_event, attachment_event = (e.envelope for e in hec.events)
    assert (url_event["sourcetype"], url_event.get("index")) == ("mimecast:cef", None)
    assert (attachment_event["sourcetype"], attachment_event["index"]) == ("mimecast:att", "security")
    assert attachment_event["source"] == "ttp-attachment@acme"
    assert isinstance(url_event["event"], str)
    assert url_event["event"].startswith("CEF:0|Mimecast|")


async def test_requests_are_bounded_by_bytes_and_count(hec: HecReceiver, context: SinkContext) -> None:
    sink = hec_sink(context, hec.url, max_request_bytes=4096, batch_max_events=7)
    events = batch(40)
    result = await sink.send(events)
    await sink.close()
    assert result.accepted == 40
    assert ids_of(hec) == [e.event_id for e in events]
    event_requests = [r for r in hec.requests if r.path.endswith("/event")]
    assert len(event_requests) > 40 // 7
    assert all(r.events_in_body <= 7 for r in event_requests)


async def test_partial_batch_with_invalid_event_number(hec: HecReceiver, context: SinkContext) -> None:
    sink = hec_sink(context, hec.url, fmt="raw", format_options={"metadata": False})
    good = batch(6)
    events = [*good[:2], blank(1), *good[2:4], blank(2), *good[4:]]
    result = await sink.send(events)
    await sink.close()
    assert result.accepted == 6
    assert [r.event.event_id for r in result.rejected] == ["blank-1", "blank-2"]
    assert all("HEC code 13" in r.reason for r in result.rejected)
    # Every good event exactly once: events before N were kept, the rest re-sent.
    assert Counter(e.event["subject"] for e in hec.events) == Counter(f"message {i}" for i in range(6))


async def test_bad_event_found_by_bisection_when_hec_gives_no_number(context: SinkContext) -> None:
    receiver = HecReceiver([HecToken(HEC_TOKEN)], report_event_number=False)
    async with run_hec_receiver(receiver):
        sink = hec_sink(context, receiver.url, fmt="raw", format_options={"metadata": False})
        good = batch(9)
        events = [*good[:4], blank(1), *good[4:]]
        result = await sink.send(events)
        await sink.close()
    assert [r.event.event_id for r in result.rejected] == ["blank-1"]
    # Without the number a 400 indexes nothing (the receiver stops at the bad event, so the part
    # before it may be indexed): every good event arrives, at least once.
    assert {e.event["subject"] for e in receiver.events} == {f"message {i}" for i in range(9)}


async def test_413_splits_the_request_and_refuses_a_single_oversized_event(context: SinkContext) -> None:
    receiver = HecReceiver([HecToken(HEC_TOKEN)], max_content_length=6000)
    async with run_hec_receiver(receiver):
        sink = hec_sink(context, receiver.url, max_request_bytes=1_000_000)
        huge = make_event("ttp-url", record("ttp-url", subject="x" * 8000), event_id="huge")
        events = [*batch(20), huge]
        result = await sink.send(events)
        await sink.close()
    assert [r.event.event_id for r in result.rejected] == ["huge"]
    assert "too large" in result.rejected[0].reason
    assert sorted(e.event["event"]["id"] for e in receiver.events) == sorted(e.event_id for e in events[:-1])
    assert any(r.status == 413 for r in receiver.requests)


async def test_event_over_max_request_bytes_is_refused_without_sending(hec: HecReceiver, context: SinkContext) -> None:
    sink = hec_sink(context, hec.url, max_request_bytes=2048)
    big = make_event("ttp-url", record("ttp-url", subject="y" * 5000), event_id="big")
    result = await sink.send([big, *batch(2)])
    await sink.close()
    assert [r.event.event_id for r in result.rejected] == ["big"]
    assert "max_request_bytes" in result.rejected[0].reason
    assert len(hec.events) == 2


@pytest.mark.parametrize(
    ("options", "hint"),
    [
        ({"token": "00000000-0000-0000-0000-000000000000"}, "HEC code 4"),
        ({"token": "disabled-token"}, "HEC code 1"),
        ({"index": "forbidden"}, "HEC code 7"),
    ],
)
async def test_configuration_refusals_are_permanent_and_never_show_the_token(
    hec: HecReceiver, context: SinkContext, options: dict[str, str], hint: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sink = hec_sink(context, hec.url, **options)
    with pytest.raises(SinkPermanentError) as caught:
        await sink.send(batch(1))
    await sink.close()
    message = str(caught.value)
    assert hint in message
    token = options.get("token", HEC_TOKEN)
    assert token not in message
    assert token not in caplog.text
    assert hec.events == []


async def test_busy_server_is_transient(hec: HecReceiver, context: SinkContext) -> None:
    sink = hec_sink(context, hec.url)
    for status, code in ((503, 9), (500, 8), (503, 18), (429, None), (502, None)):
        hec.fail_next(1, status=status, code=code)
        with pytest.raises(SinkTransientError):
            await sink.send(batch(1))
    result = await sink.send(batch(1))
    await sink.close()
    assert result.accepted == 1
    assert len(hec.events) == 1


async def test_connection_refused_is_transient(context: SinkContext) -> None:
    receiver = HecReceiver([HecToken(HEC_TOKEN)])
    async with run_hec_receiver(receiver):
        url = receiver.url
    sink = hec_sink(context, url, timeout="2s", connect_timeout="1s")
    with pytest.raises(SinkTransientError) as caught:
        await sink.send(batch(1))
    await sink.close()
    assert HEC_TOKEN not in str(caught.value)


async def test_retry_after_a_failure_mid_batch_sends_only_what_is_missing(
    hec: HecReceiver, context: SinkContext
) -> None:
    sink = hec_sink(context, hec.url, batch_max_events=5)
    events = batch(15)
    original = hec._handle_event
    calls = 0

    async def fail_second(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            hec.fail_next(1)
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    hec._handle_event = fail_second  # type: ignore[method-assign]
    with pytest.raises(SinkTransientError):
        await sink.send(events)
    assert len(hec.events) == 5
    result = await sink.send(events)  # the router's retry: the same batch again
    await sink.close()
    assert result.accepted == 15
    assert ids_of(hec) == [e.event_id for e in events]  # each exactly once, in order


async def test_healthcheck(hec: HecReceiver, context: SinkContext) -> None:
    sink = hec_sink(context, hec.url)
    assert (await sink.healthcheck()).ok
    hec.health_code = 19
    health = await sink.healthcheck()
    await sink.close()
    assert not health.ok
    assert "19" in health.detail
