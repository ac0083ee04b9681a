"""Normalisers of the three Targeted Threat Protection log streams (URL, attachment, impersonation).

TTP URL and attachment records carry no id (quirk 3): their ``event.id`` hashes the fields that
identify one log line. Impersonation records have an ``id``. Field mapping follows Elastic's public
TTP pipelines where one exists (sinks.md section 5.2) so dashboards built on it translate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mimecast_siem.events import Event, stable_event_id
from mimecast_siem.streams import elastic_map as elastic
from mimecast_siem.streams import facts
from mimecast_siem.streams import ocsf_map as ocsf
from mimecast_siem.streams.normalise import (
    ECS_VERSION,
    SUBTECHNIQUE_PHISHING_ATTACHMENT,
    SUBTECHNIQUE_PHISHING_LINK,
    TACTIC_DEFENSE_EVASION,
    TACTIC_INITIAL_ACCESS,
    TECHNIQUE_IMPERSONATION,
    TECHNIQUE_PHISHING,
    NormaliseContext,
    add_message_fields,
    domain_of,
    email_address,
    email_addresses,
    finish_event,
    ip_text,
    iso,
    mitre_threat,
    number,
    record_time,
    related_users,
    text,
    url_fields,
)
from mimecast_siem.streams.spec import StreamSpec

#: Severity by verdict (the CEF mapping of sinks.md section 3.3 uses the same scale). A record without
#: a verdict is 1, one with another verdict 3; a blocking action adds 1.
_SEVERITY = {"clean": 1, "safe": 1, "unknown": 3, "timeout": 3, "suspicious": 6, "malicious": 8}
#: Actions (lowered) that make ``event.type`` ``denied`` and ``event.outcome`` ``failure``.
_BLOCKING_ACTIONS = {"block", "blocked", "hold", "bounce", "reject", "quarantine"}
#: Actions (lowered) that make ``event.type`` ``allowed`` and ``event.outcome`` ``success`` (others:
#: ``info`` and ``unknown``).
_ALLOWING_ACTIONS = {"allow", "allowed", "permit"}

#: Fields whose values identify one log line (TTP URL and attachment records have no id).
TTP_URL_ID_FIELDS = ("date", "messageId", "userEmailAddress", "fromUserEmailAddress", "url", "creationMethod", "action")
TTP_ATTACHMENT_ID_FIELDS = ("date", "messageId", "senderAddress", "recipientAddress", "fileName", "fileHash", "result")
#: Impersonation records carry ``id``; these are used only when a record lacks it.
TTP_IMPERSONATION_FALLBACK_ID_FIELDS = ("eventTime", "messageId", "senderAddress", "recipientAddress", "definition")


def _email_pruned(sender: str | None, recipients: list[str], record: Mapping[str, Any]) -> dict[str, Any]:
    """ECS ``email.*`` without empty values (the sender, recipients, subject, message id, direction)."""
    email: dict[str, Any] = {}
    senders = email_addresses(sender)
    if senders:
        email["from"] = {"address": senders}
    to = email_addresses(recipients)
    if to:
        email["to"] = {"address": to}
    return add_message_fields(email, record)


def ttp_url_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of a URL Protect record (it has no id of its own): a hash of its identifying fields."""
    return stable_event_id("ttp-url", *map(record.get, TTP_URL_ID_FIELDS))


def ttp_attachment_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of an Attachment Protect record: a hash of its identifying fields."""
    return stable_event_id("ttp-attachment", *map(record.get, TTP_ATTACHMENT_ID_FIELDS))


def ttp_impersonation_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of an Impersonation Protect record: its ``id``, else a hash of identifying fields."""
    record_id = text(record.get("id"))
    if record_id is not None:
        return stable_event_id("ttp-impersonation", record_id)
    return stable_event_id("ttp-impersonation", *map(record.get, TTP_IMPERSONATION_FALLBACK_ID_FIELDS))


