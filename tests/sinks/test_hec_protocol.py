"""Pure HEC protocol logic: the documented status table, packing, envelopes, acks."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mimecast_siem.sinks.hec_protocol import (
    HEC_CODES,
    ReplyKind,
    classify_health,
    classify_reply,
    default_sourcetype,
    envelope,
    epoch_seconds_ms,
    pack_requests,
    parse_acks,
)


def body(code: int, **extra: object) -> bytes:
    return orjson.dumps({"text": HEC_CODES[code].text, "code": code, **extra})


@pytest.mark.parametrize("code", [8, 9, 18, 19, 20])
def test_retryable_codes_are_transient(code: int) -> None:
    assert classify_reply(HEC_CODES[code].http, body(code)).kind is ReplyKind.TRANSIENT


@pytest.mark.parametrize("code", [1, 2, 3, 4, 5, 7, 10, 11, 14, 16, 21, 22])
def test_configuration_codes_are_permanent(code: int) -> None:
    reply = classify_reply(HEC_CODES[code].http, body(code))
    assert reply.kind is ReplyKind.PERMANENT
    assert f"HEC code {code}" in reply.describe()


@pytest.mark.parametrize("code", [6, 12, 13, 15])
def test_event_codes_reject_one_event_with_its_number(code: int) -> None:
    reply = classify_reply(400, body(code, **{"invalid-event-number": 3}))
    assert reply.kind is ReplyKind.REJECT_EVENT
    assert reply.invalid_event_number == 3
    assert classify_reply(400, body(code)).invalid_event_number is None


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 408])
def test_http_errors_without_a_body_are_transient(status: int) -> None:
    assert classify_reply(status, b"").kind is ReplyKind.TRANSIENT
    assert classify_reply(status, b"<html>proxy error</html>").kind is ReplyKind.TRANSIENT


def test_413_splits_and_other_statuses() -> None:
    assert classify_reply(413, b"too big").kind is ReplyKind.TOO_LARGE
    assert classify_reply(404, b"").kind is ReplyKind.PERMANENT
    assert classify_reply(301, b"").kind is ReplyKind.PERMANENT
    ok = classify_reply(200, b'{"text":"Success","code":0,"ackId":7}')
    assert (ok.kind, ok.ack_id) == (ReplyKind.SUCCESS, 7)
    assert classify_reply(200, b"").kind is ReplyKind.SUCCESS


def test_permanent_descriptions_tell_the_operator_what_to_do() -> None:
    assert "ack: false" in classify_reply(400, body(14)).describe()
    assert "ack: true" in classify_reply(400, body(10)).describe()
    assert "'Splunk <token>'" in classify_reply(401, body(3)).describe()


def test_health_codes() -> None:
    assert classify_health(200, body(17)) == (True, "HEC is healthy")
    for code in (18, 19, 20):
        healthy, detail = classify_health(503, body(code))
        assert not healthy
        assert f"HEC code {code}" in detail


def test_ack_parsing_tolerates_odd_shapes() -> None:
    assert parse_acks(b'{"acks":{"0":true,"1":false,"x":true}}') == {0: True, 1: False}
    assert parse_acks(b'{"acks":[1,2]}') == {}
    assert parse_acks(b"not json") == {}


def test_envelope_layout_and_time() -> None:
    when = datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)
    t = epoch_seconds_ms(when)
    assert t == 1700000000.123
    data = envelope(
        {"a": 1}, time=t, sourcetype="mimecast:ttp:url", source="mimecast:acme", host=None, index="sec", fields=None
    )
    assert (
        data
        == b'{"time":1700000000.123,"source":"mimecast:acme","sourcetype":"mimecast:ttp:url","index":"sec","event":{"a":1}}'
    )
    assert default_sourcetype("ttp-url") == "mimecast:ttp:url"
    assert default_sourcetype("dlp-logs") == "mimecast:dlp:logs"


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=5000), max_size=200),
    max_bytes=st.integers(min_value=1, max_value=20000),
    max_events=st.integers(min_value=1, max_value=50),
)
def test_packing_keeps_order_and_bounds(sizes: list[int], max_bytes: int, max_events: int) -> None:
    requests = pack_requests(sizes, max_bytes, max_events)
    assert [i for r in requests for i in r] == list(range(len(sizes)))
    for r in requests:
        assert 1 <= len(r) <= max_events
        assert len(r) == 1 or sum(sizes[i] for i in r) <= max_bytes


def test_a_batch_of_envelopes_holds_their_length_not_orjson_s_working_buffer() -> None:
    """The HEC sink keeps every envelope of a batch until HEC accepted it: each must cost about its
    own length (orjson's result keeps a 4-32 KB buffer whatever the length: 13x a 2 KB envelope)."""
    record = {f"field{i:02d}": f"value {i} " * 3 for i in range(60)}
    meta: dict[str, Any] = {"sourcetype": "mimecast:ttp:url", "source": None, "host": None, "index": None}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        envelopes = [envelope(record, time=1764064800.0 + n, fields=None, **meta) for n in range(200)]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    payload = sum(len(e) for e in envelopes)
    assert orjson.loads(envelopes[0])["event"] == record
    assert held < 1.5 * payload, (held, payload)
