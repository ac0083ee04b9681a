"""Normalisers of the gateway streams: held-message transitions and the two gauge samples.

* ``held-messages`` is a *state* list (quirk 11). The collector diffs successive snapshots
  (``collector/snapshots.py``) and normalises each transition: ``entered`` (the message is now held)
  and ``left`` (it is no longer held: released, rejected or expired; the list does not say which).
* ``hold-summary`` and ``email-queues`` are point-in-time gauges: one sample event per poll, whose
  ``record`` is ``{"data": [...]}`` (the whole response data), plus the gauge levels the collector
  puts on Prometheus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

from mimecast_siem.events import Event, stable_event_id
from mimecast_siem.streams import facts
from mimecast_siem.streams import ocsf_map as ocsf
from mimecast_siem.streams.normalise import (
    ECS_VERSION,
    NormaliseContext,
    direction,
    email_address,
    email_addresses,
    finish_event,
    iso,
    number,
    parse_time,
    record_time,
    related_users,
    text,
)
from mimecast_siem.streams.spec import StreamSpec

ENTERED = "entered"
LEFT = "left"


def held_message_email(
    record: Mapping[str, Any], *, sender: str | None, envelope_sender: str | None, recipients: list[str]
) -> dict[str, Any]:
    """ECS ``email.*`` of a held message (also the message a release-log entry names), without empty values."""
    email: dict[str, Any] = {}
    if sender:
        email["from"] = {"address": [sender]}
    if envelope_sender is not None and envelope_sender != sender:
        email["sender"] = {"address": envelope_sender}
    if recipients:
        email["to"] = {"address": recipients}
    subject = text(record.get("subject"))
    if subject is not None:
        email["subject"] = subject
    route = direction(record.get("route"))
    if route is not None:
        email["direction"] = route
    local_id = text(record.get("id"))
    if local_id is not None:
        email["local_id"] = local_id
    return email


def normalise_held_message(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """A held-queue transition → ECS event (``ctx.transition`` is ``entered`` or ``left``)."""
    # Written out field by field, without empty values, in build_event()'s order (finish_event() adds
    # the fixed tail): no generic helpers per record (issue 16).
    stream = "held-messages"
    transition = ctx.transition or ENTERED
    entered, left = transition == ENTERED, transition == LEFT
    if left:
        when, parsed = ctx.observed_at, True
    else:
        when, parsed = record_time(record, "dateReceived", ctx)
    event_id = stable_event_id(stream, text(record.get("id")) or record, transition)
    sender = email_address(record.get("fromHeader")) or email_address(record.get("from"))
    envelope_sender = email_address(record.get("from"))
    recipients = email_addresses(record.get("to"))
    event: dict[str, Any] = {
        "id": event_id,
        "module": "mimecast",
        "dataset": "mimecast.held_messages",
        "provider": stream,
        "created": iso(ctx.observed_at),
        "kind": "event",
        "category": ["email"],
        "type": ["start"] if entered else ["end"],
        "action": "message-held" if entered else "message-left-hold",
        "outcome": "success" if entered else "unknown",
    }
    reason = text(record.get("reason"))
    if reason is not None:
        event["reason"] = reason
    event["severity"] = 3 if entered else 1
    mimecast = dict(record)
    mimecast["transition"] = transition
    if left and ctx.held_for is not None:
        event["duration"] = int(ctx.held_for.total_seconds() * 1_000_000_000)
        mimecast["held_for_seconds"] = round(ctx.held_for.total_seconds(), 3)
    document: dict[str, Any] = {"@timestamp": iso(when), "ecs": {"version": ECS_VERSION}, "event": event}
    email = held_message_email(record, sender=sender, envelope_sender=envelope_sender, recipients=recipients)
    if email:
        document["email"] = email
    policy = text(record.get("policyInfo"))
    rule_id = text(record.get("reasonCode"))
    if policy is not None:
        document["rule"] = {"name": policy} if rule_id is None else {"name": policy, "id": rule_id}
    elif rule_id is not None:
        document["rule"] = {"id": rule_id}
    users = related_users(sender, recipients)
    if users:
        document["related"] = {"user": users}
    return finish_event(document, record, ctx, stream, event_id, when, parsed, mimecast, "snapshot")


def held_since(record: Mapping[str, Any]) -> datetime | None:
    """When a held message was received (start of the hold), if the record says."""
    return parse_time(record.get("dateReceived"))


# --- hold summary ---------------------------------------------------------------------------------


def hold_summary_levels(records: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """``{policy: held count}`` from ``get-hold-summary-list`` records (same policy twice: summed)."""
    levels: dict[str, int] = {}
    for record in records:
        if not isinstance(record, Mapping):
            continue
        policy = text(record.get("policyInfo")) or "unknown"
        count = number(record.get("numberOfItems"))
        if count is None:
            continue
        levels[policy] = levels.get(policy, 0) + max(count, 0)
    return levels


def normalise_hold_summary(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """One hold-summary sample (``record = {"data": [...]}``) → ECS metric event."""
    stream = "hold-summary"
    data = record.get("data")
    records = [r for r in data if isinstance(r, Mapping)] if isinstance(data, list) else []
    levels = hold_summary_levels(records)
    mimecast = {
        "hold_summary": [{"policyInfo": policy, "numberOfItems": count} for policy, count in levels.items()],
        "held_total": sum(levels.values()),
    }
    return _gauge_event(
        record, ctx, stream=stream, dataset="mimecast.hold_summary", action="hold-summary-sample", mimecast=mimecast
    )


def _gauge_event(
    record: Mapping[str, Any],
    ctx: NormaliseContext,
    *,
    stream: str,
    dataset: str,
    action: str,
    mimecast: dict[str, Any],
) -> Event:
    """A gauge sample's event: one per tenant and poll, at the poll time, its levels under ``mimecast.*``."""
    created = iso(ctx.observed_at)
    event_id = stable_event_id(stream, ctx.tenant, created)
    event = {
        "id": event_id,
        "module": "mimecast",
        "dataset": dataset,
        "provider": stream,
        "created": created,
        "kind": "metric",
        "category": ["email"],
        "type": ["info"],
        "action": action,
    }
    document: dict[str, Any] = {"@timestamp": created, "ecs": {"version": ECS_VERSION}, "event": event}
    return finish_event(document, record, ctx, stream, event_id, ctx.observed_at, True, mimecast, "gauge")


