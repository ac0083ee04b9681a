"""Normaliser of the SIEM (MTA) logs of API 2.0: receipt, process, delivery, av, spam, journal ...

One function serves every SIEM type (the record's ``type`` says which). Field choices follow
Elastic's ``siem_logs`` v2 pipeline where it has one (``action`` → ``event.action``, ``senderIp`` →
``source.ip``, ``tlsCipher`` → ``tls.cipher``, ``tlsUsed`` → ``tls.established``, attachment hashes
→ ``email.attachments.file.hash.*``, ``url`` → ``url.*``, ``policyDefinition`` → ``rule.name``,
``rejectionCode``/``rejectionType`` → ``error.*``).

Records have no id (mimecast-api.md 4.8). ``event.id`` hashes the fields that make a record unique
(:data:`SIEM_ID_FIELDS`): the same line twice in a file gives one id, two delivery attempts of one
message (same ``aggregateId``, different time and attempt number) give two. ``aggregateId`` links
the stages of one message; it is ``email.local_id`` (and stays in ``mimecast.aggregateId``) so a
SIEM can join receipt → process → delivery.

Quirks handled: ``timestamp`` in epoch milliseconds; numbers as strings (read as numbers where ECS
wants numbers); JSON inside strings (``spamProcessingDetail``, ``spamInfo``: parsed into
``mimecast.spam_processing_detail`` / ``mimecast.spam_info``, the strings are kept as received).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from mimecast_siem.events import Event, stable_event_id
from mimecast_siem.streams.normalise import (
    SUBTECHNIQUE_PHISHING_ATTACHMENT,
    SUBTECHNIQUE_PHISHING_LINK,
    TACTIC_INITIAL_ACCESS,
    TECHNIQUE_IMPERSONATION,
    TECHNIQUE_PHISHING,
    NormaliseContext,
    build_event,
    email_addresses,
    ip_text,
    number,
    record_time,
    related,
    text,
    url_fields,
)

#: The API's SIEM type names, in a fixed order.
SIEM_TYPES: tuple[str, ...] = (
    "receipt",
    "process",
    "delivery",
    "av",
    "spam",
    "internal email protect",
    "impersonation protect",
    "url protect",
    "attachment protect",
    "journal",
)

#: ECS ``event.dataset`` of every SIEM type (Elastic's dataset name).
SIEM_DATASET = "mimecast.siem_logs"

#: Fields whose values identify one SIEM record (they carry no id; ``_offset``/``_partition`` are transport).
SIEM_ID_FIELDS: tuple[str, ...] = (
    "aggregateId",
    "processingId",
    "accountId",
    "type",
    "subtype",
    "timestamp",
    "messageId",
    "action",
    "recipients",
    "deliveryAttempts",
    "fileName",
    "sha256",
    "url",
)

_OUTCOME_BY_ACTION = {"acc": "success", "rej": "failure", "hld": "unknown", "sdbx": "unknown", "allow": "success"}
_BLOCKING = {"rej", "hld", "block", "hold", "bounce", "reject"}


def siem_stream_name(siem_type: str) -> str:
    """The stream of a SIEM type: ``siem-receipt``, ``siem-url-protect`` ..."""
    return "siem-" + siem_type.replace(" ", "-")


#: Stream name -> the API's type name.
SIEM_STREAM_TYPES: dict[str, str] = {siem_stream_name(t): t for t in SIEM_TYPES}


def siem_event_id(record: Mapping[str, Any], stream: str | None = None) -> str:
    """The stable ``event.id`` of a SIEM record (a hash of :data:`SIEM_ID_FIELDS`)."""
    name = stream or siem_stream_name(str(record.get("type") or "unknown"))
    return stable_event_id(name, *(record.get(f) for f in SIEM_ID_FIELDS))


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    lowered = (text(value) or "").lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    return None


def _json_text(value: Any) -> Any:
    """A JSON document carried in a string, parsed; ``None`` when it is not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _tls(record: Mapping[str, Any]) -> dict[str, Any]:
    version = text(record.get("tlsVersion")) or text(record.get("tlsVer"))
    out: dict[str, Any] = {"cipher": text(record.get("tlsCipher")), "established": _flag(record.get("tlsUsed"))}
    if version:
        lowered = version.lower()
        for protocol in ("tlsv", "tls", "sslv", "ssl"):
            if lowered.startswith(protocol):
                out["version_protocol"] = protocol.rstrip("v")
                out["version"] = version[len(protocol) :].strip() or None
                break
        else:
            out["version"] = version
        if out.get("established") is None:
            out["established"] = True
    return out


def _attachment(record: Mapping[str, Any]) -> dict[str, Any]:
    hashes = {k: (text(record.get(k)) or "").lower() or None for k in ("md5", "sha1", "sha256")}
    return {
        "name": text(record.get("fileName")) or text(record.get("attachments")),
        "extension": text(record.get("fileExtension")),
        "size": number(record.get("fileSize")) or number(record.get("totalSizeAttachments")),
        "hash": hashes,
    }


