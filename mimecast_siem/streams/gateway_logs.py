"""Normalisers of the DLP, message-release and rejection logs (mimecast-api.md 4.9, 4.10, 4.13).

* ``dlp`` (``data[0].dlpLogs``): a message that triggered a DLP / content-examination policy. No id.
* ``message-release`` (``data[0].heldReleaseLogs``): the *outcome* of a hold: released, rejected or
  expired by housekeeping, with the operator. ``email.local_id`` is the held message's ``id``, the
  same value the ``held-messages`` stream writes there, so a SIEM joins hold → outcome on it.
* ``rejections`` (flat ``data[]``): messages refused at the gateway and why. Records carry an ``id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from mimecast_siem.events import Event, canonical_ip, stable_event_id
from mimecast_siem.streams import elastic_map as elastic
from mimecast_siem.streams import facts
from mimecast_siem.streams import ocsf_map as ocsf
from mimecast_siem.streams.gateway import held_message_email
from mimecast_siem.streams.normalise import (
    ECS_VERSION,
    NormaliseContext,
    add_message_fields,
    domain_of,
    email_address,
    email_addresses,
    finish_event,
    ip_text,
    iso,
    record_time,
    related_users,
    text,
)
from mimecast_siem.streams.spec import StreamSpec

#: Fields whose values identify one DLP log line (the records have no id).
DLP_ID_FIELDS = ("eventTime", "messageId", "senderAddress", "recipientAddress", "policy", "action")
#: Rejection records carry ``id``; these are used only when a record lacks it.
REJECTION_FALLBACK_ID_FIELDS = ("created", "fromAddress", "toAddress", "ipAddress", "type", "info")

_DLP_BLOCKING = {"hold": 5, "bounce": 6, "smtp_bounce": 6, "block": 6, "reject": 6, "quarantine": 5}

#: Outcome of a release-log record: released, rejected or expired (by housekeeping).
RELEASED, REJECTED, EXPIRED = "released", "rejected", "expired"


def dlp_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of a DLP log line: a hash of its identifying fields."""
    return stable_event_id("dlp", *map(record.get, DLP_ID_FIELDS))


