"""OCSF encoder: class per stream, Detection Findings for malicious verdicts, valid shape always."""

from __future__ import annotations

from typing import Any

import pytest

from mimecast_siem.events import Event
from mimecast_siem.sinks.formats import get_encoder
from tests.sinks.builders import RECORDS, make_event, record
from tests.sinks.ocsf_shape import ocsf_problems


def encode(event: Event, **options: Any) -> list[dict[str, Any]]:
    records = get_encoder("ocsf", options or None).encode(event)
    assert all(isinstance(r, dict) for r in records)
    out = [r for r in records if isinstance(r, dict)]
    for r in out:
        assert ocsf_problems(r) == [], (r["class_uid"], ocsf_problems(r))
    return out


def test_shape_checker_catches_inconsistent_uids() -> None:
    (good,) = encode(make_event("audit"))
    bad = dict(good, type_uid=good["type_uid"] + 1)
    assert any("type_uid" in p for p in ocsf_problems(bad))
    missing = {k: v for k, v in good.items() if k != "severity_id"}
    assert "missing severity_id" in ocsf_problems(missing)


@pytest.mark.parametrize(
    ("stream", "class_uid", "activity_id"),
    [
        ("ttp-url", 4012, 3),
        ("ttp-attachment", 4011, 3),
        ("ttp-impersonation", 4009, 3),
        ("held-messages", 4009, 2),
        ("hold-summary", 0, 99),
        ("email-queues", 0, 99),
        ("audit", 0, 99),
    ],
)
def test_each_stream_maps_to_its_class(stream: str, class_uid: int, activity_id: int) -> None:
    activity = encode(make_event(stream))[0]
    assert (activity["class_uid"], activity["activity_id"]) == (class_uid, activity_id)
    assert activity["metadata"]["product"]["vendor_name"] == "Mimecast"
    assert activity["metadata"]["log_name"] == stream
    assert activity["time"] == 1795600800123


def test_url_click_maps_url_email_policy_and_keeps_the_rest_unmapped() -> None:
    raw = record("ttp-url", scanResult="clean", action="allow")
    (activity,) = encode(make_event("ttp-url", raw))
    assert activity["email_uid"] == raw["messageId"]
    assert activity["url"]["url_string"] == raw["url"]
    assert activity["url"]["hostname"] == "oneclient.sfx.ms"
    assert activity["url"]["query_string"] == "x=1"
    assert activity["url"]["categories"] == ["Dangerous file extension"]
    assert activity["policy"] == {"name": raw["ttpDefinition"]}
    assert (activity["action_id"], activity["disposition_id"]) == (1, 1)
    assert activity["severity_id"] == 1
    assert "is_alert" not in activity
    unmapped = activity["unmapped"]
    for key in ("userEmailAddress", "fromUserEmailAddress", "subject", "sendingIp", "tagMap", "date"):
        assert unmapped[key] == raw[key]
    for key in ("url", "messageId", "ttpDefinition", "scanResult"):
        assert key not in unmapped
    observed = {(o["type_id"], o["value"]) for o in activity["observables"]}
    assert (6, raw["url"]) in observed
    assert (5, "jhartso@demo-int.example") in observed
    assert (2, "34.235.45.235") in observed


@pytest.mark.parametrize(
    ("changes", "finding"),
    [
        ({"scanResult": "malicious", "action": "warn"}, True),
        ({"scanResult": "clean", "action": "block"}, True),
        ({"scanResult": "clean", "action": "allow"}, False),
        ({"scanResult": "Malicious", "action": "allow"}, True),
    ],
)
def test_url_finding_for_malicious_or_blocked(changes: dict[str, str], finding: bool) -> None:
    event = make_event("ttp-url", record("ttp-url", **changes))
    records = encode(event)
    assert len(records) == (2 if finding else 1)
    if finding:
        activity, detection = records
        assert detection["class_uid"] == 2004
        assert detection["type_uid"] == 200401
        assert detection["finding_info"]["uid"] == event.event_id
        assert detection["finding_info"]["attacks"][0]["technique"]["uid"] == "T1566.002"
        assert detection["metadata"]["correlation_uid"] == event.event_id
        assert detection["evidences"][0]["url"]["url_string"] == event.raw["url"]
        assert activity["is_alert"] is True
        assert detection["is_alert"] is True


def test_findings_can_be_switched_off() -> None:
    assert len(encode(make_event("ttp-url"), findings=False)) == 1


def test_attachment_maps_file_and_hash_and_raises_a_finding_when_malicious() -> None:
    raw = record("ttp-attachment")
    activity, detection = encode(make_event("ttp-attachment", raw))
    assert activity["file"]["name"] == "Sandbox Test.xlsx"
    assert activity["file"]["hashes"] == [{"algorithm_id": 3, "algorithm": "SHA-256", "value": raw["fileHash"]}]
    assert activity["severity_id"] == 4
    assert detection["finding_info"]["attacks"][0]["technique"]["uid"] == "T1566.001"
    assert encode(make_event("ttp-attachment", record("ttp-attachment", result="clean")))[0]["severity_id"] == 1
    assert len(encode(make_event("ttp-attachment", record("ttp-attachment", result="clean")))) == 1


def test_impersonation_is_email_activity_with_sender_ip() -> None:
    raw = record("ttp-impersonation")
    activity, detection = encode(make_event("ttp-impersonation", raw))
    assert activity["email"]["from"] == "johndoe@example.com"
    assert activity["email"]["to"] == ["johdoejr@example.com"]
    assert activity["email"]["uid"] == raw["id"]
    assert activity["src_endpoint"] == {"ip": "8.8.8.8"}
    assert detection["finding_info"]["types"] == ["internal_user_name"]
    untagged = record("ttp-impersonation", taggedMalicious=False)
    assert len(encode(make_event("ttp-impersonation", untagged))) == 1


def test_impersonation_results_as_strings_do_not_break_the_mapping() -> None:
    # mimecast-api.md quirk 12: impersonationResults may be a list of strings.
    raw = record("ttp-impersonation", impersonationResults=["internal_user_name", "hit"])
    activity = encode(make_event("ttp-impersonation", raw))[0]
    assert activity["unmapped"]["impersonationResults"] == ["internal_user_name", "hit"]


def test_held_message_enter_and_leave() -> None:
    raw = record("held-messages")
    entered = make_event(
        "held-messages",
        raw,
        document={"event": {"action": "message-held"}, "mimecast": dict(raw, transition="entered")},
    )
    left = make_event(
        "held-messages",
        raw,
        document={
            "event": {"action": "message-left-hold"},
            "mimecast": dict(raw, transition="left", held_for_seconds=42.5),
        },
    )
    (a,) = encode(entered)
    (b,) = encode(left)
    assert (a["activity_id"], a["disposition_id"]) == (2, 3)
    assert a["email"]["from"] == "dbnotes@innovation-asylum.b41.one"
    assert a["direction_id"] == 1
    assert a["email"]["size"] == 7543
    assert (b["activity_id"], b["activity_name"], b["type_uid"]) == (99, "Left Hold", 400999)
    assert b["unmapped"]["held_for_seconds"] == 42.5


@pytest.mark.parametrize("stream", sorted(RECORDS))
def test_missing_fields_still_give_valid_records(stream: str) -> None:
    encode(make_event(stream, {}))
    encode(make_event(stream, dict.fromkeys(RECORDS[stream])))


def test_raw_data_option_carries_the_original_record() -> None:
    import orjson

    raw = record("audit")
    (activity,) = encode(make_event("audit", raw), raw_data=True)
    assert orjson.loads(activity["raw_data"]) == raw