def normalise_ttp_url(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """A URL Protect click/scan log line (``clickLogs[]``) → ECS event."""
    # Written out field by field, without empty values, in build_event()'s order (finish_event() adds
    # the fixed tail): no generic helpers per record (hot path, issue 16).
    stream = "ttp-url"
    when, parsed = record_time(record, "date", ctx)
    event_id = ttp_url_event_id(record)
    verdict = text(record.get("scanResult"))
    action = text(record.get("action"))
    malicious = verdict is not None and verdict.lower() == "malicious"
    url = url_fields(record.get("url"))
    recipients = email_addresses(record.get("userEmailAddress"))
    sender = email_address(record.get("fromUserEmailAddress"))
    source_ip = ip_text(record.get("sendingIp"))
    lowered = action.lower() if action else ""
    blocking = lowered in _BLOCKING_ACTIONS
    allowed = not blocking and lowered in _ALLOWING_ACTIONS
    event: dict[str, Any] = {
        "id": event_id,
        "module": "mimecast",
        "dataset": "mimecast.ttp_url",
        "provider": stream,
        "created": iso(ctx.observed_at),
        "kind": "alert" if malicious else "event",
        "category": ["email", "threat"] if malicious else ["email", "web"],
        "type": ["denied"] if blocking else ["allowed"] if allowed else ["info"],
    }
    # Elastic maps userAwarenessAction to event.action; the URL action itself is in event.type.
    awareness = text(record.get("userAwarenessAction"))
    if awareness is not None:
        event["action"] = awareness
    event["outcome"] = "failure" if blocking else "success" if allowed else "unknown"
    event["severity"] = _SEVERITY.get(verdict.lower(), 3) + blocking if verdict else 1 + blocking
    document: dict[str, Any] = {"@timestamp": iso(when), "ecs": {"version": ECS_VERSION}, "event": event}
    email = _email_pruned(sender, recipients, record)
    if email:
        document["email"] = email
    if url:
        document["url"] = url
    if source_ip is not None:
        document["source"] = {"ip": source_ip}
    if recipients:
        document["user"] = {"email": recipients}
    rule: dict[str, Any] = {}
    rule_name = text(record.get("ttpDefinition"))
    if rule_name is not None:
        rule["name"] = rule_name
    rule_category = text(record.get("category"))
    if rule_category is not None:
        rule["category"] = rule_category
    if rule:
        document["rule"] = rule
    related_fields: dict[str, Any] = {}
    if recipients:  # email_addresses() gives distinct, non-empty addresses
        related_fields["user"] = list(recipients)
    if source_ip:
        related_fields["ip"] = [source_ip]
    host = url.get("domain")
    if host:
        related_fields["hosts"] = [host]
    if related_fields:
        document["related"] = related_fields
    if malicious and url:
        document["threat"] = mitre_threat(
            TECHNIQUE_PHISHING,
            TACTIC_INITIAL_ACCESS,
            {"type": "url", "url": {"original": url["original"]}},
            SUBTECHNIQUE_PHISHING_LINK,
        )
    return finish_event(document, record, ctx, stream, event_id, when, parsed)


def normalise_ttp_attachment(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """An Attachment Protect sandbox log line (``attachmentLogs[]``) → ECS event."""
    # The document is written out field by field, without empty values, in build_event()'s order
    # (finish_event() adds the fixed tail): no generic helpers per record (hot path, issue 16).
    stream = "ttp-attachment"
    when, parsed = record_time(record, "date", ctx)
    event_id = ttp_attachment_event_id(record)
    verdict = text(record.get("result"))
    action = text(record.get("actionTriggered"))
    malicious = verdict is not None and verdict.lower() == "malicious"
    sha256 = text(record.get("fileHash"))
    if sha256 is not None:
        sha256 = sha256.lower()
    name = text(record.get("fileName"))
    mime_type = text(record.get("fileType"))
    sender = email_address(record.get("senderAddress"))
    recipients = email_addresses(record.get("recipientAddress"))
    lowered = action.lower() if action else ""
    blocking = lowered in _BLOCKING_ACTIONS
    allowed = not blocking and lowered in _ALLOWING_ACTIONS
    event: dict[str, Any] = {
        "id": event_id,
        "module": "mimecast",
        "dataset": "mimecast.ttp_attachment",
        "provider": stream,
        "created": iso(ctx.observed_at),
        "kind": "alert" if malicious else "event",
        "category": ["email", "file", "malware"] if malicious else ["email", "file"],
        "type": ["denied"] if malicious and blocking else ["allowed"] if malicious and allowed else ["info"],
    }
    if action is not None:
        event["action"] = action
    event["outcome"] = "failure" if blocking else "success" if allowed else "unknown"
    event["severity"] = (_SEVERITY.get(verdict.lower(), 3) if verdict else 1) + blocking
    reason = text(record.get("details"))
    if reason is not None:
        event["reason"] = reason
    document: dict[str, Any] = {"@timestamp": iso(when), "ecs": {"version": ECS_VERSION}, "event": event}
    # email.attachments[].file keeps its None values (prune() never entered lists; the goldens hold them).
    email = _email_pruned(sender, recipients, record)
    email["attachments"] = [{"file": {"name": name, "mime_type": mime_type, "hash": {"sha256": sha256}}}]
    document["email"] = email
    file_fields: dict[str, Any] = {}
    if name is not None:
        file_fields["name"] = name
    if mime_type is not None:
        file_fields["mime_type"] = mime_type
    if sha256 is not None:
        file_fields["hash"] = {"sha256": sha256}
    if file_fields:
        document["file"] = file_fields
    rule_name = text(record.get("definition"))
    if rule_name is not None:
        document["rule"] = {"name": rule_name}
    related_fields: dict[str, Any] = {}
    users = related_users(sender, recipients)
    if users:
        related_fields["user"] = users
    if sha256 is not None:
        related_fields["hash"] = [sha256]
    if related_fields:
        document["related"] = related_fields
    if malicious and sha256:
        document["threat"] = mitre_threat(
            TECHNIQUE_PHISHING,
            TACTIC_INITIAL_ACCESS,
            {"type": "file", "file": {"hash": {"sha256": sha256}, "name": name}},
            SUBTECHNIQUE_PHISHING_ATTACHMENT,
        )
    return finish_event(document, record, ctx, stream, event_id, when, parsed)


def impersonation_results(value: Any) -> list[dict[str, Any]]:
    """``impersonationResults`` in one shape: a list of objects (quirk 12: some tenants send strings).

    A string becomes ``{"impersonationDomainSource": <string>}``; other non-object items are dropped.
    """
    items = value if isinstance(value, list) else ([] if value is None else [value])
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, (dict, Mapping)):  # dict first: spares the ABC check (decoded records)
            out.append(dict(item))
        elif isinstance(item, str) and item.strip():
            out.append({"impersonationDomainSource": item.strip()})
    return out


def normalise_ttp_impersonation(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """An Impersonation Protect log line (``impersonationLogs[]``) → ECS event."""
    # Written out field by field, without empty values, in build_event()'s order (hot path, issue 16).
    stream = "ttp-impersonation"
    when, parsed = record_time(record, "eventTime", ctx)
    event_id = ttp_impersonation_event_id(record)
    malicious = record.get("taggedMalicious") is True
    action = text(record.get("action"))
    hits = number(record.get("hits"))
    sender = email_address(record.get("senderAddress"))
    recipients = email_addresses(record.get("recipientAddress"))
    source_ip = ip_text(record.get("senderIpAddress"))
    lowered = action.lower() if action else ""
    blocking = lowered in _BLOCKING_ACTIONS
    allowed = not blocking and lowered in _ALLOWING_ACTIONS
    event: dict[str, Any] = {
        "id": event_id,
        "module": "mimecast",
        "dataset": "mimecast.ttp_impersonation",
        "provider": stream,
        "created": iso(ctx.observed_at),
        "kind": "alert" if malicious else "event",
        "category": ["email", "threat"] if malicious else ["email"],
        "type": ["denied"] if blocking else ["allowed"] if allowed else ["info"],
    }
    if action is not None:
        event["action"] = action
    event["outcome"] = "failure" if blocking else "success" if allowed else "unknown"
    event["severity"] = 8 if malicious else 5 if hits else 1
    document: dict[str, Any] = {"@timestamp": iso(when), "ecs": {"version": ECS_VERSION}, "event": event}
    email = _email_pruned(sender, recipients, record)
    if email:
        document["email"] = email
    if source_ip is not None:
        document["source"] = {"ip": source_ip}
    rule_name = text(record.get("definition"))
    if rule_name is not None:
        document["rule"] = {"name": rule_name}
    related_fields: dict[str, Any] = {}
    users = related_users(sender, recipients)
    if users:
        related_fields["user"] = users
    if source_ip is not None:
        related_fields["ip"] = [source_ip]
    if related_fields:
        document["related"] = related_fields
    if malicious:
        document["threat"] = mitre_threat(
            TECHNIQUE_IMPERSONATION,
            TACTIC_DEFENSE_EVASION,
            {
                "type": "email-addr",
                "email": {"address": sender},
                "url": {"domain": domain_of(sender) if sender else None},
            },
        )
    # mimecast.* in one shape for the fields whose type varies between tenants (quirk 12).
    mimecast = dict(record)
    if "impersonationResults" in record:
        mimecast["impersonationResults"] = impersonation_results(record["impersonationResults"])
    identifiers = record.get("identifiers")
    if "identifiers" in record and not isinstance(identifiers, list):
        mimecast["identifiers"] = [identifiers] if isinstance(identifiers, str) else []
    return finish_event(document, record, ctx, stream, event_id, when, parsed, mimecast)


# --- CEF/LEEF facts -------------------------------------------------------------------------------


def ttp_url_facts(look: facts.Lookup) -> facts.EventFacts:
    """CEF/LEEF facts of a URL Protect click."""
    verdict = facts.normalise_verdict(look.text(raw=("scanResult",), doc=("mimecast.scanResult",)))
    action = look.text(raw=("action",), doc=("mimecast.action",))
    blocked = facts.is_blocking(action)
    return facts.EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        "URL Protect click",
        event_class=f"ttp-url:{facts.class_token(verdict, 'unscanned')}",
        verdict=verdict,
        action=action,
        blocked=blocked,
        severity=facts.doc_severity(look, facts.severity_of(verdict, blocked, baseline=3)),
        direction=facts.direction_of(look.text(raw=("route",), doc=facts.DIRECTION)),
        sender=look.first_text(doc=facts.SENDER, raw=("fromUserEmailAddress",)),
        recipient=look.text(doc=facts.RECIPIENT, raw=("userEmailAddress",)),
        subject=look.text(doc=facts.SUBJECT, raw=("subject",)),
        message_id=look.text(doc=facts.MESSAGE_ID, raw=("messageId",)),
        source_ip=look.ip(doc=facts.SOURCE_IP, raw=("sendingIp",)),
        url=look.text(raw=("url",), doc=("url.original", "url.full")),
        category=look.text(raw=("category",), doc=("mimecast.category",)),
        policy=look.text(doc=facts.POLICY, raw=("ttpDefinition",)),
        extras=facts.extras(
            ("userAwarenessAction", look.text(raw=("userAwarenessAction",))),
            ("creationMethod", look.text(raw=("creationMethod",))),
            ("userOverride", look.text(raw=("userOverride",))),
            ("adminOverride", look.text(raw=("adminOverride",))),
        ),
    )


def ttp_attachment_facts(look: facts.Lookup) -> facts.EventFacts:
    """CEF/LEEF facts of an Attachment Protect scan."""
    verdict = facts.normalise_verdict(look.text(raw=("result",), doc=("mimecast.result",)))
    action = look.text(raw=("actionTriggered",), doc=("mimecast.actionTriggered",))
    blocked = facts.is_blocking(action)
    return facts.EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        "Attachment Protect scan",
        event_class=f"ttp-attachment:{facts.class_token(verdict, 'unscanned')}",
        verdict=verdict,
        action=action,
        blocked=blocked,
        severity=facts.doc_severity(look, facts.severity_of(verdict, blocked, baseline=3)),
        direction=facts.direction_of(look.text(raw=("route",), doc=facts.DIRECTION)),
        sender=look.first_text(doc=facts.SENDER, raw=("senderAddress",)),
        recipient=look.text(doc=facts.RECIPIENT, raw=("recipientAddress",)),
        subject=look.text(doc=facts.SUBJECT, raw=("subject",)),
        message_id=look.text(doc=facts.MESSAGE_ID, raw=("messageId",)),
        source_ip=look.ip(doc=facts.SOURCE_IP),
        file_name=look.text(raw=("fileName",), doc=("file.name", "email.attachments.file.name")),
        file_type=look.text(raw=("fileType",), doc=("file.mime_type", "email.attachments.file.mime_type")),
        file_hash=look.text(raw=("fileHash",), doc=("file.hash.sha256",)),
        policy=look.text(doc=facts.POLICY, raw=("definition",)),
        reason=look.text(raw=("details",)),
    )


