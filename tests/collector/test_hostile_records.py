"""Hostile records through the whole pure data path: client decoding → normaliser → every format.

The records are what the Mimecast client can hand over after reading a hostile answer (any JSON
value, nesting bounded by the client, strings repaired): odd time fields (epoch ms, ``Z``, no
offset, garbage, out of range), strings where numbers are expected and the reverse, lists where text
is expected, huge strings, control characters. For every stream, the normaliser must give an event
and every format and the dead-letter file must be able to write it - one record that cannot be
written would be retried forever and wedge its stream.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mimecast_siem.collector.pipeline import normalise_records
from mimecast_siem.events import Event
from mimecast_siem.mimecast.envelope import decode_json, json_text
from mimecast_siem.sinks.deadletter import dumps_event_json, event_from_json, event_to_json
from mimecast_siem.sinks.formats import FORMAT_NAMES, get_encoder
from mimecast_siem.streams import CATALOGUE, NormaliseContext, StreamSpec

GOLDEN = Path(__file__).parents[1] / "streams" / "golden"
OBSERVED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ENCODERS = {name: get_encoder(name) for name in sorted(FORMAT_NAMES)}

#: Time values seen in the wild or in hostile answers.
ODD_TIMES: list[Any] = [
    "2026-11-25T10:00:00+0000",
    "2026-11-25T10:00:00Z",
    "2026-11-25T10:00:00.123456789+00:00",
    "2026-11-25T10:00:00",  # no offset
    "2026-11-25 10:00:00 +0000",
    "1764064800000",  # epoch ms as text
    1764064800000,
    1764064800000.5,
    -62135596800001,  # before year 1
    253402300800000,  # after year 9999
    10**30,
    "0001-01-01T00:00:00+0100",  # out of range once converted to UTC
    "9999-12-31T23:59:59-0100",
    "2026-02-30T10:00:00+0000",
    "2026-11-25T10:00:00+9900",
    "NaN",
    "Infinity",
    "",
    " ",
    "garbage",
    "\x00",
    None,
    True,
    [],
    {},
    ["2026-11-25T10:00:00+0000"],
    {"date": "2026-11-25T10:00:00+0000"},
]

_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "\u202e\u0000\r\n<script>", "a" * 5000, "%s%n{0}${jndi:x}"]),
)
_value = st.recursive(
    _leaf | st.sampled_from(ODD_TIMES),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


def golden_inputs(spec: StreamSpec) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((GOLDEN / f"{spec.name}.input.json").read_text())
    return records


def as_received(record: dict[str, Any]) -> dict[str, Any]:
    """The record as the client hands it over (one trip through its decoder: depth bounded, text repaired)."""
    body = json_text({"data": [record]}).encode()  # iterative: any depth (json.dumps recurses)
    document = decode_json("/api/x", 200, "application/json", body)
    received: dict[str, Any] = document["data"][0]
    return received


def normalise(spec: StreamSpec, record: dict[str, Any]) -> list[Event]:
    ctx = NormaliseContext(tenant="acme", observed_at=OBSERVED)
    if spec.kind == "gauge":
        return [spec.normalise({"data": [record]}, ctx)]
    if spec.kind == "snapshot":
        return [spec.normalise(record, NormaliseContext("acme", OBSERVED, transition="entered"))]
    return normalise_records(spec, [record], ctx)


def assert_writable(event: Event) -> None:
    """Every format encodes the event, the file/stdout line writer takes it, the dead-letter file round-trips it."""
    assert event.timestamp.tzinfo is not None
    for name, encoder in ENCODERS.items():
        records = encoder.encode(event)
        assert records, name
        for record in records:
            if isinstance(record, dict):
                orjson.dumps(record, default=str, option=orjson.OPT_NON_STR_KEYS)
            else:
                record.encode("utf-8")
    line = dumps_event_json(event_to_json(event))
    back = event_from_json(orjson.loads(line))
    assert back.event_id == event.event_id


@pytest.mark.parametrize("stream", sorted(CATALOGUE))
@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_mutation_of_a_real_record_gives_a_writable_event(stream: str, data: st.DataObject) -> None:
    spec = CATALOGUE[stream]
    base = data.draw(st.sampled_from(golden_inputs(spec)))
    if spec.kind == "gauge":
        base = (base.get("data") or [{}])[0] if isinstance(base.get("data"), list) else {}
        base = base if isinstance(base, dict) else {}
    record = dict(base)
    keys = [*sorted(record), "extra"]
    for key in data.draw(st.lists(st.sampled_from(keys), max_size=6)):
        record[key] = data.draw(_value)
    for event in normalise(spec, as_received(record)):
        assert_writable(event)


@pytest.mark.parametrize("stream", sorted(s for s, spec in CATALOGUE.items() if spec.time_field))
@pytest.mark.parametrize("when", ODD_TIMES, ids=repr)
def test_odd_time_fields_give_an_event_with_a_utc_time(stream: str, when: Any) -> None:
    spec = CATALOGUE[stream]
    record = dict(golden_inputs(spec)[0])
    assert spec.time_field is not None
    record[spec.time_field] = when
    (event,) = normalise(spec, as_received(record))
    assert event.timestamp.utcoffset() is not None
    assert event.timestamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert_writable(event)


@pytest.mark.parametrize("stream", sorted(s for s, spec in CATALOGUE.items() if spec.time_field))
def test_a_record_without_its_time_field_is_kept_and_tagged(stream: str) -> None:
    spec = CATALOGUE[stream]
    record = dict(golden_inputs(spec)[0])
    assert spec.time_field is not None
    record.pop(spec.time_field, None)
    (event,) = normalise(spec, as_received(record))
    assert event.timestamp == OBSERVED  # placed at the poll time, never dropped
    if spec.kind == "log":
        assert "mimecast_siem_time_unparsed" in event.document.get("tags", [])
    assert_writable(event)


@pytest.mark.parametrize("stream", sorted(CATALOGUE))
def test_a_record_nested_to_the_parser_limit_is_writable(stream: str) -> None:
    spec = CATALOGUE[stream]
    record = dict(golden_inputs(spec)[0]) if spec.kind != "gauge" else {}
    deep: Any = []
    for _ in range(1000):
        deep = [deep]
    record["extra"] = deep
    for key in list(record)[:3]:
        record[key] = {"nested": deep}
    for event in normalise(spec, as_received(record)):
        assert_writable(event)


@pytest.mark.parametrize("stream", sorted(CATALOGUE))
def test_a_ten_megabyte_field_is_writable_by_every_format(stream: str) -> None:
    spec = CATALOGUE[stream]
    record = dict(golden_inputs(spec)[0]) if spec.kind != "gauge" else {}
    huge = "\u00e9x" * (5 * 1024 * 1024)  # 10 M characters, 15 MB of UTF-8
    for key in [k for k in record if isinstance(record[k], str)][:2] or ["subject"]:
        record[key] = huge
    (event,) = normalise(spec, as_received(record))
    assert_writable(event)