def normalise_dlp(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """A DLP log line (``dlpLogs[]``) → ECS event."""
    # Written out field by field, without empty values, in build_event()'s order (finish_event() adds
    # the fixed tail): no generic helpers per record (issue 16).
    stream = "dlp"
    when, parsed = record_time(record, "eventTime", ctx)
    event_id = dlp_event_id(record)
    action = text(record.get("action"))
    lowered = action.lower() if action else ""
    blocking = lowered in _DLP_BLOCKING
    sender = email_address(record.get("senderAddress"))
    recipients = email_addresses(record.get("recipientAddress"))
    event: dict[str, Any] = {
        "id": event_id,
        "module": "mimecast",
        "dataset": "mimecast.dlp",
        "provider": stream,
        "created": iso(ctx.observed_at),
        "kind": "alert" if blocking else "event",
        "category": ["email"],
        "type": ["denied"] if blocking else ["info"],
    }
    if action is not None:
        event["action"] = action
    event["outcome"] = "failure" if blocking else "unknown"
    event["severity"] = _DLP_BLOCKING.get(lowered, 3)
    document: dict[str, Any] = {"@timestamp": iso(when), "ecs": {"version": ECS_VERSION}, "event": event}
    email = add_message_fields(_email_pruned(sender, recipients), record)
    if email:
        document["email"] = email
    policy = text(record.get("policy"))
    if policy is not None:
        document["rule"] = {"name": policy}
    users = related_users(sender, recipients)
    if users:
        document["related"] = {"user": users}
    return finish_event(document, record, ctx, stream, event_id, when, parsed)


def _email_pruned(sender: str | None, recipients: list[str]) -> dict[str, Any]:
    """ECS ``email.from`` and ``email.to`` without empty values (the caller adds the rest in order)."""
    email: dict[str, Any] = {}
    if sender:
        email["from"] = {"address": [sender]}
    if recipients:
        email["to"] = {"address": recipients}
    return email


# --- message release ----------------------------------------------------------------------------------


def release_outcome(record: Mapping[str, Any]) -> str:
    """``released``, ``rejected`` or ``expired`` from a release-log record.

    The sources document only the statuses ``released`` and ``rejected`` while saying that items
    expired by housekeeping are included: an entry whose operator or reject reason names
    housekeeping (or expiry), or whose status says ``expired``, is an expiry.
    """
    return _release_outcome(record, email_address(record.get("operator")))


def _release_outcome(record: Mapping[str, Any], operator: str | None) -> str:
    """:func:`release_outcome` with the operator's address already read."""
    status = (text(record.get("status")) or "").lower()
    operator = (operator or "").lower()
    reason = (text(record.get("rejectReason")) or "").lower()
    if "expir" in status or "housekeeping" in operator or "housekeeping" in reason or "expired" in reason:
        return EXPIRED
    if status.startswith("releas"):
        return RELEASED
    return REJECTED


def message_release_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of a release-log entry: the held message id, its status and when it left."""
    return stable_event_id("message-release", record.get("id"), record.get("status"), record.get("released"))


_RELEASE_EVENT: dict[str, dict[str, Any]] = {
    RELEASED: {"type": ["allowed", "end"], "action": "message-released", "severity": 3},
    REJECTED: {"type": ["denied", "end"], "action": "message-rejected", "severity": 2},
    EXPIRED: {"type": ["deletion", "end"], "action": "message-expired", "severity": 1},
}


def normalise_message_release(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """A release-log entry (``heldReleaseLogs[]``) → ECS event naming the outcome and the operator."""
    # Written out field by field, without empty values, in build_event()'s order (finish_event() adds
    # the fixed tail): no generic helpers per record (issue 16).
    stream = "message-release"
    when, parsed = record_time(record, "released", ctx)
    event_id = message_release_event_id(record)
    operator = email_address(record.get("operator"))
    outcome = _release_outcome(record, operator)
    sender = email_address(record.get("fromHdr")) or email_address(record.get("fromEnv"))
    envelope_sender = email_address(record.get("fromEnv"))
    recipients = email_addresses(record.get("to"))
    policy = text(record.get("policy"))
    shape = _RELEASE_EVENT[outcome]
    user = operator if operator and "@" in operator else None
    event: dict[str, Any] = {
        "id": event_id,
        "module": "mimecast",
        "dataset": "mimecast.message_release",
        "provider": stream,
        "created": iso(ctx.observed_at),
        "kind": "event",
        "category": ["email"],
        "type": shape["type"],
        "action": shape["action"],
        "outcome": "success",
    }
    reason = text(record.get("rejectReason")) or text(record.get("heldReason"))
    if reason is not None:
        event["reason"] = reason
    event["severity"] = shape["severity"]
    document: dict[str, Any] = {"@timestamp": iso(when), "ecs": {"version": ECS_VERSION}, "event": event}
    email = held_message_email(record, sender=sender, envelope_sender=envelope_sender, recipients=recipients)
    if email:
        document["email"] = email
    # The operator who released or rejected the message acted: ECS user.* is the actor.
    if user is not None:
        document["user"] = {"email": user}
    elif operator is not None:
        document["user"] = {"name": operator}
    if policy is not None:
        document["rule"] = {"name": policy}
    users = related_users(sender, recipients)
    if user is not None and user not in users:
        users.append(user)
    if users:
        document["related"] = {"user": users}
    mimecast = dict(record)
    mimecast["outcome"] = outcome
    return finish_event(document, record, ctx, stream, event_id, when, parsed, mimecast)


# --- rejections ---------------------------------------------------------------------------------------

#: Rejection types (lowered) whose events are severity 4 (others 3).
_SEVERE_REJECTIONS = frozenset({"virus detected", "anti-spoofing"})


def rejection_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of a rejection: its ``id``, else a hash of its identifying fields."""
    record_id = text(record.get("id"))
    if record_id is not None:
        return stable_event_id("rejections", record_id)
    return stable_event_id("rejections", *map(record.get, REJECTION_FALLBACK_ID_FIELDS))


def normalise_rejection(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """A rejection (``get-rejections`` ``data[]``) → ECS event."""
    # Written out field by field, without empty values, in build_event()'s order (finish_event() adds
    # the fixed tail): no generic helpers per record (issue 16).
    stream = "rejections"
    when, parsed = record_time(record, "created", ctx)
    event_id = rejection_event_id(record)
    sender = email_address(record.get("fromAddress"))
    recipients = email_addresses(record.get("toAddress"))
    source_ip = ip_text(record.get("ipAddress") or record.get("remoteIp"))
    remote = text(record.get("remoteName")) or text(record.get("remoteHostname"))
    kind = text(record.get("type"))
    event: dict[str, Any] = {
        "id": event_id,
        "module": "mimecast",
        "dataset": "mimecast.rejections",
        "provider": stream,
        "created": iso(ctx.observed_at),
        "kind": "event",
        "category": ["email"],
        "type": ["denied"],
        "action": "message-rejected",
        "outcome": "failure",
    }
    reason = text(record.get("info")) or text(record.get("description"))
    if reason is not None:
        event["reason"] = reason
    event["severity"] = 4 if kind is not None and kind.lower() in _SEVERE_REJECTIONS else 3
    document: dict[str, Any] = {"@timestamp": iso(when), "ecs": {"version": ECS_VERSION}, "event": event}
    email = _email_pruned(sender, recipients)
    email["direction"] = "inbound"
    document["email"] = email
    if source_ip is not None:
        document["source"] = {"ip": source_ip} if remote is None else {"ip": source_ip, "domain": remote}
    elif remote is not None:
        document["source"] = {"domain": remote}
    if kind is not None:
        document["rule"] = {"name": kind}
    related_fields: dict[str, Any] = {}
    users = related_users(sender, recipients)
    if users:
        related_fields["user"] = users
    if source_ip is not None:
        related_fields["ip"] = [source_ip]
    sender_domain = domain_of(sender) if sender else None
    if remote is not None:
        related_fields["hosts"] = (
            [remote] if sender_domain is None or sender_domain == remote else [remote, sender_domain]
        )
    elif sender_domain is not None:
        related_fields["hosts"] = [sender_domain]
    if related_fields:
        document["related"] = related_fields
    return finish_event(document, record, ctx, stream, event_id, when, parsed)


# --- CEF/LEEF facts -------------------------------------------------------------------------------


def dlp_facts(look: facts.Lookup) -> facts.EventFacts:
    """CEF/LEEF facts of a DLP policy hit."""
    action = look.text(raw=("action",), doc=facts.ACTION)
    blocked = facts.is_blocking(action)
    return facts.EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        "DLP policy hit",
        event_class=f"dlp:{facts.class_token(action, 'event')}",
        action=action,
        blocked=blocked,
        severity=facts.doc_severity(look, default=5 if blocked else 3),
        direction=facts.direction_of(look.text(raw=("route",), doc=facts.DIRECTION)),
        sender=look.first_text(doc=facts.SENDER, raw=("senderAddress",)),
        recipient=look.text(doc=facts.RECIPIENT, raw=("recipientAddress",)),
        subject=look.text(doc=facts.SUBJECT, raw=("subject",)),
        message_id=look.text(doc=facts.MESSAGE_ID, raw=("messageId",)),
        policy=look.text(doc=facts.POLICY, raw=("policy",)),
    )


def message_release_facts(look: facts.Lookup) -> facts.EventFacts:
    """CEF/LEEF facts of a release-log entry: the outcome and who decided it."""
    outcome = look.text(doc=("mimecast.outcome",)) or release_outcome(look.raw)
    return facts.EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        f"Held message {outcome}",
        event_class=f"message-release:{facts.class_token(outcome, 'released')}",
        action=outcome,
        blocked=outcome != RELEASED,
        severity=facts.doc_severity(look, default=3),
        direction=facts.direction_of(look.text(raw=("route",), doc=facts.DIRECTION)),
        sender=look.first_text(doc=facts.SENDER, raw=("fromHdr", "fromEnv")),
        recipient=look.text(doc=facts.RECIPIENT, raw=("to",)),
        user=look.text(raw=("operator",), doc=("user.email", "user.name")),
        subject=look.text(doc=facts.SUBJECT, raw=("subject",)),
        policy=look.text(doc=facts.POLICY, raw=("policy",)),
        reason=look.text(raw=("rejectReason", "heldReason"), doc=("event.reason",)),
        record_id=look.text(raw=("id",), doc=("email.local_id",)),
        extras=facts.extras(("heldReason", look.text(raw=("heldReason",)))),
        counts=facts.counts(
            ("spamScore", facts.as_int(look.value(raw=("spamScore",)))),
            ("size", facts.as_int(look.value(raw=("size",)))),
        ),
    )


