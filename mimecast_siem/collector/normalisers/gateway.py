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
from typing import Any

from mimecast_siem.collector.normalisers.common import (
    NormaliseContext,
    build_event,
    direction,
    email_address,
    email_addresses,
    iso,
    number,
    parse_time,
    record_time,
    related,
    text,
)
from mimecast_siem.events import Event, stable_event_id

ENTERED = "entered"
LEFT = "left"


def normalise_held_message(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """A held-queue transition → ECS event (``ctx.transition`` is ``entered`` or ``left``)."""
    stream = "held-messages"
    transition = ctx.transition or ENTERED
    if transition == LEFT:
        when, parsed = ctx.observed_at, True
    else:
        when, parsed = record_time(record, "dateReceived", ctx)
    event_id = stable_event_id(stream, text(record.get("id")) or record, transition)
    sender = email_address(record.get("fromHeader")) or email_address(record.get("from"))
    envelope_sender = email_address(record.get("from"))
    recipients = email_addresses(record.get("to"))
    policy = text(record.get("policyInfo"))
    event: dict[str, Any] = {
        "kind": "event",
        "category": ["email"],
        "type": ["start"] if transition == ENTERED else ["end"],
        "action": "message-held" if transition == ENTERED else "message-left-hold",
        "outcome": "success" if transition == ENTERED else "unknown",
        "reason": text(record.get("reason")),
        "severity": 3 if transition == ENTERED else 1,
    }
    mimecast = dict(record)
    mimecast["transition"] = transition
    if transition == LEFT and ctx.held_for is not None:
        event["duration"] = int(ctx.held_for.total_seconds() * 1_000_000_000)
        mimecast["held_for_seconds"] = round(ctx.held_for.total_seconds(), 3)
    fields: dict[str, Any] = {
        "email": {
            "from": {"address": [sender] if sender else []},
            "sender": {"address": envelope_sender if envelope_sender != sender else None},
            "to": {"address": recipients},
            "subject": text(record.get("subject")),
            "direction": direction(record.get("route")),
            "local_id": text(record.get("id")),
        },
        "rule": {"name": policy, "id": text(record.get("reasonCode"))},
        "related": related(users=[*recipients, *([sender] if sender else [])]),
    }
    return build_event(
        stream=stream,
        dataset="mimecast.held_messages",
        event_id=event_id,
        record=record,
        ctx=ctx,
        when=when,
        time_parsed=parsed,
        event=event,
        fields=fields,
        mimecast=mimecast,
        kind="snapshot",
    )


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
    event_id = stable_event_id(stream, ctx.tenant, iso(ctx.observed_at))
    return build_event(
        stream=stream,
        dataset="mimecast.hold_summary",
        event_id=event_id,
        record=record,
        ctx=ctx,
        when=ctx.observed_at,
        time_parsed=True,
        event={"kind": "metric", "category": ["email"], "type": ["info"], "action": "hold-summary-sample"},
        fields={},
        mimecast={
            "hold_summary": [{"policyInfo": policy, "numberOfItems": count} for policy, count in levels.items()],
            "held_total": sum(levels.values()),
        },
        kind="gauge",
    )


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
    event_id = stable_event_id(stream, ctx.tenant, iso(ctx.observed_at))
    return build_event(
        stream=stream,
        dataset="mimecast.email_queues",
        event_id=event_id,
        record=record,
        ctx=ctx,
        when=ctx.observed_at,
        time_parsed=True,
        event={"kind": "metric", "category": ["email"], "type": ["info"], "action": "email-queue-sample"},
        fields={},
        mimecast={
            "email_queues": {
                "inbound": levels.get("inbound", 0),
                "outbound": levels.get("outbound", 0),
                "inbound_samples": samples["inbound"],
                "outbound_samples": samples["outbound"],
            }
        },
        kind="gauge",
    )
