"""Small builders of test events for the sinks room, from the record examples of mimecast-api.md section 4.

Documents are a minimal ECS-shaped stand-in (the collector owns the real normalisers); formats read
them defensively, so tests exercise both a realistic ``raw`` and a plausible ``document``.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from mimecast_siem.config.models import Settings
from mimecast_siem.events import Event, stable_event_id

BASE_TIME = datetime(2026, 11, 25, 10, 0, 0, 123000, tzinfo=UTC)

RECORDS: dict[str, dict[str, Any]] = {
    "ttp-url": {
        "userEmailAddress": "jhartso@demo-int.example",
        "fromUserEmailAddress": "terrym@concept-variety.example",
        "url": "https://oneclient.sfx.ms/Win/Preview/OneDriveSetup.exe?x=1",
        "ttpDefinition": "Default Inbound URL Protect Definition",
        "subject": "WP-02 Data Response",
        "action": "warn",
        "adminOverride": "N/A",
        "userOverride": "None",
        "scanResult": "malicious",
        "category": "Dangerous file extension",
        "sendingIp": "34.235.45.235",
        "userAwarenessAction": "N/A",
        "date": "2024-11-14T19:44:02+0000",
        "actions": "Block",
        "route": "inbound",
        "creationMethod": "Entry Scan",
        "emailPartsDescription": ["Attachment"],
        "messageId": "<29b951d7ab596678-115297@hapi.b41.one>",
        "tagMap": {"DangerousFileExt": {"Status": ["CustomerSpecific", "VerdictBlock"], "Inspect:FileExts": ["[exe]"]}},
    },
    "ttp-attachment": {
        "senderAddress": "eric.boyt@demo-int.example",
        "recipientAddress": "charles.weldon@demo-int.example",
        "fileName": "Sandbox Test.xlsx",
        "fileType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "result": "malicious",
        "actionTriggered": "none",
        "date": "2024-11-17T00:52:30+0000",
        "details": "Malicious \r\nTime taken: 0 hrs, 0 min, 1 sec",
        "route": "internal",
        "messageId": "<675ddc8ccedda6a7-363046@hapi.b41.one>",
        "subject": "RE",
        "fileHash": "168dde02cf41aed3bf31ad831b75d8ee0b738304baa6957c40e29b2487f15116",
        "definition": "Default Internal Attachment Protect Definition",
    },
    "ttp-impersonation": {
        "id": "MTOKEN:eNqrVkouLS7Jz00tSs5PSVWy",
        "senderAddress": "johndoe@example.com",
        "recipientAddress": "johdoejr@example.com",
        "subject": "Don't read, just fill out!",
        "definition": "IP - 1 hit (Tag email)",
        "hits": 1,
        "identifiers": ["internal_user_name"],
        "action": "none",
        "taggedExternal": False,
        "taggedMalicious": True,
        "senderIpAddress": "8.8.8.8",
        "eventTime": "2021-11-12T15:30:15+0000",
        "impersonationResults": [
            {
                "impersonationDomainSource": "internal_user_name",
                "similarDomain": "John Doe <johndoe_nu@example.com>",
                "stringSimilarToDomain": "John Doe",
                "checkerResult": "hit",
            }
        ],
        "messageId": "<0-MN2PR16MB2719@MN2PR16MB2719.namprd16.prod.outlook.com>",
    },
    "held-messages": {
        "id": "eNpVzskOgjAABNB_6VUOUCwFEg8",
        "reason": "Message Hold Applied - Spam Signature policy",
        "reasonId": "MESSAGE_HOLD_APPLIED_SPAM_SIGNATURE_POLICY",
        "reasonCode": "message_hold_applied_spam_signature_policy",
        "from": {"emailAddress": "dbnotes@innovation-asylum.b41.one", "displayableName": ""},
        "fromHeader": {"emailAddress": "dbnotes@innovation-asylum.b41.one", "displayableName": ""},
        "to": {"emailAddress": "caroline@demo-int.example", "displayableName": "e-mail_"},
        "subject": "#FACS/DATA REUTERS BENCHMARK BONDS AS OF Dec 24, 2001",
        "route": "INBOUND",
        "hasAttachments": False,
        "size": 7543,
        "dateReceived": "2022-08-01T13:10:54+0000",
        "policyInfo": "Relaxed Spam Detection",
    },
    "hold-summary": {"policyInfo": "Relaxed Spam Detection", "numberOfItems": 1473},
    "email-queues": {"inboundEmailQueue": 12, "outboundEmailQueue": 3},
    "audit": {
        "id": "eNqrVipOTS4tSs1MUbJSyi1Mjgw1N6tI",
        "auditType": "Threat Intel Feed Download",
        "user": "johndoe@example.com",
        "eventTime": "2021-11-17T12:04:24+0000",
        "eventInfo": "Threat intel multiple feeds download - malware_grid_csv.zip, IP: 8.8.8.8",
        "category": "reporting_logs",
    },
}


def record(stream: str, **changes: Any) -> dict[str, Any]:
    """A deep copy of the sample record of ``stream`` with ``changes`` applied (None removes a key)."""
    data = copy.deepcopy(RECORDS[stream])
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def make_event(
    stream: str = "ttp-url",
    raw: dict[str, Any] | None = None,
    *,
    tenant: str = "acme",
    timestamp: datetime | None = None,
    document: dict[str, Any] | None = None,
    event_id: str | None = None,
    kind: str | None = None,
    extra: dict[str, Any] | None = None,
    seq: int | None = None,
) -> Event:
    """An event of ``stream``; ``seq`` gives distinct ids and times for batches."""
    raw = record(stream) if raw is None else raw
    when = timestamp or (BASE_TIME + timedelta(seconds=seq or 0))
    eid = event_id or stable_event_id(stream, raw, seq)
    if document is None:
        document = {
            "@timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
            "event": {"id": eid, "dataset": "mimecast." + stream.replace("-", "_"), "provider": stream},
            "labels": {"tenant": tenant, "stream": stream},
            "mimecast": copy.deepcopy(raw),
        }
    default_kind = {"held-messages": "snapshot", "hold-summary": "gauge", "email-queues": "gauge"}.get(stream, "log")
    return Event(
        event_id=eid,
        tenant=tenant,
        stream=stream,
        timestamp=when,
        document=document,
        raw=raw,
        kind=kind or default_kind,
        extra=extra or {},
    )


def batch(count: int, stream: str = "ttp-url", *, tenant: str = "acme", start: int = 0) -> list[Event]:
    """``count`` distinct events of ``stream`` (subject carries the sequence number)."""
    return [
        make_event(stream, record(stream, subject=f"message {i}"), tenant=tenant, seq=i)
        for i in range(start, start + count)
    ]


def settings(sinks: list[dict[str, Any]], routes: list[dict[str, Any]] | None = None, **extra: Any) -> Settings:
    """A valid Settings with one tenant ``acme`` and the given sinks/routes."""
    data: dict[str, Any] = {
        "tenants": [{"name": "acme", "client_id": "cid", "client_secret": "not-a-secret"}],
        "sinks": sinks,
        "routes": routes or [],
    }
    data.update(extra)
    return Settings.model_validate(data)