# --- email queues -----------------------------------------------------------------------------------

_QUEUE_KEYS = {"inbound": "inboundEmailQueue", "outbound": "outboundEmailQueue"}


def queue_samples(value: Any) -> list[dict[str, Any]]:
    """A queue value in one shape: a list of ``{date, count}`` (quirk 12: numbers or sample lists).

    A bare number becomes one sample without a date (the poll time applies); unreadable items are
    dropped. Samples are sorted by date, undated ones last.
    """
    if value is None:
        return []
    count = number(value) if not isinstance(value, list | Mapping) else None
    if count is not None:
        return [{"date": None, "count": count}]
    items = value if isinstance(value, list) else [value]
    samples: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, Mapping):
            item_count = number(item.get("count"))
            if item_count is None:
                continue
            samples.append({"date": text(item.get("date")), "count": item_count})
        else:
            item_count = number(item)
            if item_count is not None:
                samples.append({"date": None, "count": item_count})

    def sort_key(sample: dict[str, Any]) -> tuple[int, str]:
        parsed = parse_time(sample["date"])
        return (1, "") if parsed is None else (0, parsed.isoformat())

    return sorted(samples, key=sort_key)


def email_queue_levels(records: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """``{direction: messages queued now}``: the latest sample of each queue (summed over data items)."""
    levels: dict[str, int] = {}
    for record in records:
        if not isinstance(record, Mapping):
            continue
        for queue_direction, key in _QUEUE_KEYS.items():
            samples = queue_samples(record.get(key))
            if not samples:
                continue
            dated = [s for s in samples if s["date"] is not None and parse_time(s["date"]) is not None]
            latest = dated[-1] if dated else samples[-1]
            levels[queue_direction] = levels.get(queue_direction, 0) + max(int(latest["count"]), 0)
    return levels


def normalise_email_queues(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """One email-queue sample (``record = {"data": [...]}``) → ECS metric event."""
    stream = "email-queues"
    data = record.get("data")
    records = [r for r in data if isinstance(r, Mapping)] if isinstance(data, list) else []
    levels = email_queue_levels(records)
    samples = {
        queue_direction: [s for r in records for s in queue_samples(r.get(key))]
        for queue_direction, key in _QUEUE_KEYS.items()
    }
    mimecast = {
        "email_queues": {
            "inbound": levels.get("inbound", 0),
            "outbound": levels.get("outbound", 0),
            "inbound_samples": samples["inbound"],
            "outbound_samples": samples["outbound"],
        }
    }
    return _gauge_event(
        record, ctx, stream=stream, dataset="mimecast.email_queues", action="email-queue-sample", mimecast=mimecast
    )


# --- CEF/LEEF facts -------------------------------------------------------------------------------


def held_message_facts(look: facts.Lookup) -> facts.EventFacts:
    # A held-message event says a message entered or left the hold queue (the collector diffs
    # snapshots): ``mimecast.transition`` is entered|left; older documents only name it in
    # event.action. Without either, the record itself means "held".
    """CEF/LEEF facts of a message entering or leaving the hold queue."""
    transition = look.text(doc=("mimecast.transition",))
    action = look.text(doc=facts.ACTION, raw=("action",))
    if transition is None:
        left = action is not None and any(word in action.lower() for word in facts.LEAVE_HOLD_WORDS)
        transition = "left" if left else "entered"
    entered = transition.lower() != "left"
    return facts.EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        "Message held" if entered else "Message left hold",
        event_class=f"held-messages:{facts.class_token(transition, 'entered')}",
        action=action or ("held" if entered else "left-hold"),
        blocked=entered,
        severity=facts.doc_severity(look, default=5 if entered else 3),
        direction=facts.direction_of(look.text(raw=("route",), doc=facts.DIRECTION)),
        sender=look.first_text(doc=facts.SENDER, raw=("fromHeader", "from")),
        recipient=look.text(doc=facts.RECIPIENT, raw=("to",)),
        subject=look.text(doc=facts.SUBJECT, raw=("subject",)),
        message_id=look.text(doc=facts.MESSAGE_ID, raw=("messageId",)),
        policy=look.text(raw=("policyInfo",), doc=facts.POLICY),
        reason=look.text(raw=("reason",), doc=("event.reason",)),
        record_id=look.text(raw=("id",), doc=("email.local_id",)),
        extras=facts.extras(
            ("reasonCode", look.text(raw=("reasonCode",), doc=("rule.id",))),
            ("hasAttachments", look.text(raw=("hasAttachments",))),
            ("heldForSeconds", look.text(doc=("mimecast.held_for_seconds",))),
        ),
        counts=facts.counts(("size", facts.as_int(look.value(raw=("size",))))),
    )


def _policy_counts(items: Any) -> list[tuple[str, int]]:
    """``[(policy, count)]`` from hold-summary items (``{policyInfo, numberOfItems}``)."""
    pairs: list[tuple[str, int]] = []
    if isinstance(items, list):
        for item in items:
            if isinstance(item, Mapping):
                count = facts.as_int(item.get("numberOfItems"))
                if count is not None:
                    pairs.append((facts.as_text(item.get("policyInfo"), ",") or "unknown", count))
    return pairs


def hold_summary_facts(look: facts.Lookup) -> facts.EventFacts:
    # The collector's sample document carries mimecast.hold_summary / held_total; a bare record
    # (one policy, or the {"data": [...]} response) is read as a fallback.
    """CEF/LEEF facts of a hold-summary sample."""
    pairs = _policy_counts(look.value(doc=("mimecast.hold_summary",)) or look.value(raw=("data",)))
    if not pairs and look.value(raw=("numberOfItems",)) is not None:
        pairs = _policy_counts([dict(look.raw)])
    total = facts.as_int(look.value(doc=("mimecast.held_total",)))
    if total is None and pairs:
        total = sum(count for _, count in pairs)
    summary = "; ".join(f"{policy}: {count}" for policy, count in pairs) or None
    return facts.EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        "Hold queue summary",
        event_class="hold-summary:sample",
        severity=facts.doc_severity(look, default=1),
        policy=pairs[0][0] if len(pairs) == 1 else None,
        extras=facts.extras(("holdSummary", summary)),
        counts=facts.counts(("heldTotal", total), ("policies", len(pairs) if pairs else None)),
    )


