"""Normaliser of the audit-event stream (``/api/audit/get-audit-events``, flat ``data[]`` with ``id``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from mimecast_siem.events import Event, stable_event_id
from mimecast_siem.streams import elastic_map as elastic
from mimecast_siem.streams import facts
from mimecast_siem.streams.normalise import (
    ECS_VERSION,
    NormaliseContext,
    email_address,
    finish_event,
    ip_text,
    iso,
    record_time,
    text,
)
from mimecast_siem.streams.spec import StreamSpec

#: ECS event.category by Mimecast audit category code.
_CATEGORY = {
    "authentication_logs": ["authentication"],
    "account_logs": ["iam", "configuration"],
    "policy_logs": ["configuration"],
    "integrations_and_apis": ["configuration"],
}
_IP_IN_INFO = re.compile(r"\bIP:\s*([0-9A-Fa-f:.]+)")


def audit_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of an audit entry: its ``id``, else a hash of its identifying fields."""
    record_id = text(record.get("id"))
    if record_id is not None:
        return stable_event_id("audit", record_id)
    return stable_event_id(
        "audit", record.get("eventTime"), record.get("auditType"), record.get("user"), record.get("eventInfo")
    )


def normalise_audit(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """An audit log entry → ECS event."""
    # Written out field by field, without empty values, in build_event()'s order (hot path, issue 16).
    stream = "audit"
    when, parsed = record_time(record, "eventTime", ctx)
    event_id = audit_event_id(record)
    info = text(record.get("eventInfo"))
    match = _IP_IN_INFO.search(info) if info is not None else None
    source_ip = ip_text(match.group(1).rstrip(".,:")) if match else None
    user = text(record.get("user"))
    category = text(record.get("category"))
    event: dict[str, Any] = {
        "id": event_id,
        "module": "mimecast",
        "dataset": "mimecast.audit",
        "provider": stream,
        "created": iso(ctx.observed_at),
        "kind": "event",
        "category": _CATEGORY.get(category or "", ["configuration"]),
        "type": ["info"],
    }
    action = text(record.get("auditType"))
    if action is not None:
        event["action"] = action
    event["outcome"] = "unknown"
    event["severity"] = 1
    document: dict[str, Any] = {"@timestamp": iso(when), "ecs": {"version": ECS_VERSION}, "event": event}
    if info is not None:
        document["message"] = info
    if user is not None:
        user_email = email_address(user) if "@" in user else None
        document["user"] = {"name": user} if user_email is None else {"name": user, "email": user_email}
    if source_ip is not None:
        document["source"] = {"ip": source_ip}
    related_fields: dict[str, Any] = {}
    if user is not None:
        related_fields["user"] = [user]
    if source_ip is not None:
        related_fields["ip"] = [source_ip]
    if related_fields:
        document["related"] = related_fields
    return finish_event(document, record, ctx, stream, event_id, when, parsed)


# --- CEF/LEEF facts -------------------------------------------------------------------------------


def audit_facts(look: facts.Lookup) -> facts.EventFacts:
    """CEF/LEEF facts of an audit event."""
    category = look.text(raw=("category",), doc=("mimecast.category",))
    return facts.EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        "Audit event",
        event_class=f"audit:{facts.class_token(category, 'event')}",
        action=look.text(raw=("auditType",), doc=facts.ACTION),
        severity=facts.doc_severity(look, default=3),
        user=look.text(raw=("user",), doc=("user.email", "user.name")),
        category=category,
        reason=look.text(raw=("eventInfo",), doc=("event.reason", "message")),
        record_id=look.text(raw=("id",)),
    )


# --- Elastic's integration (the json format's elastic-integration profile; docs/elastic-compat.md) --


def elastic_audit(document: dict[str, Any]) -> None:
    """Elastic's ``audit_events`` placements: a bone-cased action, the user split into name and domain."""
    record = elastic.mimecast_record(document)
    audit_type = record.get("auditType")
    if isinstance(audit_type, str) and audit_type:
        elastic.section(document, "event")["action"] = elastic.bone_case(audit_type)
    user = record.get("user")
    if isinstance(user, str) and "@" in user:
        elastic.split_user(elastic.section(document, "user"), user)


# --- the declarations -----------------------------------------------------------------------------

#: The streams of this family, in registry order (``streams/registry.py``).
STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec(
        name="audit",
        kind="log",
        path="/api/audit/get-audit-events",
        normalise=normalise_audit,
        dataset="mimecast.audit",
        title="Audit events: administrator and user actions in the Mimecast console and API (60 days kept).",
        sourcetype="mimecast:audit",
        facts=audit_facts,
        elastic_dataset="mimecast.audit_events",
        elastic=elastic_audit,
        record_key=None,
        time_field="eventTime",
        window_fields=("startDateTime", "endDateTime"),
        id_fields=("id",),
        event_id_of=audit_event_id,
        max_history=timedelta(days=60),
    ),
)