def ttp_impersonation_facts(look: facts.Lookup) -> facts.EventFacts:
    """CEF/LEEF facts of an Impersonation Protect detection."""
    tagged = look.value(raw=("taggedMalicious",), doc=("mimecast.taggedMalicious",))
    verdict = None if tagged is None else ("malicious" if tagged is True or str(tagged).lower() == "true" else "clean")
    action = look.text(raw=("action",), doc=("mimecast.action",))
    blocked = facts.is_blocking(action)
    return facts.EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        "Impersonation Protect detection",
        event_class=f"ttp-impersonation:{facts.class_token(verdict, 'unscanned')}",
        verdict=verdict,
        action=action,
        blocked=blocked,
        severity=facts.doc_severity(look, facts.severity_of(verdict, blocked, baseline=3)),
        sender=look.first_text(doc=facts.SENDER, raw=("senderAddress",)),
        recipient=look.text(doc=facts.RECIPIENT, raw=("recipientAddress",)),
        subject=look.text(doc=facts.SUBJECT, raw=("subject",)),
        message_id=look.text(doc=facts.MESSAGE_ID, raw=("messageId",)),
        source_ip=look.ip(doc=facts.SOURCE_IP, raw=("senderIpAddress",)),
        policy=look.text(doc=facts.POLICY, raw=("definition",)),
        record_id=look.text(raw=("id",)),
        extras=facts.extras(
            ("identifiers", look.text(raw=("identifiers",))),
            ("taggedExternal", look.text(raw=("taggedExternal",))),
        ),
        counts=facts.counts(("hits", facts.as_int(look.value(raw=("hits",))))),
    )