def rejection_facts(look: facts.Lookup) -> facts.EventFacts:
    """CEF/LEEF facts of a gateway rejection."""
    kind = look.text(raw=("type",), doc=facts.POLICY)
    return facts.EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        "Message rejected",
        event_class=f"rejections:{facts.class_token(kind, 'rejected')}",
        action="rejected",
        blocked=True,
        severity=facts.doc_severity(look, default=3),
        direction="inbound",
        sender=look.first_text(doc=facts.SENDER, raw=("fromAddress",)),
        recipient=look.text(doc=facts.RECIPIENT, raw=("toAddress",)),
        source_ip=look.ip(doc=facts.SOURCE_IP, raw=("ipAddress", "remoteIp")),
        policy=kind,
        reason=look.text(raw=("info",), doc=("event.reason",)),
        record_id=look.text(raw=("id",)),
        extras=facts.extras(
            ("remoteName", look.text(raw=("remoteName",))), ("remoteEhlo", look.text(raw=("remoteEhlo",)))
        ),
        counts=facts.counts(("spamScore", facts.as_int(look.value(raw=("spamScore",))))),
    )


# --- OCSF -----------------------------------------------------------------------------------------


def _email_attributes(email: dict[str, Any], route: Any) -> dict[str, Any]:
    direction = ocsf.direction_id(route)
    return {"email": email, "direction_id": direction, "direction": ocsf.DIRECTION_NAMES[direction]}


