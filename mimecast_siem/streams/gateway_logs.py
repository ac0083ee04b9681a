"""Normalisers of the DLP, message-release and rejection logs (mimecast-api.md 4.9, 4.10, 4.13).

* ``dlp`` (``data[0].dlpLogs``): a message that triggered a DLP / content-examination policy. No id.
* ``message-release`` (``data[0].heldReleaseLogs``): the *outcome* of a hold: released, rejected or
  expired by housekeeping, with the operator. ``email.local_id`` is the held message's ``id``, the
  same value the ``held-messages`` stream writes there, so a SIEM joins hold → outcome on it.
* ``rejections`` (flat ``data[]``): messages refused at the gateway and why. Records carry an ``id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mimecast_siem.events import Event, stable_event_id
from mimecast_siem.streams.normalise import (
    NormaliseContext,
    build_event,
    direction,
    domain_of,
    email_address,
    email_addresses,
    ip_text,
    record_time,
    related,
    text,
)

#: Fields whose values identify one DLP log line (the records have no id).
DLP_ID_FIELDS = ("eventTime", "messageId", "senderAddress", "recipientAddress", "policy", "action")
#: Rejection records carry ``id``; these are used only when a record lacks it.
REJECTION_FALLBACK_ID_FIELDS = ("created", "fromAddress", "toAddress", "ipAddress", "type", "info")

_DLP_BLOCKING = {"hold": 5, "bounce": 6, "smtp_bounce": 6, "block": 6, "reject": 6, "quarantine": 5}

#: Outcome of a release-log record: released, rejected or expired (by housekeeping).
RELEASED, REJECTED, EXPIRED = "released", "rejected", "expired"


def dlp_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of a DLP log line: a hash of its identifying fields."""
    return stable_event_id("dlp", *(record.get(f) for f in DLP_ID_FIELDS))


def normalise_dlp(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """A DLP log line (``dlpLogs[]``) → ECS event."""
    when, parsed = record_time(record, "eventTime", ctx)
    action = text(record.get("action"))
    lowered = (action or "").lower()
    blocking = lowered in _DLP_BLOCKING
    sender = email_address(record.get("senderAddress"))
    recipients = email_addresses(record.get("recipientAddress"))
    return build_event(
        stream="dlp",
        dataset="mimecast.dlp",
        event_id=dlp_event_id(record),
        record=record,
        ctx=ctx,
        when=when,
        time_parsed=parsed,
        event={
            "kind": "alert" if blocking else "event",
            "category": ["email"],
            "type": ["denied"] if blocking else ["info"],
            "action": action,
            "outcome": "failure" if blocking else "unknown",
            "severity": _DLP_BLOCKING.get(lowered, 3),
        },
        fields={
            "email": {
                "from": {"address": [sender] if sender else []},
                "to": {"address": recipients},
                "subject": text(record.get("subject")),
                "message_id": text(record.get("messageId")),
                "direction": direction(record.get("route")),
            },
            "rule": {"name": text(record.get("policy"))},
            "related": related(users=[*recipients, *([sender] if sender else [])]),
        },
    )


# --- message release ----------------------------------------------------------------------------------


def release_outcome(record: Mapping[str, Any]) -> str:
    """``released``, ``rejected`` or ``expired`` from a release-log record.

    The sources document only the statuses ``released`` and ``rejected`` while saying that items
    expired by housekeeping are included: an entry whose operator or reject reason names
    housekeeping (or expiry), or whose status says ``expired``, is an expiry.
    """
    status = (text(record.get("status")) or "").lower()
    operator = (email_address(record.get("operator")) or "").lower()
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
    when, parsed = record_time(record, "released", ctx)
    outcome = release_outcome(record)
    operator = email_address(record.get("operator"))
    sender = email_address(record.get("fromHdr")) or email_address(record.get("fromEnv"))
    envelope_sender = email_address(record.get("fromEnv"))
    recipients = email_addresses(record.get("to"))
    policy = text(record.get("policy"))
    shape = _RELEASE_EVENT[outcome]
    user = operator if operator and "@" in operator else None
    mimecast = dict(record)
    mimecast["outcome"] = outcome
    return build_event(
        stream="message-release",
        dataset="mimecast.message_release",
        event_id=message_release_event_id(record),
        record=record,
        ctx=ctx,
        when=when,
        time_parsed=parsed,
        event={
            "kind": "event",
            "category": ["email"],
            "type": shape["type"],
            "action": shape["action"],
            "outcome": "success",
            "reason": text(record.get("rejectReason")) or text(record.get("heldReason")),
            "severity": shape["severity"],
        },
        fields={
            "email": {
                "from": {"address": [sender] if sender else []},
                "sender": {"address": envelope_sender if envelope_sender != sender else None},
                "to": {"address": recipients},
                "subject": text(record.get("subject")),
                "direction": direction(record.get("route")),
                "local_id": text(record.get("id")),
            },
            # The operator who released or rejected the message acted: ECS user.* is the actor.
            "user": {"email": user, "name": operator if user is None else None},
            "rule": {"name": policy},
            "related": related(users=[*recipients, *([sender] if sender else []), *([user] if user else [])]),
        },
        mimecast=mimecast,
    )


# --- rejections ---------------------------------------------------------------------------------------


def rejection_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of a rejection: its ``id``, else a hash of its identifying fields."""
    record_id = text(record.get("id"))
    if record_id is not None:
        return stable_event_id("rejections", record_id)
    return stable_event_id("rejections", *(record.get(f) for f in REJECTION_FALLBACK_ID_FIELDS))


def normalise_rejection(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """A rejection (``get-rejections`` ``data[]``) → ECS event."""
    when, parsed = record_time(record, "created", ctx)
    sender = email_address(record.get("fromAddress"))
    recipients = email_addresses(record.get("toAddress"))
    source_ip = ip_text(record.get("ipAddress") or record.get("remoteIp"))
    remote = text(record.get("remoteName")) or text(record.get("remoteHostname"))
    kind = text(record.get("type"))
    return build_event(
        stream="rejections",
        dataset="mimecast.rejections",
        event_id=rejection_event_id(record),
        record=record,
        ctx=ctx,
        when=when,
        time_parsed=parsed,
        event={
            "kind": "event",
            "category": ["email"],
            "type": ["denied"],
            "action": "message-rejected",
            "outcome": "failure",
            "reason": text(record.get("info")) or text(record.get("description")),
            "severity": 4 if (kind or "").lower() in {"virus detected", "anti-spoofing"} else 3,
        },
        fields={
            "email": {
                "from": {"address": [sender] if sender else []},
                "to": {"address": recipients},
                "direction": "inbound",
            },
            "source": {"ip": source_ip, "domain": remote},
            "rule": {"name": kind},
            "related": related(
                users=[*recipients, *([sender] if sender else [])],
                ips=[source_ip],
                hosts=[remote, domain_of(sender) if sender else None],
            ),
        },
    )
