"""The SIEM (MTA) log family of API 2.0: one stream per type (receipt, process, delivery, av, spam ...).

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

import functools
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import orjson

from mimecast_siem.events import Event, stable_event_id
from mimecast_siem.streams import facts
from mimecast_siem.streams import ocsf_map as ocsf
from mimecast_siem.streams.elastic_map import ELASTIC_SIEM_DATASET
from mimecast_siem.streams.normalise import (
    ECS_VERSION,
    SUBTECHNIQUE_PHISHING_ATTACHMENT,
    SUBTECHNIQUE_PHISHING_LINK,
    TACTIC_INITIAL_ACCESS,
    TECHNIQUE_IMPERSONATION,
    TECHNIQUE_PHISHING,
    NormaliseContext,
    email_addresses,
    finish_event,
    ip_text,
    iso,
    mitre_threat,
    number,
    record_time,
    text,
    url_fields,
)
from mimecast_siem.streams.spec import StreamSpec

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
    return stable_event_id(name, *map(record.get, SIEM_ID_FIELDS))


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
    """ECS ``tls.*`` without empty values: cipher, established (true when a version was logged), version."""
    version = text(record.get("tlsVersion")) or text(record.get("tlsVer"))
    tls: dict[str, Any] = {}
    cipher = text(record.get("tlsCipher"))
    if cipher is not None:
        tls["cipher"] = cipher
    established = _flag(record.get("tlsUsed"))
    if established is None and version:
        established = True
    if established is not None:
        tls["established"] = established
    if version:
        lowered = version.lower()
        for protocol in ("tlsv", "tls", "sslv", "ssl"):
            if lowered.startswith(protocol):
                tls["version_protocol"] = protocol.rstrip("v")
                number_part = version[len(protocol) :].strip()
                if number_part:
                    tls["version"] = number_part
                break
        else:
            tls["version"] = version
    return tls


def normalise_siem(record: Mapping[str, Any], ctx: NormaliseContext, stream: str | None = None) -> Event:
    """A SIEM log record of any type → ECS event (stream ``siem-<type>``)."""
    # Written out field by field, without empty values, in build_event()'s order; finish_event() adds
    # the fixed tail (hot path: SIEM logs are the largest stream, issue 16).
    if stream is not None:
        # The stream a record was fetched for says its type (the record's own ``type`` may be missing).
        siem_type = SIEM_STREAM_TYPES.get(stream) or text(record.get("type")) or "unknown"
    else:
        siem_type = text(record.get("type")) or "unknown"
        stream = siem_stream_name(siem_type)
    when, parsed = record_time(record, "timestamp", ctx)
    event_id = siem_event_id(record, stream)
    action = text(record.get("action"))
    subtype = text(record.get("subtype"))
    lowered_action = action.lower() if action else ""
    senders = email_addresses([record.get("senderEnvelope"), record.get("senderHeader")])
    recipients = email_addresses(record.get("recipients"))
    source_ip = ip_text(record.get("senderIp")) or ip_text(record.get("sourceIp"))
    destination_ip = ip_text(record.get("destinationIp"))
    url = url_fields(record.get("url"))
    # The event section's head now (its document position); what happened is added below.
    event: dict[str, Any] = {
        "id": event_id,
        "module": "mimecast",
        "dataset": SIEM_DATASET,
        "provider": stream,
        "created": iso(ctx.observed_at),
    }
    document: dict[str, Any] = {"@timestamp": iso(when), "ecs": {"version": ECS_VERSION}, "event": event}
    email: dict[str, Any] = {}
    if senders:
        email["from"] = {"address": senders}
    if recipients:
        email["to"] = {"address": recipients}
    subject = text(record.get("subject"))
    if subject is not None:
        email["subject"] = subject
    message_id = text(record.get("messageId"))
    if message_id is not None:
        email["message_id"] = message_id
    direction = text(record.get("direction")) or text(record.get("route"))
    if direction:
        email["direction"] = direction.lower()
    local_id = text(record.get("aggregateId"))
    if local_id is not None:
        email["local_id"] = local_id
    # The attachment's file fields (email.attachments[].file keeps its None values: prune() never
    # entered lists, and the goldens hold them).
    attachment: dict[str, Any] | None = None
    hashes: dict[str, str | None] = {}
    if record.get("fileName") or record.get("sha256") or record.get("md5") or record.get("attachments"):
        for key in ("md5", "sha1", "sha256"):
            value = text(record.get(key))
            hashes[key] = value.lower() if value else None
        attachment = {
            "name": text(record.get("fileName")) or text(record.get("attachments")),
            "extension": text(record.get("fileExtension")),
            "size": number(record.get("fileSize")) or number(record.get("totalSizeAttachments")),
            "hash": hashes,
        }
        email["attachments"] = [{"file": attachment}]
    if email:
        document["email"] = email
    sender_domain = text(record.get("senderDomain"))
    if source_ip is not None:
        document["source"] = {"ip": source_ip} if sender_domain is None else {"ip": source_ip, "domain": sender_domain}
    elif sender_domain is not None:
        document["source"] = {"domain": sender_domain}
    if destination_ip is not None:
        document["destination"] = {"ip": destination_ip}
    if (
        record.get("tlsVersion") is not None
        or record.get("tlsVer") is not None
        or record.get("tlsCipher") is not None
        or record.get("tlsUsed") is not None
    ):
        tls = _tls(record)
        if tls:
            document["tls"] = tls
    if url:
        document["url"] = url
    policy = text(record.get("policyDefinition"))
    if policy is not None:
        document["rule"] = {"name": policy}
    rejection_type = text(record.get("rejectionType"))
    error: dict[str, Any] = {}
    code = text(record.get("rejectionCode"))
    if code is not None:
        error["code"] = code
    if rejection_type is not None:
        error["type"] = rejection_type
    message = text(record.get("receiptErrors")) or text(record.get("deliveryErrors"))
    if message is not None:
        error["message"] = message
    if error:
        document["error"] = error
    # related.*: e-mail_addresses() gives distinct, non-empty addresses; senders and recipients may share one.
    related_fields: dict[str, Any] = {}
    users = list(senders)
    for address in recipients:
        if address not in users:
            users.append(address)
    if users:
        related_fields["user"] = users
    if source_ip is not None:
        related_fields["ip"] = [source_ip] if destination_ip in (None, source_ip) else [source_ip, destination_ip]
    elif destination_ip is not None:
        related_fields["ip"] = [destination_ip]
    host = text(record.get("Hostname"))
    url_host = url.get("domain")
    if host is not None:
        related_fields["hosts"] = [host] if url_host in (None, host) else [host, url_host]
    elif url_host is not None:
        related_fields["hosts"] = [url_host]
    if attachment is not None:
        present = [value for value in hashes.values() if value]
        if present:
            related_fields["hash"] = present
    if related_fields:
        document["related"] = related_fields
    if attachment is not None:
        file_fields = {key: value for key, value in attachment.items() if value is not None and key != "hash"}
        file_hash = {key: value for key, value in hashes.items() if value is not None}
        if file_hash:
            file_fields["hash"] = file_hash
        if file_fields:
            document["file"] = file_fields
    # What happened, and how it ended.
    outcome = _OUTCOME_BY_ACTION.get(lowered_action, "unknown")
    if siem_type == "delivery":
        delivered = _flag(record.get("delivered"))
        if delivered is not None:
            outcome = "success" if delivered else "failure"
    lowered_subtype = subtype.lower() if subtype else ""
    categories = ["email"]
    malicious = False
    if (siem_type == "av" and (text(record.get("virusFound")) or lowered_subtype == "virus")) or (
        siem_type == "attachment protect" and lowered_subtype == "malicious"
    ):
        malicious = True
        categories.append("malware")
        document["threat"] = mitre_threat(
            TECHNIQUE_PHISHING,
            TACTIC_INITIAL_ACCESS,
            {"type": "file", "file": {"hash": {"sha256": hashes.get("sha256")}}},
            SUBTECHNIQUE_PHISHING_ATTACHMENT,
        )
    elif siem_type == "url protect" and lowered_action == "block" and url:
        malicious = True
        document["threat"] = mitre_threat(
            TECHNIQUE_PHISHING,
            TACTIC_INITIAL_ACCESS,
            {"type": "url", "url": {"original": url["original"]}},
            SUBTECHNIQUE_PHISHING_LINK,
        )
    elif siem_type == "impersonation protect" and _flag(record.get("taggedMalicious")):
        malicious = True
        # The SIEM logs put impersonation under Initial Access too (ttp-impersonation: Defense Evasion).
        document["threat"] = mitre_threat(
            TECHNIQUE_IMPERSONATION, TACTIC_INITIAL_ACCESS, {"type": "email-addr", "email": {"address": senders[:1]}}
        )
    if malicious:
        categories.append("threat")
    blocked = lowered_action in _BLOCKING
    event["kind"] = "alert" if malicious or rejection_type or lowered_action == "hld" else "event"
    event["category"] = categories
    event["type"] = ["denied"] if blocked else ["allowed"] if outcome == "success" else ["info"]
    event_action = action or lowered_subtype or None
    if event_action is not None:
        event["action"] = event_action
    event["outcome"] = outcome
    reason = text(record.get("rejectionInfo")) or text(record.get("holdReason"))
    if reason is not None:
        event["reason"] = reason
    event["severity"] = 8 if malicious else 5 if blocked else 1
    # mimecast.*: the record, with the JSON carried in strings parsed and the type named.
    mimecast = dict(record)
    detail = _json_text(record.get("spamProcessingDetail"))
    if isinstance(detail, dict):
        mimecast["spam_processing_detail"] = detail
    info = _json_text(record.get("spamInfo"))
    if isinstance(info, list):
        mimecast["spam_info"] = info
    mimecast["log_type"] = siem_type
    return finish_event(document, record, ctx, stream, event_id, when, parsed, mimecast)


# --- CEF/LEEF facts -------------------------------------------------------------------------------

_TITLES = {
    "receipt": "SIEM receipt",
    "process": "SIEM process",
    "delivery": "SIEM delivery",
    "av": "SIEM anti-virus",
    "spam": "SIEM spam",
    "internal email protect": "SIEM internal email protect",
    "impersonation protect": "SIEM impersonation protect",
    "url protect": "SIEM URL protect",
    "attachment protect": "SIEM attachment protect",
    "journal": "SIEM journal",
}


def siem_facts(look: facts.Lookup) -> facts.EventFacts:
    """CEF/LEEF facts of a SIEM record: the stage, its outcome and ``aggregateId`` (joins the stages)."""
    siem_type = look.text(raw=("type",)) or "unknown"
    action = look.text(doc=facts.ACTION, raw=("action", "subtype"))
    malicious = look.text(doc=("event.kind",)) == "alert" and bool(look.value(doc=("threat.technique.id",)))
    verdict = "malicious" if malicious else None
    blocked = facts.is_blocking(action)
    return facts.EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        _TITLES.get(siem_type, "SIEM " + siem_type),
        event_class=f"{look.event.stream}:{facts.class_token(look.text(raw=('subtype',)), 'event')}",
        verdict=verdict,
        action=action,
        blocked=blocked,
        severity=facts.doc_severity(look, facts.severity_of(verdict, blocked, baseline=1)),
        direction=facts.direction_of(look.text(doc=facts.DIRECTION, raw=("direction",))),
        sender=look.first_text(doc=facts.SENDER, raw=("senderEnvelope", "senderHeader")),
        recipient=look.text(doc=facts.RECIPIENT, raw=("recipients",)),
        subject=look.text(doc=facts.SUBJECT, raw=("subject",)),
        message_id=look.text(doc=facts.MESSAGE_ID, raw=("messageId",)),
        source_ip=look.ip(doc=facts.SOURCE_IP, raw=("senderIp",)),
        url=look.text(raw=("url",), doc=("url.original",)),
        file_name=look.text(raw=("fileName",), doc=("file.name",)),
        file_hash=look.text(raw=("sha256",), doc=("file.hash.sha256",)),
        category=look.text(raw=("urlCategory",)),
        policy=look.text(doc=facts.POLICY, raw=("policyDefinition",)),
        reason=look.text(doc=("event.reason", "error.message"), raw=("rejectionInfo", "holdReason", "deliveryErrors")),
        record_id=look.text(raw=("aggregateId",)),
        extras=facts.extras(
            ("aggregateId", look.text(raw=("aggregateId",))),
            ("processingId", look.text(raw=("processingId",))),
            ("subtype", look.text(raw=("subtype",))),
            ("deliveryAttempts", look.text(raw=("deliveryAttempts",))),
            ("tlsVersion", look.text(raw=("tlsVersion",))),
            ("destinationIp", look.text(raw=("destinationIp",))),
        ),
    )


# --- OCSF -------------------------------------------------------------------------------------------

#: Email Activity (4009) activity per type: 1 Send, 2 Receive, 3 Scan, 4 Trace.
_EMAIL_ACTIVITY = {"receipt": 2, "delivery": 1, "journal": 4}
_EMAIL_KEYS = {"aggregateId", "messageId", "subject", "senderEnvelope", "recipients", "senderIp", "destinationIp"}


def _email(raw: dict[str, Any], event: Event) -> dict[str, Any]:
    email = ocsf.email_object(
        raw, uid_key="aggregateId", sender=raw.get("senderEnvelope"), recipient=raw.get("recipients")
    )
    if "uid" not in email:
        email["uid"] = event.event_id
    if "from" not in email and "to" not in email:
        # The schema wants a sender or a recipient; a record without either still gets a valid object.
        email["to"] = []
    return email


def _direction(raw: dict[str, Any]) -> int:
    return ocsf.direction_id(raw.get("direction") or raw.get("route"))


def ocsf_siem(event: Event, raw: dict[str, Any]) -> ocsf.OcsfMapping:
    """OCSF: Email File Activity (4011) for av / attachment protect, Email URL Activity (4012) for url
    protect, Email Activity (4009) for the other stages; ``email.uid`` / ``email_uid`` is ``aggregateId``."""
    siem_type = ocsf.lower(raw.get("type"))
    action = ocsf.lower(raw.get("action")) or ocsf.lower(raw.get("subtype"))
    subtype = ocsf.lower(raw.get("subtype"))
    email_uid = ocsf.text_of(raw.get("aggregateId")) or event.event_id
    if siem_type in ("av", "attachment protect"):
        file_obj: dict[str, Any] = {
            "name": ocsf.text_of(raw.get("fileName")) or "",
            "type_id": 1,
            "type": "Regular File",
        }
        hashes = [
            {"algorithm_id": algorithm_id, "algorithm": name, "value": value}
            for key, algorithm_id, name in (("md5", 1, "MD5"), ("sha1", 2, "SHA-1"), ("sha256", 3, "SHA-256"))
            if (value := ocsf.text_of(raw.get(key)))
        ]
        if hashes:
            file_obj["hashes"] = hashes
        malicious = subtype in ("virus", "malicious") or bool(ocsf.text_of(raw.get("virusFound")))
        attributes: dict[str, Any] = {"email_uid": email_uid, "file": file_obj}
        attributes["severity_id"] = ocsf.ocsf_severity(malicious)
        attributes["observables"] = [
            o
            for o in (
                ocsf.observable("file.name", ocsf.OBS_FILE_NAME, file_obj["name"]),
                ocsf.unmapped_observable("senderEnvelope", ocsf.OBS_EMAIL, raw),
            )
            if o is not None
        ]
        finding = None
        if malicious:
            finding = ocsf.FindingSpec(
                title="Mimecast SIEM: malicious attachment",
                types=[ocsf.text_of(raw.get("virusFound")) or "Malicious attachment"],
                attacks=[ocsf.ATTACK_PHISHING_ATTACHMENT],
                evidence={"file": file_obj},
            )
        return ocsf.OcsfMapping(
            4011, 3, attributes, mapped_keys={"aggregateId", "fileName", "md5", "sha1", "sha256"},
            control=ocsf.control_for(action) if siem_type == "attachment protect" else (ocsf.DENIED if malicious else None),
            finding=finding,
        )  # fmt: skip
    if siem_type == "url protect":
        url = ocsf.text_of(raw.get("url")) or ""
        category = ocsf.text_of(raw.get("urlCategory"))
        url_obj = ocsf.url_object(url, [category] if category else None)
        blocked = action == "block"
        attributes = {"email_uid": email_uid, "url": url_obj, "severity_id": ocsf.ocsf_severity(blocked)}
        attributes["observables"] = [
            o for o in (ocsf.observable("url.url_string", ocsf.OBS_URL, url),) if o is not None
        ]
        finding = None
        if blocked:
            finding = ocsf.FindingSpec(
                title="Mimecast SIEM: URL blocked",
                types=[category] if category else ["Malicious URL"],
                attacks=[ocsf.ATTACK_PHISHING_LINK],
                evidence=ocsf.with_user({"url": url_obj}, raw.get("recipients")),
            )
        return ocsf.OcsfMapping(
            4012, 3, attributes, mapped_keys={"aggregateId", "url", "urlCategory", "action"},
            control=ocsf.control_for(action), finding=finding,
        )  # fmt: skip
    email = _email(raw, event)
    direction = _direction(raw)
    attributes = {"email": email, "direction_id": direction, "direction": ocsf.DIRECTION_NAMES[direction]}
    src = ip_text(raw.get("senderIp"))
    if src:
        attributes["src_endpoint"] = {"ip": src}
    dst = ip_text(raw.get("destinationIp"))
    if dst:
        attributes["dst_endpoint"] = {"ip": dst}
    policy = ocsf.text_of(raw.get("policyDefinition"))
    if policy:
        attributes["policy"] = {"name": policy}
    tagged = ocsf.lower(raw.get("taggedMalicious")) == "true"
    attributes["severity_id"] = ocsf.ocsf_severity(tagged, action in ("rej", "hld"))
    attributes["observables"] = ocsf.email_observables(email, src)
    finding = None
    if siem_type == "impersonation protect" and tagged:
        finding = ocsf.FindingSpec(
            title="Mimecast SIEM: impersonation attempt",
            types=["Impersonation"],
            attacks=[ocsf.ATTACK_IMPERSONATION],
            evidence={"src_endpoint": {"ip": src}} if src else {},
        )
    control = {"rej": ocsf.DENIED, "hld": ocsf.QUARANTINED, "acc": ocsf.ALLOWED}.get(action)
    return ocsf.OcsfMapping(
        4009, _EMAIL_ACTIVITY.get(siem_type, 3), attributes, mapped_keys=_EMAIL_KEYS | {"direction", "policyDefinition"},
        control=control, finding=finding,
    )  # fmt: skip


# --- the declarations -----------------------------------------------------------------------------


def _spec(siem_type: str) -> StreamSpec:
    name = siem_stream_name(siem_type)
    return StreamSpec(
        name=name,
        kind="siem",
        path="/siem/v1/batch/events/cg",
        normalise=functools.partial(normalise_siem, stream=name),
        dataset=SIEM_DATASET,
        title=f"SIEM (MTA) logs, type '{siem_type}': batch files (default) or the 24 h event stream.",
        sourcetype="mimecast:siem:" + siem_type.replace(" ", "_"),
        facts=siem_facts,
        ocsf=ocsf_siem,
        elastic_dataset=ELASTIC_SIEM_DATASET,
        ocsf_class=4011
        if siem_type in ("av", "attachment protect")
        else (4012 if siem_type == "url protect" else 4009),
        demo=True,
        enabled_by_default=False,
        time_field="timestamp",
        id_fields=SIEM_ID_FIELDS,
        event_id_of=functools.partial(siem_event_id, stream=name),
        paged=False,
        max_history=timedelta(days=7),
    )


#: The streams of this family, in registry order (``streams/registry.py``).
STREAMS: tuple[StreamSpec, ...] = tuple(_spec(t) for t in SIEM_TYPES)