def ocsf_dlp(event: Event, raw: dict[str, Any]) -> ocsf.OcsfMapping:
    """OCSF Email Activity (4009, Scan) with the Security Control action DLP took."""
    email = ocsf.email_object(
        raw, uid_key="messageId", sender=raw.get("senderAddress"), recipient=raw.get("recipientAddress")
    )
    attributes = _email_attributes(email, raw.get("route"))
    policy = ocsf.text_of(raw.get("policy"))
    if policy:
        attributes["policy"] = {"name": policy}
    action = ocsf.lower(raw.get("action"))
    blocked = action in _DLP_BLOCKING
    attributes["severity_id"] = 3 if blocked else 2
    attributes["observables"] = ocsf.email_observables(email)
    control = (ocsf.QUARANTINED if action == "hold" else ocsf.DENIED) if blocked else ocsf.OBSERVED
    return ocsf.OcsfMapping(
        4009, 3, attributes, mapped_keys={"messageId", "subject", "senderAddress", "recipientAddress", "route", "policy"},
        control=control,
    )  # fmt: skip


def ocsf_message_release(event: Event, raw: dict[str, Any]) -> ocsf.OcsfMapping:
    """OCSF Email Activity (4009), activity Other: Released / Rejected / Expired, the operator as actor."""
    email = ocsf.email_object(
        raw,
        uid_key="id",
        sender=raw.get("fromHdr") or raw.get("fromEnv"),
        recipient=(raw.get("to") or [None])[0] if isinstance(raw.get("to"), list) else raw.get("to"),
    )
    attributes = _email_attributes(email, raw.get("route"))
    policy = ocsf.text_of(raw.get("policy"))
    if policy:
        attributes["policy"] = {"name": policy}
    reason = ocsf.text_of(raw.get("rejectReason")) or ocsf.text_of(raw.get("heldReason"))
    if reason:
        attributes["message"] = reason
    # Email Activity has no actor: the operator stays in unmapped (and in the CEF/LEEF user fact).
    attributes["severity_id"] = 1
    attributes["observables"] = ocsf.email_observables(email)
    outcome = release_outcome(raw)
    control = ocsf.ALLOWED if outcome == RELEASED else ocsf.DENIED
    return ocsf.OcsfMapping(
        4009, 99, attributes, activity_name=outcome.capitalize(), control=control,
        mapped_keys={"id", "subject", "fromHdr", "fromEnv", "to", "route", "policy", "rejectReason", "heldReason"},
    )  # fmt: skip


def ocsf_rejection(event: Event, raw: dict[str, Any]) -> ocsf.OcsfMapping:
    """OCSF Email Activity (4009, Receive) refused at the gateway: Security Control Denied / Blocked."""
    email = ocsf.email_object(raw, uid_key="id", sender=raw.get("fromAddress"), recipient=raw.get("toAddress"))
    attributes = _email_attributes(email, "inbound")
    text_ip = ocsf.text_of(raw.get("ipAddress"))
    ip = canonical_ip(text_ip) if text_ip else None
    if ip:
        attributes["src_endpoint"] = {
            "ip": ip,
            **({"hostname": raw["remoteName"]} if ocsf.text_of(raw.get("remoteName")) else {}),
        }
    kind = ocsf.text_of(raw.get("type"))
    if kind:
        attributes["policy"] = {"name": kind}
    info = ocsf.text_of(raw.get("info"))
    if info:
        attributes["message"] = info
    attributes["severity_id"] = 2
    attributes["observables"] = ocsf.email_observables(email, ip)
    return ocsf.OcsfMapping(
        4009, 2, attributes, control=ocsf.DENIED,
        mapped_keys={"id", "fromAddress", "toAddress", "remoteName", "type", "info", *(["ipAddress"] if ip else [])},
    )  # fmt: skip