def _queue_level(look: facts.Lookup, direction: str, raw_key: str) -> int | None:
    level = facts.as_int(look.value(doc=(f"mimecast.email_queues.{direction}",)))
    if level is not None:
        return level
    level = facts.as_int(look.value(raw=(raw_key,)))
    if level is not None:
        return level
    data = look.value(raw=("data",))
    if isinstance(data, list):
        levels = [facts.as_int(item.get(raw_key)) for item in data if isinstance(item, Mapping)]
        known = [lvl for lvl in levels if lvl is not None]
        return sum(known) if known else None
    return None


def email_queue_facts(look: facts.Lookup) -> facts.EventFacts:
    """CEF/LEEF facts of an email-queue sample."""
    return facts.EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        "Email queue sample",
        event_class="email-queues:sample",
        severity=facts.doc_severity(look, default=1),
        counts=facts.counts(
            ("inboundEmailQueue", _queue_level(look, "inbound", "inboundEmailQueue")),
            ("outboundEmailQueue", _queue_level(look, "outbound", "outboundEmailQueue")),
        ),
    )


# --- OCSF -----------------------------------------------------------------------------------------


def ocsf_held_message(event: Event, raw: dict[str, Any]) -> ocsf.OcsfMapping:
    """OCSF Email Activity (4009): Receive when a message enters hold, Other "Left Hold" when it leaves."""
    email = ocsf.email_object(
        raw, uid_key="id", sender=raw.get("fromHeader") or raw.get("from"), recipient=raw.get("to")
    )
    size = raw.get("size")
    if isinstance(size, int) and not isinstance(size, bool):
        email["size"] = size
    direction = ocsf.direction_id(raw.get("route"))
    attributes: dict[str, Any] = {
        "email": email,
        "direction_id": direction,
        "direction": ocsf.DIRECTION_NAMES[direction],
    }
    policy = ocsf.text_of(raw.get("policyInfo"))
    if policy:
        attributes["policy"] = {"name": policy}
    reason = ocsf.text_of(raw.get("reason"))
    if reason:
        attributes["message"] = reason
    attributes["severity_id"] = 1
    attributes["observables"] = ocsf.email_observables(email)
    mapped_keys = {"id", "subject", "from", "fromHeader", "to", "size", "route", "policyInfo", "reason"}
    if ocsf.hold_transition(event) == "left":
        original = event.document.get("mimecast") if isinstance(event.document, dict) else None
        held_for = original.get("held_for_seconds") if isinstance(original, dict) else None
        if isinstance(held_for, int | float) and not isinstance(held_for, bool):
            # How long the message was held; OCSF has no attribute for it, so it joins unmapped.
            attributes["unmapped_extra"] = {"held_for_seconds": held_for}
        return ocsf.OcsfMapping(4009, 99, attributes, mapped_keys=mapped_keys, activity_name="Left Hold")
    return ocsf.OcsfMapping(4009, 2, attributes, mapped_keys=mapped_keys, control=ocsf.QUARANTINED)