# --- OCSF -----------------------------------------------------------------------------------------


def ocsf_ttp_url(event: Event, raw: dict[str, Any]) -> ocsf.OcsfMapping:
    """OCSF Email URL Activity (4012, Scan), with a Detection Finding for a malicious or blocked URL."""
    url = ocsf.text_of(raw.get("url")) or ""
    category = ocsf.text_of(raw.get("category"))
    url_obj = ocsf.url_object(url, [category] if category else None)
    verdict = ocsf.lower(raw.get("scanResult"))
    action = ocsf.lower(raw.get("action"))
    malicious = verdict == "malicious"
    attributes: dict[str, Any] = {
        "email_uid": ocsf.text_of(raw.get("messageId")) or event.event_id,
        "url": url_obj,
    }
    policy = ocsf.text_of(raw.get("ttpDefinition"))
    if policy:
        attributes["policy"] = {"name": policy}
    attributes["severity_id"] = ocsf.ocsf_severity(malicious, action in ("warn", "block"))
    attributes["observables"] = [
        o
        for o in (
            ocsf.observable("url.url_string", ocsf.OBS_URL, url),
            ocsf.unmapped_observable("userEmailAddress", ocsf.OBS_EMAIL, raw),
            ocsf.unmapped_observable("fromUserEmailAddress", ocsf.OBS_EMAIL, raw),
            ocsf.unmapped_observable("sendingIp", ocsf.OBS_IP, raw),
        )
        if o is not None
    ]
    finding = None
    if malicious or action == "block":
        finding = ocsf.FindingSpec(
            title="Mimecast URL Protect: malicious URL",
            types=[category] if category else ["Malicious URL"],
            attacks=[ocsf.ATTACK_PHISHING_LINK],
            evidence=ocsf.with_user({"url": url_obj}, raw.get("userEmailAddress")),
        )
    return ocsf.OcsfMapping(
        4012,
        3,
        attributes,
        mapped_keys={"url", "category", "messageId", "ttpDefinition", "action", "scanResult"},
        control=ocsf.control_for(action),
        finding=finding,
    )