def _threat(
    technique: Mapping[str, str], indicator: Mapping[str, Any], sub: Mapping[str, str] | None
) -> dict[str, Any]:
    threat: dict[str, Any] = {
        "framework": "MITRE ATT&CK",
        "tactic": {"id": [TACTIC_INITIAL_ACCESS["id"]], "name": [TACTIC_INITIAL_ACCESS["name"]]},
        "technique": {"id": [technique["id"]], "name": [technique["name"]]},
        "enrichments": [{"indicator": {**indicator, "provider": "Mimecast"}}],
    }
    if sub is not None:
        threat["technique"]["subtechnique"] = {"id": [sub["id"]], "name": [sub["name"]]}
    return threat


def normalise_siem(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """A SIEM log record of any type → ECS event (stream ``siem-<type>``)."""
    siem_type = text(record.get("type")) or "unknown"
    stream = siem_stream_name(siem_type)
    when, parsed = record_time(record, "timestamp", ctx)
    event_id = siem_event_id(record, stream)
    action = text(record.get("action"))
    subtype = text(record.get("subtype"))
    lowered_action = (action or "").lower()
    senders = email_addresses([record.get("senderEnvelope"), record.get("senderHeader")])
    recipients = email_addresses(record.get("recipients"))
    source_ip = ip_text(record.get("senderIp")) or ip_text(record.get("sourceIp"))
    destination_ip = ip_text(record.get("destinationIp"))
    direction = (text(record.get("direction")) or text(record.get("route")) or "").lower() or None
    email: dict[str, Any] = {
        "from": {"address": senders},
        "to": {"address": recipients},
        "subject": text(record.get("subject")),
        "message_id": text(record.get("messageId")),
        "direction": direction,
        "local_id": text(record.get("aggregateId")),
    }
    has_file = any(record.get(k) for k in ("fileName", "sha256", "md5", "attachments"))
    attachment = _attachment(record) if has_file else None
    if attachment is not None:
        email["attachments"] = [{"file": attachment}]
    url = url_fields(record.get("url"))
    fields: dict[str, Any] = {
        "email": email,
        "source": {"ip": source_ip, "domain": text(record.get("senderDomain"))},
        "destination": {"ip": destination_ip},
        "tls": _tls(record),
        "url": url,
        "rule": {"name": text(record.get("policyDefinition"))},
        "error": {
            "code": text(record.get("rejectionCode")),
            "type": text(record.get("rejectionType")),
            "message": text(record.get("receiptErrors")) or text(record.get("deliveryErrors")),
        },
        "related": related(
            users=[*senders, *recipients],
            ips=[source_ip, destination_ip],
            hosts=[text(record.get("Hostname")), url.get("domain")],
        ),
    }
    if attachment is not None:
        fields["file"] = attachment
        hashes = [h for h in attachment["hash"].values() if h]
        if hashes:
            fields["related"]["hash"] = hashes
    # What happened, and how it ended.
    outcome = _OUTCOME_BY_ACTION.get(lowered_action, "unknown")
    delivered = _flag(record.get("delivered"))
    if siem_type == "delivery" and delivered is not None:
        outcome = "success" if delivered else "failure"
    kind = "event"
    categories = ["email"]
    malicious = False
    virus = text(record.get("virusFound"))
    if (siem_type == "av" and (virus or (subtype or "").lower() == "virus")) or (
        siem_type == "attachment protect" and (subtype or "").lower() == "malicious"
    ):
        malicious = True
        categories.append("malware")
        fields["threat"] = _threat(
            TECHNIQUE_PHISHING,
            {"type": "file", "file": {"hash": {"sha256": (attachment or {}).get("hash", {}).get("sha256")}}},
            SUBTECHNIQUE_PHISHING_ATTACHMENT,
        )
    elif siem_type == "url protect" and lowered_action == "block" and url:
        malicious = True
        fields["threat"] = _threat(
            TECHNIQUE_PHISHING, {"type": "url", "url": {"original": url["original"]}}, SUBTECHNIQUE_PHISHING_LINK
        )
    elif siem_type == "impersonation protect" and _flag(record.get("taggedMalicious")):
        malicious = True
        fields["threat"] = _threat(
            TECHNIQUE_IMPERSONATION, {"type": "email-addr", "email": {"address": senders[:1]}}, None
        )
    if malicious or text(record.get("rejectionType")) or lowered_action == "hld":
        kind = "alert"
    if malicious:
        categories.append("threat")
    blocked = lowered_action in _BLOCKING
    event_type = ["denied"] if blocked else (["allowed"] if outcome == "success" else ["info"])
    severity = 8 if malicious else (5 if blocked else 1)
    mimecast = dict(record)
    detail = _json_text(record.get("spamProcessingDetail"))
    if isinstance(detail, dict):
        mimecast["spam_processing_detail"] = detail
    info = _json_text(record.get("spamInfo"))
    if isinstance(info, list):
        mimecast["spam_info"] = info
    mimecast["log_type"] = siem_type
    return build_event(
        stream=stream,
        dataset=SIEM_DATASET,
        event_id=event_id,
        record=record,
        ctx=ctx,
        when=when,
        time_parsed=parsed,
        event={
            "kind": kind,
            "category": categories,
            "type": event_type,
            "action": action or (subtype.lower() if subtype else None),
            "outcome": outcome,
            "reason": text(record.get("rejectionInfo")) or text(record.get("holdReason")),
            "severity": severity,
        },
        fields=fields,
        mimecast=mimecast,
    )
