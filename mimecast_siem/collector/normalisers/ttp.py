"""Normalisers of the three Targeted Threat Protection log streams (URL, attachment, impersonation).

TTP URL and attachment records carry no id (quirk 3): their ``event.id`` hashes the fields that
identify one log line. Impersonation records have an ``id``. Field mapping follows Elastic's public
TTP pipelines where one exists (sinks.md section 5.2) so dashboards built on it translate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mimecast_siem.collector.normalisers.common import (
    SUBTECHNIQUE_PHISHING_ATTACHMENT,
    SUBTECHNIQUE_PHISHING_LINK,
    TACTIC_DEFENSE_EVASION,
    TACTIC_INITIAL_ACCESS,
    TECHNIQUE_IMPERSONATION,
    TECHNIQUE_PHISHING,
    NormaliseContext,
    build_event,
    direction,
    domain_of,
    email_address,
    email_addresses,
    ip_text,
    number,
    record_time,
    related,
    text,
    url_fields,
)
from mimecast_siem.events import Event, stable_event_id

#: Severity by verdict (the CEF mapping of sinks.md section 3.3 uses the same scale).
_SEVERITY = {"clean": 1, "safe": 1, "unknown": 3, "timeout": 3, "suspicious": 6, "malicious": 8}
_BLOCKING_ACTIONS = {"block", "blocked", "hold", "bounce", "reject", "quarantine"}

#: Fields whose values identify one log line (TTP URL and attachment records have no id).
TTP_URL_ID_FIELDS = ("date", "messageId", "userEmailAddress", "fromUserEmailAddress", "url", "creationMethod", "action")
TTP_ATTACHMENT_ID_FIELDS = ("date", "messageId", "senderAddress", "recipientAddress", "fileName", "fileHash", "result")
#: Impersonation records carry ``id``; these are used only when a record lacks it.
TTP_IMPERSONATION_FALLBACK_ID_FIELDS = ("eventTime", "messageId", "senderAddress", "recipientAddress", "definition")


def _severity(verdict: str | None, action: str | None) -> int:
    base = _SEVERITY.get((verdict or "").lower(), 3 if verdict else 1)
    return base + (1 if (action or "").lower() in _BLOCKING_ACTIONS else 0)


def _event_type(action: str | None) -> list[str]:
    lowered = (action or "").lower()
    if lowered in _BLOCKING_ACTIONS:
        return ["denied"]
    if lowered in {"allow", "allowed", "permit"}:
        return ["allowed"]
    return ["info"]


def _outcome(action: str | None) -> str:
    lowered = (action or "").lower()
    if lowered in _BLOCKING_ACTIONS:
        return "failure"
    if lowered in {"allow", "allowed", "permit"}:
        return "success"
    return "unknown"


def _threat(
    technique: Mapping[str, str],
    tactic: Mapping[str, str],
    indicator: Mapping[str, Any],
    subtechnique: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    threat: dict[str, Any] = {
        "framework": "MITRE ATT&CK",
        "tactic": {"id": [tactic["id"]], "name": [tactic["name"]]},
        "technique": {"id": [technique["id"]], "name": [technique["name"]]},
        "enrichments": [{"indicator": {**indicator, "provider": "Mimecast"}}],
    }
    if subtechnique is not None:
        threat["technique"]["subtechnique"] = {"id": [subtechnique["id"]], "name": [subtechnique["name"]]}
    return threat


def _email(sender: Any, recipients: Any, record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "from": {"address": email_addresses(sender)},
        "to": {"address": email_addresses(recipients)},
        "subject": text(record.get("subject")),
        "message_id": text(record.get("messageId")),
        "direction": direction(record.get("route")),
    }


def ttp_url_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of a URL Protect record (it has no id of its own): a hash of its identifying fields."""
    return stable_event_id("ttp-url", *(record.get(f) for f in TTP_URL_ID_FIELDS))


def ttp_attachment_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of an Attachment Protect record: a hash of its identifying fields."""
    return stable_event_id("ttp-attachment", *(record.get(f) for f in TTP_ATTACHMENT_ID_FIELDS))


def ttp_impersonation_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of an Impersonation Protect record: its ``id``, else a hash of identifying fields."""
    record_id = text(record.get("id"))
    if record_id is not None:
        return stable_event_id("ttp-impersonation", record_id)
    return stable_event_id("ttp-impersonation", *(record.get(f) for f in TTP_IMPERSONATION_FALLBACK_ID_FIELDS))