def ocsf_ttp_attachment(event: Event, raw: dict[str, Any]) -> ocsf.OcsfMapping:
    """OCSF Email File Activity (4011, Scan), with a Detection Finding for a malicious file."""
    file_obj: dict[str, Any] = {"name": ocsf.text_of(raw.get("fileName")) or "", "type_id": 1, "type": "Regular File"}
    mime = ocsf.text_of(raw.get("fileType"))
    if mime:
        file_obj["mime_type"] = mime
    digest = ocsf.text_of(raw.get("fileHash"))
    if digest:
        file_obj["hashes"] = [{"algorithm_id": 3, "algorithm": "SHA-256", "value": digest}]
    verdict = ocsf.lower(raw.get("result"))
    malicious = verdict == "malicious"
    attributes: dict[str, Any] = {"email_uid": ocsf.text_of(raw.get("messageId")) or event.event_id, "file": file_obj}
    policy = ocsf.text_of(raw.get("definition"))
    if policy:
        attributes["policy"] = {"name": policy}
    attributes["severity_id"] = ocsf.ocsf_severity(malicious, verdict in ("unknown", "timeout"))
    attributes["observables"] = [
        o
        for o in (
            ocsf.observable("file.name", ocsf.OBS_FILE_NAME, raw.get("fileName")),
            ocsf.observable("file.hashes[0].value", ocsf.OBS_HASH, digest),
            ocsf.unmapped_observable("senderAddress", ocsf.OBS_EMAIL, raw),
            ocsf.unmapped_observable("recipientAddress", ocsf.OBS_EMAIL, raw),
        )
        if o is not None
    ]
    control = ocsf.control_for(raw.get("actionTriggered"))
    if control is None and malicious:
        control = ocsf.OBSERVED
    finding = None
    if malicious:
        finding = ocsf.FindingSpec(
            title="Mimecast Attachment Protect: malicious attachment",
            types=["Malicious Attachment"],
            attacks=[ocsf.ATTACK_PHISHING_ATTACHMENT],
            evidence=ocsf.with_user({"file": file_obj}, raw.get("recipientAddress")),
        )
    return ocsf.OcsfMapping(
        4011,
        3,
        attributes,
        mapped_keys={"fileName", "fileType", "fileHash", "messageId", "definition", "result"},
        control=control,
        finding=finding,
    )


