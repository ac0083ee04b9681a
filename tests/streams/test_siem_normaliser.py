"""The SIEM normaliser: golden files, stable ids (duplicates collapse, retries do not), field quirks."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.streams import NormaliseContext
from mimecast_siem.streams.normalise import prune
from mimecast_siem.streams.siem import SIEM_STREAM_TYPES, normalise_siem, siem_event_id

GOLDEN = Path(__file__).parent / "golden"
CTX = NormaliseContext(tenant="acme", observed_at=datetime(2026, 11, 25, 10, 30, tzinfo=UTC))


def _cases() -> list[dict[str, Any]]:
    """Every SIEM golden input (tests/streams/test_normalisers_golden.py pins their events)."""
    cases: list[dict[str, Any]] = []
    for stream in SIEM_STREAM_TYPES:
        cases.extend(json.loads((GOLDEN / f"{stream}.input.json").read_text()))
    return cases


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
    odd = normalise_siem(
        {"type": "receipt", "timestamp": "x", "senderIp": "999.1.1.1", "recipients": ["a@x.example", "b@x.example"]},
        CTX,
    )
    assert "mimecast_siem_time_unparsed" in odd.document["tags"]
    assert "ip" not in odd.document.get("source", {})
    assert odd.document["email"]["to"]["address"] == ["a@x.example", "b@x.example"]
    assert normalise_siem({}, CTX).stream == "siem-unknown"


def test_malicious_records_are_alerts_with_threat() -> None:
    virus = next(
        c
        for c in _cases()
        if c.get("type") == "av" and c.get("subtype") == "Virus" and isinstance(c.get("timestamp"), int)
    )
    doc = normalise_siem(virus, CTX).document
    assert doc["event"]["kind"] == "alert"
    assert doc["file"]["hash"]["sha256"] == virus["sha256"]
    assert doc["email"]["attachments"][0]["file"]["hash"]["md5"] == virus["md5"]
    assert doc["threat"]["technique"]["subtechnique"]["id"] == ["T1566.001"]
    delivery = next(c for c in _cases() if c.get("type") == "delivery" and c.get("delivered"))
    ddoc = normalise_siem(delivery, CTX).document
    assert ddoc["destination"]["ip"] == delivery["destinationIp"]
    assert ddoc["event"]["outcome"] == ("success" if delivery["delivered"] == "true" else "failure")


def test_formats_join_the_stages_on_aggregate_id() -> None:
    from mimecast_siem.sinks import get_encoder

    record = _cases()[0]
    event = normalise_siem(record, CTX)
    cef = str(get_encoder("cef").encode(event)[0])
    assert record["aggregateId"] in cef
    ocsf = get_encoder("ocsf").encode(event)[0]
    assert isinstance(ocsf, dict)
    assert ocsf["class_uid"] == 4009
    assert ocsf["email"]["uid"] == record["aggregateId"]
    for siem_type, class_uid in (("url protect", 4012), ("av", 4011), ("attachment protect", 4011)):
        case = next(c for c in _cases() if c.get("type") == siem_type)
        record_out = get_encoder("ocsf").encode(normalise_siem(case, CTX))[0]
        assert isinstance(record_out, dict)
        assert record_out["class_uid"] == class_uid
        assert record_out["email_uid"] == case["aggregateId"]


def test_ocsf_records_are_valid_under_the_declared_schema() -> None:
    from mimecast_siem.sinks import get_encoder
    from tests.sinks.test_ocsf_schema import schema_problems

    checked = 0
    for case in _cases():
        for rec in get_encoder("ocsf").encode(normalise_siem(case, CTX)):
            assert isinstance(rec, dict)
            assert schema_problems(rec) == [], (case.get("type"), rec["class_uid"])
            checked += 1
    assert checked >= len(_cases())


SIEM_FIELDS = [
    "type", "timestamp", "action", "subtype", "senderEnvelope", "senderHeader", "recipients", "senderIp", "sourceIp",
    "destinationIp", "direction", "route", "subject", "messageId", "aggregateId", "fileName", "sha256", "md5", "sha1",
    "attachments", "fileExtension", "fileSize", "totalSizeAttachments", "url", "senderDomain", "tlsVersion", "tlsVer",
    "tlsCipher", "tlsUsed", "policyDefinition", "rejectionCode", "rejectionType", "receiptErrors", "deliveryErrors",
    "Hostname", "delivered", "virusFound", "taggedMalicious", "rejectionInfo", "holdReason",
]  # fmt: skip
SIEM_VALUES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            " ",
            "TLSv1.2",
            "tls",
            "SSLv3",
            "true",
            "no",
            "0",
            "a@b.com",
            "Name <c@d.org>",
            "10.0.0.1",
            "https://Example.COM:8443/p?q#f",
            "not a url",
            "ABCDEF",
            "block",
            "Hld",
            "virus",
            "malicious",
            "2026-12-07T10:00:00+0000",
        ]
    ),
    st.booleans(),
    st.integers(min_value=-1, max_value=3),
    st.text(max_size=8),
    st.lists(st.sampled_from(["a@b.com", "", "x"]), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(
    record=st.dictionaries(st.sampled_from(SIEM_FIELDS), SIEM_VALUES, max_size=16),
    stream=st.sampled_from([None, *SIEM_STREAM_TYPES]),
)
def test_documents_are_built_without_empty_values(record: dict[str, Any], stream: str | None) -> None:
    """build_event(pruned=True): what the generic prune pass would leave is what is built (order included)."""
    document = normalise_siem(record, CTX, stream).document
    ecs = {key: value for key, value in document.items() if key != "mimecast"}
    assert orjson.dumps(prune(copy.deepcopy(ecs))) == orjson.dumps(ecs)


def test_an_attachment_keeps_its_empty_values_under_email_only() -> None:
    """prune() never entered lists: email.attachments[].file keeps what file.* loses."""
    doc = normalise_siem({"type": "receipt", "fileName": "a.pdf", "md5": "ABC"}, CTX).document
    assert doc["file"] == {"name": "a.pdf", "hash": {"md5": "abc"}}
    listed = doc["email"]["attachments"][0]["file"]
    assert listed == {
        "name": "a.pdf",
        "extension": None,
        "size": None,
        "hash": {"md5": "abc", "sha1": None, "sha256": None},
    }
    assert doc["related"]["hash"] == ["abc"]
