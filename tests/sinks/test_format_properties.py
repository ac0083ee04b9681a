"""Property tests: every JSON output is valid JSON and carries strings back unchanged.

Strings cover random Unicode (including surrogate-free astral characters), separators, control
characters, NUL and 70 KB values; they travel through the json/raw/ocsf encoders, the file/stdout line
encoding, the HEC envelope and the dead-letter Event <-> JSON round trip.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mimecast_siem.sinks.deadletter import DeadLetter, encode_entry, event_from_json, event_to_json
from mimecast_siem.sinks.file import record_line
from mimecast_siem.sinks.formats import get_encoder
from mimecast_siem.sinks.hec_protocol import envelope
from tests.sinks.builders import make_event, record
from tests.sinks.hec_receiver import parse_concatenated
from tests.sinks.ocsf_shape import ocsf_problems

# Text without lone surrogates (not encodable as UTF-8 JSON), with the awkward characters made likely.
awkward = st.sampled_from(["|", "=", "\\", "]", '"', "\n", "\r", "\x00", "\t", "\u2028", "🎣", "é", "{", "}"])
text = st.lists(st.one_of(awkward, st.characters(exclude_categories=["Cs"])), max_size=60).map("".join)
big_text = st.integers(min_value=60_000, max_value=72_000).map(lambda n: ('ab\\"\n|=é' * (n // 9 + 1))[:n])
any_text = st.one_of(text, big_text)

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), any_text)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)),
    max_leaves=12,
)

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _roundtrip(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


@PROPERTY_SETTINGS
@given(subject=any_text, url=any_text, stream=st.sampled_from(["ttp-url", "ttp-attachment", "ttp-impersonation"]))
def test_strings_come_back_unchanged_through_every_json_format(subject: str, url: str, stream: str) -> None:
    raw = record(stream, subject=subject, url=url)
    event = make_event(stream, raw)
    (doc,) = get_encoder("json").encode(event)
    assert _roundtrip(doc)["mimecast"]["subject"] == subject
    (raw_out,) = get_encoder("raw").encode(event)
    assert _roundtrip(raw_out)["subject"] == subject
    for r in get_encoder("ocsf").encode(event):
        assert isinstance(r, dict)
        parsed = _roundtrip(r)
        assert ocsf_problems(parsed) == []
    activity = _roundtrip(get_encoder("ocsf").encode(event)[0])
    if stream == "ttp-url":
        # OCSF strips surrounding whitespace of scalar values (documented); the rest is kept verbatim.
        assert activity["url"]["url_string"] == url.strip()
        assert activity["unmapped"]["subject"] == subject
    elif stream == "ttp-impersonation" and subject.strip():
        assert activity["email"]["subject"] == subject.strip()


@PROPERTY_SETTINGS
@given(value=json_values)
def test_odd_record_shapes_never_break_ocsf(value: Any) -> None:
    for stream in ("ttp-url", "ttp-attachment", "ttp-impersonation", "held-messages", "audit"):
        raw = dict.fromkeys(record(stream), value)
        for r in get_encoder("ocsf").encode(make_event(stream, raw)):
            assert isinstance(r, dict)
            assert ocsf_problems(_roundtrip(r)) == []


@PROPERTY_SETTINGS
@given(value=json_values, line_text=any_text)
def test_file_lines_are_single_lines_that_parse_back(value: Any, line_text: str) -> None:
    line = record_line({"v": value})
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert orjson.loads(line) == {"v": value}
    text_line = record_line(line_text)
    assert text_line.count(b"\n") == 1
    assert b"\r" not in text_line
    restored = text_line[:-1].decode().replace("\\n", "\n").replace("\\r", "\r")
    if "\\n" not in line_text and "\\r" not in line_text:
        assert restored == line_text


@PROPERTY_SETTINGS
@given(events=st.lists(json_values, min_size=1, max_size=5), source=text)
def test_hec_envelopes_concatenate_and_parse_back(events: list[Any], source: str) -> None:
    body = b"".join(
        envelope(
            {"e": e},
            time=1700000000.123,
            sourcetype="mimecast:ttp:url",
            source=source or None,
            host=None,
            index=None,
            fields={"tenant": source},
        )
        for e in events
    )
    parsed, failure = parse_concatenated(body)
    assert failure is None
    assert [p["event"]["e"] for p in parsed] == events
    assert all(p["fields"] == {"tenant": source} for p in parsed)
    assert all(p["time"] == 1700000000.123 for p in parsed)


@PROPERTY_SETTINGS
@given(document=st.dictionaries(text, json_values, max_size=5), raw=st.dictionaries(text, json_values, max_size=5))
def test_event_json_round_trip(document: dict[str, Any], raw: dict[str, Any]) -> None:
    event = make_event("ttp-url", raw, document=document, extra={"note": "x"})
    assert event_from_json(_roundtrip(event_to_json(event))) == event
    entry = DeadLetter.from_json(orjson.loads(encode_entry("hec", event, "reason \n 🎣")))
    assert entry.event == event
    assert entry.reason == "reason \n 🎣"