# --- the declarations -----------------------------------------------------------------------------

#: The streams of this family, in registry order (``streams/registry.py``).
STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec(
        name="held-messages",
        kind="snapshot",
        path="/api/gateway/get-hold-message-list",
        normalise=normalise_held_message,
        dataset="mimecast.held_messages",
        title="Held messages: an event when a message enters the hold queue and when it leaves it.",
        sourcetype="mimecast:held:message",
        enabled_by_default=True,
        facts=held_message_facts,
        ocsf=ocsf_held_message,
        ocsf_class=4009,
        record_key=None,
        time_field="dateReceived",
        # admin defaults to false = only the API user's own holds (quirk 11).
        static_filters=MappingProxyType({"admin": True}),
        id_fields=("id",),
    ),
    StreamSpec(
        name="hold-summary",
        kind="gauge",
        path="/api/gateway/get-hold-summary-list",
        normalise=normalise_hold_summary,
        dataset="mimecast.hold_summary",
        title="Hold queue summary: a sample per poll of how many messages each policy holds (also a gauge).",
        sourcetype="mimecast:hold:summary",
        enabled_by_default=True,
        facts=hold_summary_facts,
        paged=False,
        gauge_levels=hold_summary_levels,
        gauge_label="policy",
    ),
    StreamSpec(
        name="email-queues",
        kind="gauge",
        path="/api/email/get-email-queues",
        normalise=normalise_email_queues,
        dataset="mimecast.email_queues",
        title="Email queues: a sample per poll of the inbound and outbound queue depths (also a gauge).",
        sourcetype="mimecast:email:queue",
        enabled_by_default=True,
        facts=email_queue_facts,
        window_fields=("start", "end"),
        paged=False,
        gauge_levels=email_queue_levels,
        gauge_label="direction",
    ),
)