# --- Elastic's integration (the json format's elastic-integration profile; docs/elastic-compat.md) --


def elastic_message_release(document: dict[str, Any]) -> None:
    """Elastic's ``message_release_logs`` placements: the status as action, the mailbox owner as user."""
    record = elastic.mimecast_record(document)
    event = elastic.section(document, "event")
    status = record.get("status")
    if isinstance(status, str) and status:
        event["action"] = status
    event["type"] = ["info"]
    if record.get("rejectReason"):
        event["reason"] = record["rejectReason"]
    else:
        event.pop("reason", None)
    score = record.get("spamScore")
    if isinstance(score, int | float) and not isinstance(score, bool):
        event["risk_score"] = float(score)
    email = elastic.section(document, "email")
    senders = [a for a in (elastic.address(record.get("fromEnv")), elastic.address(record.get("fromHdr"))) if a]
    if senders:
        email["from"] = {"address": list(dict.fromkeys(senders))}
    email.pop("sender", None)
    # Elastic's user.* is the mailbox owner (recipient inbound, sender outbound), not the operator.
    direction = str(record.get("route") or "").lower()
    recipients = email.get("to", {}).get("address") if isinstance(email.get("to"), Mapping) else None
    user: dict[str, Any] = {}
    if direction == "outbound" and senders:
        user["email"] = senders
    elif direction == "inbound" and recipients:
        user["email"] = list(recipients)
    if user:
        document["user"] = user
    else:
        document.pop("user", None)


# --- the declarations -----------------------------------------------------------------------------

#: The streams of this family, in registry order (``streams/registry.py``).
STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec(
        name="dlp",
        kind="log",
        path="/api/dlp/get-logs",
        normalise=normalise_dlp,
        dataset="mimecast.dlp",
        title="DLP / content examination hits: messages that triggered a data-leak policy, and the action taken.",
        sourcetype="mimecast:dlp",
        facts=dlp_facts,
        ocsf=ocsf_dlp,
        ocsf_class=4009,
        elastic_dataset="mimecast.dlp_logs",
        elastic=elastic.record_time_as_created,
        record_key="dlpLogs",
        time_field="eventTime",
        window_fields=("from", "to"),
        oldest_first=True,
        id_fields=DLP_ID_FIELDS,
        event_id_of=dlp_event_id,
    ),
    StreamSpec(
        name="message-release",
        kind="log",
        path="/api/gateway/get-held-release-logs",
        normalise=normalise_message_release,
        dataset="mimecast.message_release",
        title="Held-message outcomes: released, rejected or expired, with the operator (joins held-messages on email.local_id).",
        sourcetype="mimecast:message:release",
        facts=message_release_facts,
        ocsf=ocsf_message_release,
        ocsf_class=4009,
        elastic_dataset="mimecast.message_release_logs",
        elastic=elastic_message_release,
        record_key="heldReleaseLogs",
        time_field="released",
        window_fields=("start", "end"),
        id_fields=("id", "status", "released"),
        event_id_of=message_release_event_id,
    ),
    StreamSpec(
        name="rejections",
        kind="log",
        path="/api/gateway/get-rejections",
        normalise=normalise_rejection,
        dataset="mimecast.rejections",
        title="Gateway rejections: messages refused before acceptance, with the reason and the sending host.",
        sourcetype="mimecast:rejections",
        facts=rejection_facts,
        ocsf=ocsf_rejection,
        ocsf_class=4009,
        record_key=None,
        time_field="created",
        window_fields=("start", "end"),
        # admin defaults to false = only the API user's own mailbox (like the held list, quirk 11).
        static_filters=MappingProxyType({"admin": True}),
        id_fields=("id", *REJECTION_FALLBACK_ID_FIELDS),
        event_id_of=rejection_event_id,
    ),
)
