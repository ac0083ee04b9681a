"""The SIEM normaliser: golden files, stable ids (duplicates collapse, retries do not), field quirks."""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mimecast_siem.streams import NormaliseContext
from mimecast_siem.streams.siem import SIEM_STREAM_TYPES, normalise_siem, siem_event_id

GOLDEN = Path(__file__).parents[1] / "streams" / "golden"
REGEN = os.environ.get("MIMECAST_SIEM_REGEN_GOLDEN") == "1"
CTX = NormaliseContext(tenant="acme", observed_at=datetime(2026, 11, 25, 10, 30, tzinfo=UTC))


def _cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((GOLDEN / "siem.input.json").read_text())
    return cases


def test_golden_file() -> None:
    actual = []
    for case in _cases():
        event = normalise_siem(case, CTX)
        actual.append({"event_id": event.event_id, "stream": event.stream, "timestamp": event.timestamp.isoformat(),
                       "document": event.document})  # fmt: skip
    path = GOLDEN / "siem.expected.json"
    if REGEN:
        path.write_text(json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    assert json.loads(json.dumps(actual)) == json.loads(path.read_text())


def test_elastic_example_maps_to_ecs() -> None:
    doc = normalise_siem(_cases()[0], CTX).document
    assert doc["@timestamp"] == "2024-11-14T22:04:25.697Z"  # epoch ms
    assert doc["source"]["ip"] == "81.2.69.144"
    assert doc["tls"] == {"cipher": "TLS_AES_256_GCM_SHA384", "version": "1.3", "version_protocol": "tls",
                          "established": True}  # fmt: skip
    assert doc["email"]["local_id"] == "pZrAa9HUN-WmL2AK6cWduw_1731621818"  # aggregateId, first-class
    assert doc["email"]["from"]["address"] == ["manintan@evaluation-fuzz.example"]
    assert doc["event"]["action"] == "Acc"
    assert doc["event"]["outcome"] == "success"
    assert doc["mimecast"]["spamScore"] == "21"  # kept as received
    assert doc["mimecast"]["spam_processing_detail"]["spf"]["allow"] is True  # JSON inside a string, parsed
    assert doc["event"]["dataset"] == "mimecast.siem_logs"
    assert doc["labels"]["stream"] == "siem-receipt"


def test_duplicates_collapse_and_retries_do_not() -> None:
    record = _cases()[0]
    again = copy.deepcopy(record)
    again["_offset"] = 99  # the same line delivered again at another offset
    assert siem_event_id(record) == siem_event_id(again)
    retry = dict(record, type="delivery", deliveryAttempts="1", timestamp=1731621866000)
    final = dict(retry, deliveryAttempts="2", timestamp=1731621869000)
    assert siem_event_id(retry) != siem_event_id(final)
    assert siem_event_id(retry) != siem_event_id(record)


def test_every_type_gets_its_stream_and_odd_records_do_not_raise() -> None:
    streams = {normalise_siem(c, CTX).stream for c in _cases()}
    assert set(SIEM_STREAM_TYPES) <= streams
    odd = normalise_siem(_cases()[-1], CTX)
    assert "mimecast_siem_time_unparsed" in odd.document["tags"]
    assert "ip" not in odd.document.get("source", {})
    assert odd.document["email"]["to"]["address"] == ["a@example.com", "b@example.com"]
    assert normalise_siem({}, CTX).stream == "siem-unknown"


def test_malicious_records_are_alerts_with_threat() -> None:
    virus = next(c for c in _cases() if c.get("type") == "av" and c.get("subtype") == "Virus")
    doc = normalise_siem(virus, CTX).document
    assert doc["event"]["kind"] == "alert"
    assert doc["file"]["hash"]["sha256"] == virus["sha256"]
    assert doc["email"]["attachments"][0]["file"]["hash"]["md5"] == virus["md5"]
    assert doc["threat"]["technique"]["subtechnique"]["id"] == ["T1566.001"]
    delivery = next(c for c in _cases() if c.get("type") == "delivery")
    ddoc = normalise_siem(delivery, CTX).document
    assert ddoc["destination"]["ip"] == delivery["destinationIp"]
    assert ddoc["event"]["outcome"] == ("success" if delivery["delivered"] == "true" else "failure")
