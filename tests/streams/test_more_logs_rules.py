"""Rules of the DLP, message-release, rejection, archive and threat-intel normalisers (golden files: test_normalisers_golden)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mimecast_siem.streams import NormaliseContext
from mimecast_siem.streams.gateway import normalise_held_message
from mimecast_siem.streams.gateway_logs import (
    normalise_message_release,
    release_outcome,
)
from mimecast_siem.streams.threat_intel import (
    TAG_STIX_INVALID,
    confidence_label,
    normalise_threat_intel_customer,
    normalise_threat_intel_grid,
    pattern_observables,
)
from tests.streams.cases import GOLDEN

OBSERVED_AT = datetime(2026, 11, 25, 10, 30, 0, tzinfo=UTC)
CTX = NormaliseContext(tenant="acme", observed_at=OBSERVED_AT)


@pytest.mark.parametrize(
    ("record", "outcome"),
    [
        ({"status": "released", "operator": {"emailAddress": "it@x.example"}}, "released"),
        ({"status": "rejected", "operator": {"emailAddress": "it@x.example"}}, "rejected"),
        ({"status": "rejected", "operator": {"emailAddress": "housekeeping"}}, "expired"),
        ({"status": "rejected", "rejectReason": "Expired by housekeeping"}, "expired"),
        ({"status": "expired"}, "expired"),
        ({}, "rejected"),
    ],
)
def test_release_outcome(record: dict[str, Any], outcome: str) -> None:
    assert release_outcome(record) == outcome


def test_release_joins_the_held_message_on_email_local_id() -> None:
    held = normalise_held_message(
        {"id": "eNpHOLD", "dateReceived": "2024-11-18T06:00:00+0000", "subject": "x"},
        NormaliseContext(tenant="acme", observed_at=OBSERVED_AT, transition="entered"),
    )
    release = normalise_message_release(
        {"id": "eNpHOLD", "status": "released", "released": "2024-11-18T06:35:12+0000",
         "operator": {"emailAddress": "it.admin@northwind.example.com"}},
        CTX,
    )  # fmt: skip
    assert release.document["email"]["local_id"] == held.document["email"]["local_id"] == "eNpHOLD"
    assert release.document["user"]["email"] == "it.admin@northwind.example.com"
    assert release.document["event"]["action"] == "message-released"
    assert release.document["mimecast"]["outcome"] == "released"


def test_expired_release_names_housekeeping_as_operator_not_user() -> None:
    event = normalise_message_release(
        {"id": "h", "status": "rejected", "rejectReason": "Expired by housekeeping", "released": "2024-11-18T06:35:12+0000",
         "operator": {"emailAddress": "housekeeping"}},
        CTX,
    )  # fmt: skip
    assert event.document["event"]["action"] == "message-expired"
    assert event.document["user"] == {"name": "housekeeping"}


def test_indicator_versions_are_distinct_events_and_repeats_are_not() -> None:
    base = json.loads((GOLDEN / "threat-intel-customer.input.json").read_text())[1]
    again = normalise_threat_intel_customer(dict(base), CTX)
    first = normalise_threat_intel_customer(base, CTX)
    revised = normalise_threat_intel_customer({**base, "modified": "2026-11-25T11:00:00.000Z", "confidence": 95}, CTX)
    assert first.event_id == again.event_id
    assert revised.event_id != first.event_id
    grid = normalise_threat_intel_grid(base, CTX)
    assert grid.event_id != first.event_id
    assert grid.document["threat"]["feed"]["name"] == "Mimecast Malware Grid"


def test_indicator_hashes_come_from_the_pattern() -> None:
    base = json.loads((GOLDEN / "threat-intel-customer.input.json").read_text())[1]
    document = normalise_threat_intel_customer(base, CTX).document
    indicator = document["threat"]["indicator"]
    assert indicator["type"] == "file"
    assert set(indicator["file"]["hash"]) == {"sha256", "md5", "sha1"}
    assert sorted(document["related"]["hash"]) == sorted(indicator["file"]["hash"].values())
    assert indicator["confidence"] == "High"
    assert indicator["modified_at"] == "2026-11-25T09:15:00.000Z"
    assert document["@timestamp"] == "2026-11-25T09:15:00.000Z"
    assert document["event"]["kind"] == "enrichment"
    assert TAG_STIX_INVALID not in document.get("tags", [])


def test_an_object_stix2_refuses_is_delivered_and_tagged() -> None:
    record = json.loads((GOLDEN / "threat-intel-grid.input.json").read_text())[0]  # a 4-digit "SHA-256"
    document = normalise_threat_intel_grid(record, CTX).document
    assert TAG_STIX_INVALID in document["tags"]
    assert "SHA-256" in document["mimecast"]["stix_problem"]
    assert document["threat"]["indicator"]["file"]["hash"]["sha256"] == "ec5a"


def test_unparsable_pattern_is_tagged_not_raised() -> None:
    record = {"type": "indicator", "spec_version": "2.1", "id": "indicator--1f0e6a52-5b1c-4a3f-9c3e-2d9b8f0e7a61",
              "modified": "2026-11-25T09:00:00.000Z", "pattern": "[file:hashes = ", "pattern_type": "stix"}  # fmt: skip
    document = normalise_threat_intel_customer(record, CTX).document
    assert TAG_STIX_INVALID in document["tags"]
    assert "type" not in document["threat"]["indicator"]
    with pytest.raises(ValueError, match="does not parse"):
        pattern_observables("[file:hashes = ", "2.1")


HOSTILE_VALUES: list[Any] = [
    None,
    0,
    5,
    -1.5,
    True,
    "",
    "  ",
    "x",
    [],
    [1, None],
    ["a", ""],
    {},
    {"a": 1},
    [[["deep"]]],
]


def test_every_field_of_an_indicator_may_hold_any_json_value() -> None:
    """A feed entry with any top-level value of another type is still an event (never an exception).

    Found by a profile run: an integer ``labels`` raised TypeError and an empty ``pattern`` made stix2's
    own validator raise UnboundLocalError; the pipeline's guard caught both, but as fallback events.
    """
    base = json.loads((GOLDEN / "threat-intel-customer.input.json").read_text())[1]
    for key in [*base, "labels", "pattern", "spec_version", "confidence", "valid_from", "created"]:
        for value in HOSTILE_VALUES:
            record = {**base, key: value}
            for normalise in (normalise_threat_intel_customer, normalise_threat_intel_grid):
                event = normalise(record, CTX)
                json.dumps(event.document)
                assert all(isinstance(tag, str) and tag for tag in event.document.get("tags", [])), (key, value)


def test_labels_are_a_list_of_strings_or_one_string() -> None:
    base = json.loads((GOLDEN / "threat-intel-customer.input.json").read_text())[1]
    tags = normalise_threat_intel_customer({**base, "labels": "malicious-activity"}, CTX).document["tags"]
    assert "malicious-activity" in tags
    assert not {"m", "a"} & set(tags)  # not one tag per character
    tags = normalise_threat_intel_customer({**base, "labels": {"benign": 1}}, CTX).document.get("tags", [])
    assert "benign" not in tags


@pytest.mark.parametrize(("value", "label"), [(0, "None"), (10, "Low"), (30, "Medium"), (70, "High"), (101, None),
                                              ("85", "High"), (None, None)])  # fmt: skip
def test_confidence_scale(value: Any, label: str | None) -> None:
    assert confidence_label(value) == label
