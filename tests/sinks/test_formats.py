"""The format registry (get_encoder) and the json and raw encoders."""

from __future__ import annotations

import orjson
import pytest

from mimecast_siem.errors import ConfigError
from mimecast_siem.sinks.formats import FORMAT_NAMES, get_encoder
from tests.sinks.builders import make_event, record


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_every_format_is_found_by_name_and_encodes_every_stream(name: str) -> None:
    encoder = get_encoder(name)
    assert encoder.name == name
    for stream in ("ttp-url", "ttp-attachment", "ttp-impersonation", "held-messages", "hold-summary", "audit"):
        records = encoder.encode(make_event(stream))
        assert records, f"{name} produced nothing for {stream}"
        assert all(isinstance(r, dict | str) for r in records)


def test_unknown_format_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        get_encoder("xml", key="sinks[1].format_options")
    problem = caught.value.problems[0]
    assert problem.key == "sinks[1].format"
    assert "'xml'" in (problem.value or "")
    for allowed in FORMAT_NAMES:
        assert allowed in problem.message


def test_bad_format_options_name_the_key_and_value() -> None:
    with pytest.raises(ConfigError) as caught:
        get_encoder("raw", {"metadata": "perhaps", "colour": 1}, key="sinks[0].format_options")
    keys = {p.key for p in caught.value.problems}
    assert keys == {"sinks[0].format_options.metadata", "sinks[0].format_options.colour"}
    values = {p.key: p.value for p in caught.value.problems}
    assert values["sinks[0].format_options.metadata"] == "'perhaps'"


def test_json_emits_the_document_and_fills_id_and_timestamp_only_when_missing() -> None:
    event = make_event("ttp-url", document={"url": {"original": "https://x.example/"}, "event": {"kind": "alert"}})
    (doc,) = get_encoder("json").encode(event)
    assert isinstance(doc, dict)
    assert doc["url"] == {"original": "https://x.example/"}
    assert doc["event"] == {"kind": "alert", "id": event.event_id}
    assert doc["@timestamp"] == "2026-11-25T10:00:00.123Z"
    # The normaliser's own values win; the event's document is not modified.
    own = make_event("ttp-url", document={"@timestamp": "keep", "event": {"id": "normaliser-id"}})
    (doc2,) = get_encoder("json").encode(own)
    assert isinstance(doc2, dict)
    assert doc2["@timestamp"] == "keep"
    assert doc2["event"]["id"] == "normaliser-id"
    assert "id" not in event.document["event"]


def test_json_hands_a_complete_document_over_without_copying_it() -> None:
    # Documents of the normalisers carry @timestamp and event.id: the record is the document itself
    # (records are read-only), and the elastic-integration profile builds a new one from it.
    event = make_event("ttp-url")
    before = orjson.dumps(event.document)
    (doc,) = get_encoder("json").encode(event)
    assert doc is event.document
    (elastic,) = get_encoder("json", {"ecs_profile": "elastic-integration"}).encode(event)
    assert isinstance(elastic, dict)
    assert elastic is not event.document
    assert elastic["data_stream"]["dataset"] == "mimecast.ttp_url_logs"
    assert orjson.dumps(event.document) == before


def test_json_respects_flat_dotted_keys() -> None:
    event = make_event("audit", document={"event.id": "flat"})
    (doc,) = get_encoder("json").encode(event)
    assert isinstance(doc, dict)
    assert doc["event.id"] == "flat"
    assert "event" not in doc


def test_raw_is_the_record_plus_metadata_by_default_and_exact_without() -> None:
    raw = record("ttp-attachment")
    event = make_event("ttp-attachment", raw)
    (with_meta,) = get_encoder("raw").encode(event)
    assert isinstance(with_meta, dict)
    assert with_meta.pop("mimecast_siem") == {"event_id": event.event_id, "tenant": "acme", "stream": "ttp-attachment"}
    assert with_meta == raw
    (exact,) = get_encoder("raw", {"metadata": False}).encode(event)
    assert exact == raw
    assert "mimecast_siem" not in event.raw