def ocsf_ttp_impersonation(event: Event, raw: dict[str, Any]) -> ocsf.OcsfMapping:
    """OCSF Email Activity (4009, Scan), with a Detection Finding when tagged malicious or blocked."""
    email = ocsf.email_object(raw, uid_key="id", sender=raw.get("senderAddress"), recipient=raw.get("recipientAddress"))
    tagged = raw.get("taggedMalicious") is True or ocsf.lower(raw.get("taggedMalicious")) == "true"
    action = ocsf.lower(raw.get("action"))
    attributes: dict[str, Any] = {"email": email, "direction_id": 1, "direction": ocsf.DIRECTION_NAMES[1]}
    ip = ocsf.text_of(raw.get("senderIpAddress"))
    if ip:
        attributes["src_endpoint"] = {"ip": ip}
    policy = ocsf.text_of(raw.get("definition"))
    if policy:
        attributes["policy"] = {"name": policy}
    hits = raw.get("hits")
    attributes["severity_id"] = ocsf.ocsf_severity(tagged, isinstance(hits, int) and hits > 0)
    attributes["observables"] = ocsf.email_observables(email, ip)
    finding = None
    if tagged or any(w in action for w in ("block", "bounce")):
        evidence: dict[str, Any] = {}
        if ip:
            evidence["src_endpoint"] = {"ip": ip}
        if email.get("from"):
            evidence["user"] = {"name": email["from"], "email_addr": email["from"]}
        finding = ocsf.FindingSpec(
            title="Mimecast Impersonation Protect: impersonation attempt",
            types=ocsf.strings(raw.get("identifiers")) or ["Impersonation"],
            attacks=[ocsf.ATTACK_PHISHING, ocsf.ATTACK_IMPERSONATION],
            evidence=evidence,
        )
    return ocsf.OcsfMapping(
        4009,
        3,
        attributes,
        mapped_keys={"id", "messageId", "subject", "senderAddress", "recipientAddress", "senderIpAddress"}
        | {"definition"},
        control=ocsf.control_for(action),
        finding=finding,
    )


# --- Elastic's integration (the json format's elastic-integration profile; docs/elastic-compat.md) --


