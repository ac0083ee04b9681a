"""Encoding shared between sinks configured alike (sinks/formats/shared.py) and get_encoder's instances."""

from __future__ import annotations

import orjson
import pytest

from mimecast_siem.events import Event
from mimecast_siem.sinks.formats import encode_event, get_encoder, record_json, record_value, sharing
from mimecast_siem.sinks.formats.base import Record
from tests.sinks.builders import batch


class CountingEncoder:
    """A pure encoder that counts its calls (pure logic: no transport involved)."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, event: Event) -> list[Record]:
        self.calls += 1
        return [{"id": event.event_id, "n": self.calls}]


def test_get_encoder_gives_one_instance_per_format_and_options() -> None:
    assert get_encoder("json") is get_encoder("json")
    assert get_encoder("json") is get_encoder("json", {})
    assert get_encoder("raw", {"metadata": False}) is get_encoder("raw", {"metadata": False})
    assert get_encoder("raw", {"metadata": False}) is not get_encoder("raw", {"metadata": True})
    assert get_encoder("json") is not get_encoder("raw")
    profile = {"ecs_profile": "elastic-integration", "data_stream_namespace": "prod"}
    assert get_encoder("json", profile) is get_encoder("json", dict(reversed(list(profile.items()))))
    assert get_encoder("json", profile) is not get_encoder("json", {**profile, "data_stream_namespace": "dev"})


def test_outside_a_scope_every_call_encodes() -> None:
    encoder = CountingEncoder()
    event = batch(1)[0]
    first, second = encode_event(encoder, event), encode_event(encoder, event)
    assert encoder.calls == 2
    assert first is not second


def test_inside_a_scope_each_event_is_encoded_once_per_encoder() -> None:
    one, other = CountingEncoder(), CountingEncoder()
    events = batch(5)
    with sharing():
        first = [encode_event(one, e) for e in events]
        again = [encode_event(one, e) for e in events]
        others = [encode_event(other, e) for e in events]
    assert one.calls == 5
    assert other.calls == 5
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert all(a is not b for a, b in zip(first, others, strict=True))
    # The scope ended: encoding again asks the encoder.
    encode_event(one, events[0])
    assert one.calls == 6


def test_an_encoder_that_fails_fails_for_every_sink() -> None:
    class Failing:
        name = "failing"

        def encode(self, event: Event) -> list[Record]:
            raise ValueError("no")

    with sharing():
        for _ in range(2):
            with pytest.raises(ValueError, match="no"):
                encode_event(Failing(), batch(1)[0])


@pytest.mark.parametrize(
    "record",
    [
        {"a": 1, "b": [1, 2, {"c": None}], "d": "é\u2028"},
        {"when": object()},  # default=str
        {1: "one", "nested": {2: "two"}},  # keys that are not strings
    ],
)
def test_record_json_is_what_orjson_writes_and_shared_in_a_scope(record: dict[object, object]) -> None:
    expected = orjson.dumps(record, default=str, option=orjson.OPT_NON_STR_KEYS)
    assert record_json(record) == expected  # type: ignore[arg-type]
    with sharing():
        first = record_json(record)  # type: ignore[arg-type]
        assert first == expected
        assert record_json(record) is first  # type: ignore[arg-type]
        assert record_json(dict(record)) is not first  # type: ignore[arg-type]


def test_record_value_embeds_the_same_json_in_an_envelope() -> None:
    record: dict[str, object] = {"event": {"id": "x"}, "url": "https://example.com/a?b=1", "n": [1, 2.5]}
    plain = orjson.dumps({"time": 1.5, "event": record_value(record)}, option=orjson.OPT_NON_STR_KEYS)
    assert record_value(record) is record
    assert record_value("a line") == "a line"
    with sharing():
        value = record_value(record)
        assert isinstance(value, orjson.Fragment)
        assert orjson.dumps({"time": 1.5, "event": value}, option=orjson.OPT_NON_STR_KEYS) == plain
        assert record_value("a line") == "a line"