def normalise_ttp_url(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """A URL Protect click/scan log line (``clickLogs[]``) → ECS event."""
    stream = "ttp-url"
    when, parsed = record_time(record, "date", ctx)
    event_id = ttp_url_event_id(record)
    verdict = text(record.get("scanResult"))
    action = text(record.get("action"))
    malicious = (verdict or "").lower() == "malicious"
    url = url_fields(record.get("url"))
    recipients = email_addresses(record.get("userEmailAddress"))
    sender = email_address(record.get("fromUserEmailAddress"))
    source_ip = ip_text(record.get("sendingIp"))
    fields: dict[str, Any] = {
        "email": _email(sender, recipients, record),
        "url": url,
        "source": {"ip": source_ip},
        "user": {"email": recipients},
        "rule": {"name": text(record.get("ttpDefinition")), "category": text(record.get("category"))},
        "related": related(users=recipients, ips=[source_ip], hosts=[url.get("domain")]),
    }
    if malicious and url:
        fields["threat"] = _threat(
            TECHNIQUE_PHISHING,
            TACTIC_INITIAL_ACCESS,
            {"type": "url", "url": {"original": url["original"]}},
            SUBTECHNIQUE_PHISHING_LINK,
        )
    return build_event(
        stream=stream,
        dataset="mimecast.ttp_url",
        event_id=event_id,
        record=record,
        ctx=ctx,
        when=when,
        time_parsed=parsed,
        event={
            "kind": "alert" if malicious else "event",
            "category": ["email", "threat"] if malicious else ["email", "web"],
            "type": _event_type(action),
            # Elastic maps userAwarenessAction to event.action; the URL action itself is in event.type.
            "action": text(record.get("userAwarenessAction")),
            "outcome": _outcome(action),
            "severity": _severity(verdict, action),
        },
        fields=fields,
    )


def normalise_ttp_attachment(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """An Attachment Protect sandbox log line (``attachmentLogs[]``) → ECS event."""
    stream = "ttp-attachment"
    when, parsed = record_time(record, "date", ctx)
    event_id = ttp_attachment_event_id(record)
    verdict = text(record.get("result"))
    action = text(record.get("actionTriggered"))
    malicious = (verdict or "").lower() == "malicious"
    sha256 = text(record.get("fileHash"))
    file_fields = {
        "name": text(record.get("fileName")),
        "mime_type": text(record.get("fileType")),
        "hash": {"sha256": sha256.lower() if sha256 else None},
    }
    sender = email_address(record.get("senderAddress"))
    recipients = email_addresses(record.get("recipientAddress"))
    email = _email(sender, recipients, record)
    email["attachments"] = [{"file": file_fields}]
    fields: dict[str, Any] = {
        "email": email,
        "file": file_fields,
        "rule": {"name": text(record.get("definition"))},
        "related": related(users=[*recipients, *([sender] if sender else [])], hosts=[]),
    }
    if sha256:
        fields["related"]["hash"] = [sha256.lower()]
    if malicious and sha256:
        fields["threat"] = _threat(
            TECHNIQUE_PHISHING,
            TACTIC_INITIAL_ACCESS,
            {"type": "file", "file": {"hash": {"sha256": sha256.lower()}, "name": file_fields["name"]}},
            SUBTECHNIQUE_PHISHING_ATTACHMENT,
        )
    return build_event(
        stream=stream,
        dataset="mimecast.ttp_attachment",
        event_id=event_id,
        record=record,
        ctx=ctx,
        when=when,
        time_parsed=parsed,
        event={
            "kind": "alert" if malicious else "event",
            "category": ["email", "file", "malware"] if malicious else ["email", "file"],
            "type": _event_type(action) if malicious else ["info"],
            "action": action,
            "outcome": _outcome(action) if action and action.lower() != "none" else "unknown",
            "severity": _severity(verdict, action),
            "reason": text(record.get("details")),
        },
        fields=fields,
    )


def impersonation_results(value: Any) -> list[dict[str, Any]]:
    """``impersonationResults`` in one shape: a list of objects (quirk 12: some tenants send strings).

    A string becomes ``{"impersonationDomainSource": <string>}``; other non-object items are dropped.
    """
    items = value if isinstance(value, list) else ([] if value is None else [value])
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, Mapping):
            out.append(dict(item))
        elif isinstance(item, str) and item.strip():
            out.append({"impersonationDomainSource": item.strip()})
    return out


def normalise_ttp_impersonation(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """An Impersonation Protect log line (``impersonationLogs[]``) → ECS event."""
    stream = "ttp-impersonation"
    when, parsed = record_time(record, "eventTime", ctx)
    event_id = ttp_impersonation_event_id(record)
    malicious = record.get("taggedMalicious") is True
    action = text(record.get("action"))
    hits = number(record.get("hits"))
    results = impersonation_results(record.get("impersonationResults"))
    sender = email_address(record.get("senderAddress"))
    recipients = email_addresses(record.get("recipientAddress"))
    source_ip = ip_text(record.get("senderIpAddress"))
    identifiers = record.get("identifiers")
    fields: dict[str, Any] = {
        "email": _email(sender, recipients, record),
        "source": {"ip": source_ip},
        "rule": {"name": text(record.get("definition"))},
        "related": related(users=[*recipients, *([sender] if sender else [])], ips=[source_ip]),
    }
    if malicious:
        sender_domain = domain_of(sender) if sender else None
        fields["threat"] = _threat(
            TECHNIQUE_IMPERSONATION,
            TACTIC_DEFENSE_EVASION,
            {"type": "email-addr", "email": {"address": sender}, "url": {"domain": sender_domain}},
        )
    mimecast = dict(record)
    if "impersonationResults" in record:
        mimecast["impersonationResults"] = results
    if "identifiers" in record and not isinstance(identifiers, list):
        mimecast["identifiers"] = [identifiers] if isinstance(identifiers, str) else []
    if malicious:
        severity = 8
    elif hits:
        severity = 5
    else:
        severity = 1
    return build_event(
        stream=stream,
        dataset="mimecast.ttp_impersonation",
        event_id=event_id,
        record=record,
        ctx=ctx,
        when=when,
        time_parsed=parsed,
        event={
            "kind": "alert" if malicious else "event",
            "category": ["email", "threat"] if malicious else ["email"],
            "type": _event_type(action),
            "action": action,
            "outcome": _outcome(action) if action and action.lower() != "none" else "unknown",
            "severity": severity,
        },
        fields=fields,
        mimecast=mimecast,
    )