def elastic_ttp_attachment(document: dict[str, Any]) -> None:
    """Elastic's ``ttp_ap_logs`` placements: one attachment object, the action without spaces."""
    elastic.record_time_as_created(document)
    record = elastic.mimecast_record(document)
    event = elastic.section(document, "event")
    action = record.get("actionTriggered")
    if isinstance(action, str) and action:
        event["action"] = action.replace(",", "").replace(" ", "_")
    file_fields: dict[str, Any] = {}
    name = record.get("fileName")
    if isinstance(name, str) and name:
        file_fields["name"] = name
        if "." in name:
            file_fields["extension"] = name.rsplit(".", 1)[1]
    mime = record.get("fileType")
    if isinstance(mime, str) and mime:
        file_fields["mime_type"] = mime
    digest = record.get("fileHash")
    if isinstance(digest, str) and len(digest) == 64:
        file_fields["hash"] = {"sha256": digest}
    email = elastic.section(document, "email")
    # Elastic writes one attachment object (ours: a list of attachment objects; same index mapping).
    email["attachments"] = {"file": file_fields} if file_fields else email.get("attachments")


def elastic_ttp_impersonation(document: dict[str, Any]) -> None:
    """Elastic's ``ttp_ip_logs`` placements: the first similar domain as ``source.domain``."""
    elastic.record_time_as_created(document)
    record = elastic.mimecast_record(document)
    results = record.get("impersonationResults")
    if isinstance(results, list):
        similar = next(
            (r.get("similarDomain") for r in results if isinstance(r, Mapping) and r.get("similarDomain")), None
        )
        if isinstance(similar, str):
            elastic.section(document, "source")["domain"] = similar


# --- the declarations -----------------------------------------------------------------------------

#: The streams of this family, in registry order (``streams/registry.py``).
STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec(
        name="ttp-url",
        kind="log",
        path="/api/ttp/url/get-logs",
        normalise=normalise_ttp_url,
        dataset="mimecast.ttp_url",
        title="URL Protect clicks: every rewritten link a user clicked, with the scan verdict and action.",
        sourcetype="mimecast:ttp:url",
        enabled_by_default=True,
        facts=ttp_url_facts,
        ocsf=ocsf_ttp_url,
        ocsf_class=4012,
        elastic_dataset="mimecast.ttp_url_logs",
        elastic=elastic.record_time_as_created,
        record_key="clickLogs",
        time_field="date",
        window_fields=("from", "to"),
        oldest_first=True,
        id_fields=TTP_URL_ID_FIELDS,
        event_id_of=ttp_url_event_id,
    ),
    StreamSpec(
        name="ttp-attachment",
        kind="log",
        path="/api/ttp/attachment/get-logs",
        normalise=normalise_ttp_attachment,
        dataset="mimecast.ttp_attachment",
        title="Attachment Protect scans: sandboxed attachments with the file, hash, verdict and action.",
        sourcetype="mimecast:ttp:attachment",
        enabled_by_default=True,
        facts=ttp_attachment_facts,
        ocsf=ocsf_ttp_attachment,
        ocsf_class=4011,
        elastic_dataset="mimecast.ttp_ap_logs",
        elastic=elastic_ttp_attachment,
        record_key="attachmentLogs",
        time_field="date",
        window_fields=("from", "to"),
        oldest_first=True,
        id_fields=TTP_ATTACHMENT_ID_FIELDS,
        event_id_of=ttp_attachment_event_id,
    ),
    StreamSpec(
        name="ttp-impersonation",
        kind="log",
        path="/api/ttp/impersonation/get-logs",
        normalise=normalise_ttp_impersonation,
        dataset="mimecast.ttp_impersonation",
        title="Impersonation Protect detections: messages that looked like a trusted sender, and what was done.",
        sourcetype="mimecast:ttp:impersonation",
        enabled_by_default=True,
        facts=ttp_impersonation_facts,
        ocsf=ocsf_ttp_impersonation,
        ocsf_class=4009,
        elastic_dataset="mimecast.ttp_ip_logs",
        elastic=elastic_ttp_impersonation,
        record_key="impersonationLogs",
        time_field="eventTime",
        window_fields=("from", "to"),
        oldest_first=True,
        id_fields=("id", *TTP_IMPERSONATION_FALLBACK_ID_FIELDS),
        event_id_of=ttp_impersonation_event_id,
    ),
)
