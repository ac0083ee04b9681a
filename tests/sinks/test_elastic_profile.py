"""The ``elastic-integration`` ECS profile of the json format: Elastic's datasets and field placements."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.errors import ConfigError
from mimecast_siem.events import Event
from mimecast_siem.sinks.formats import get_encoder
from mimecast_siem.sinks.formats.elastic_profile import ELASTIC_DATASETS, elastic_dataset, elastic_integration_document
from mimecast_siem.streams import NormaliseContext
from mimecast_siem.streams.archive import normalise_archive_search, normalise_archive_view
from mimecast_siem.streams.audit import normalise_audit
from mimecast_siem.streams.gateway import normalise_held_message
from mimecast_siem.streams.gateway_logs import normalise_dlp, normalise_message_release
from mimecast_siem.streams.threat_intel import normalise_threat_intel_grid
from mimecast_siem.streams.ttp import normalise_ttp_attachment, normalise_ttp_impersonation, normalise_ttp_url

GOLDEN = Path(__file__).parents[1] / "streams" / "golden"
CTX = NormaliseContext(tenant="acme", observed_at=datetime(2026, 11, 25, 10, 30, tzinfo=UTC))
Normaliser = Callable[[Mapping[str, Any], NormaliseContext], Event]


def _event(stream: str, normalise: Normaliser, index: int = 0) -> Event:
    return normalise(json.loads((GOLDEN / f"{stream}.input.json").read_text())[index], CTX)


def _elastic(event: Event) -> dict[str, Any]:
    (document,) = get_encoder("json", {"ecs_profile": "elastic-integration"}).encode(event)
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize(
    ("stream", "normalise"),
    [("ttp-url", normalise_ttp_url), ("ttp-attachment", normalise_ttp_attachment),
     ("ttp-impersonation", normalise_ttp_impersonation), ("audit", normalise_audit), ("dlp", normalise_dlp),
     ("message-release", normalise_message_release), ("archive-search", normalise_archive_search),
     ("threat-intel-grid", normalise_threat_intel_grid)],
)  # fmt: skip
def test_streams_both_have_get_elastic_datasets(stream: str, normalise: Normaliser) -> None:
    event = _event(stream, normalise)
    native = copy.deepcopy(event.document)
    document = _elastic(event)
    assert document["event"]["dataset"] == ELASTIC_DATASETS[stream]
    assert document["data_stream"] == {"type": "logs", "dataset": ELASTIC_DATASETS[stream], "namespace": "default"}
    assert document["event"]["module"] == "mimecast"
    assert document["event"]["id"] == event.event_id  # our stable dedupe id stays
    assert event.document == native  # the profile never changes the event other sinks share


def test_streams_elastic_lacks_keep_their_dataset() -> None:
    event = _event("archive-view", normalise_archive_view)
    document = _elastic(event)
    assert document["event"]["dataset"] == "mimecast.archive_view"
    assert document["data_stream"]["dataset"] == "mimecast.archive_view"
    held = normalise_held_message({"id": "h", "dateReceived": "2024-11-18T06:00:00+0000"}, CTX)
    assert _elastic(held)["event"]["dataset"] == "mimecast.held_messages"
    assert elastic_dataset("rejections") is None
    assert elastic_dataset("siem-receipt") == "mimecast.siem_logs"


def test_ttp_and_dlp_take_the_record_time_as_event_created() -> None:
    for stream, normalise in (("ttp-url", normalise_ttp_url), ("dlp", normalise_dlp)):
        document = _elastic(_event(stream, normalise))
        assert document["event"]["created"] == document["@timestamp"]


def test_attachment_protect_writes_one_attachment_object_with_extension() -> None:
    document = _elastic(_event("ttp-attachment", normalise_ttp_attachment))
    attachment = document["email"]["attachments"]["file"]
    assert attachment["name"].endswith("." + attachment["extension"])
    assert len(attachment["hash"]["sha256"]) == 64
    assert " " not in document["event"]["action"]


def test_audit_action_is_bone_cased_and_user_split() -> None:
    document = _elastic(_event("audit", normalise_audit))
    assert document["event"]["action"] == "threat-intel-feed-download"
    assert document["user"] == {"email": "johndoe@example.com", "name": "johndoe", "domain": "example.com"}


def test_message_release_follows_elastics_pipeline() -> None:
    document = _elastic(_event("message-release", normalise_message_release))
    assert document["event"]["action"] == "released"
    assert document["event"]["type"] == ["info"]
    assert document["event"]["risk_score"] == 12.0
    assert document["email"]["from"]["address"] == ["bounce@mailer.example.net", "news@mailer.example.net"]
    assert document["user"] == {"email": ["kay.mann@northwind.example.com"]}  # inbound: the recipient
    assert document["email"]["local_id"] == "eNpVzskOgjAABNB_6VUOUCwFEg8"  # the join key stays
    rejected = _elastic(_event("message-release", normalise_message_release, 1))
    assert rejected["event"]["reason"] == "MESSAGE CONTAINS UNDESIRABLE CONTENT"


def test_archive_search_details_and_category() -> None:
    document = _elastic(_event("archive-search", normalise_archive_search))
    assert document["mimecast"]["search_details"] == {
        "text": "merger", "source": "archive", "path": "/archive/search", "reason": "Legal hold request 4711",
    }  # fmt: skip
    assert document["event"]["category"] == ["api"]
    assert document["event"]["type"] == ["admin"]
    assert document["user"]["domain"] == "example.com"


def test_threat_intel_is_stamped_with_its_creation_time() -> None:
    event = _event("threat-intel-grid", normalise_threat_intel_grid, 1)
    document = _elastic(event)
    assert document["@timestamp"] == "2026-11-25T09:00:00.000Z"
    assert event.document["@timestamp"] == "2026-11-25T09:05:00.000Z"
    assert document["threat"]["indicator"]["modified_at"] == "2026-11-25T09:05:00.000Z"


def test_native_profile_is_the_default() -> None:
    event = _event("dlp", normalise_dlp)
    (document,) = get_encoder("json").encode(event)
    assert isinstance(document, dict)
    assert document["event"]["dataset"] == "mimecast.dlp"
    assert "data_stream" not in document


def test_namespace_option() -> None:
    event = _event("dlp", normalise_dlp)
    (document,) = get_encoder("json", {"ecs_profile": "elastic-integration", "data_stream_namespace": "prod"}).encode(
        event
    )
    assert isinstance(document, dict)
    assert document["data_stream"]["namespace"] == "prod"


@pytest.mark.parametrize("options", [{"ecs_profile": "splunk"}, {"data_stream_namespace": "Has Space"}])
def test_bad_options_name_the_key(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        get_encoder("json", options)
    assert next(iter(options)) in str(caught.value.problems[0])


def test_pure_on_arbitrary_documents() -> None:
    document: dict[str, Any] = {"event": {"dataset": "x"}, "mimecast": {"status": "released"}}
    out = elastic_integration_document(document, "message-release")
    assert document == {"event": {"dataset": "x"}, "mimecast": {"status": "released"}}
    assert out["event"]["action"] == "released"
