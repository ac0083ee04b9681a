"""What every text format (CEF, LEEF) states about an event, read once from the event.

The CEF and LEEF encoders do not read Mimecast records themselves: they both call
:func:`event_facts`, which turns an :class:`~mimecast_siem.events.Event` of any stream into an
:class:`EventFacts` of vendor-neutral values (sender, recipient, URL, verdict, severity ...), and
then spell those facts in their own key names. Keeping the per-stream knowledge in one place means
a SIEM receiving CEF and another receiving LEEF see the same severity for the same event.

Values are read defensively from two places, first hit wins:

1. the ECS-shaped ``event.document`` the collector's normaliser built (``email.from.address``,
   ``url.original``, ``source.ip``, ``event.action`` ...; nested dicts or dotted keys, lists allowed);
2. the original Mimecast record ``event.raw`` (field names from mimecast-api.md section 4).

A missing key is normal (API versions and tenants differ); it simply leaves the fact empty.

Severity (0-10, CEF scale) is the normaliser's ``event.severity`` when the document has one, so
the json, CEF and LEEF outputs of one event agree. Otherwise it comes from the verdict, raised by
one when Mimecast blocked or held the message (sinks.md section 3.3): clean 1, unknown 3,
suspicious 6, malicious 8; without a verdict a stream baseline (gauges 1, audit 3, a message
entering hold 5, leaving 3), at least 5 for a block.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mimecast_siem.events import Event, canonical_ip

VERDICT_SEVERITY: dict[str, int] = {"clean": 1, "unknown": 3, "suspicious": 6, "malicious": 8}
"""CEF severity (0-10) of each normalised verdict, before the +1 for a blocking action."""

_VERDICT_ALIASES: dict[str, str] = {
    "clean": "clean",
    "safe": "clean",
    "allow": "clean",
    "malicious": "malicious",
    "suspicious": "suspicious",
    "unknown": "unknown",
    "timeout": "unknown",
    "error": "unknown",
}

_BLOCKING_WORDS = ("block", "hold", "held", "bounce", "reject", "quarantin", "deny", "denied", "delete", "remov")

# Words of a held-message event that say the message left the queue (released, rejected, expired).
_LEAVE_HOLD_WORDS = ("releas", "reject", "expir", "left", "leave", "exit", "remov", "delet")

_DIRECTIONS = {"inbound": "inbound", "outbound": "outbound", "internal": "internal", "external": "inbound"}


@dataclass(frozen=True, slots=True)
class EventFacts:
    """Vendor-neutral facts about one event, ready for a text format to spell out.

    Attributes:
        stream: stream name (``ttp-url`` ...).
        event_id: the stable event id.
        tenant: configured tenant name.
        time: event time (UTC-aware).
        title: short human title (``URL Protect click``); the CEF ``Name``.
        event_class: low-cardinality class id ``<stream>:<outcome>`` (CEF Device Event Class ID,
            LEEF EventID): a SIEM maps its rules on it, so it only takes bounded values.
        verdict: normalised scan verdict (clean, suspicious, malicious, unknown) or None.
        action: the action Mimecast took or the event names (``block``, ``hold``, ``released`` ...).
        blocked: True when the action stopped or held the message.
        severity: 0-10 (CEF scale).
        direction: inbound, outbound, internal, or None.
        extras: stream-specific labelled values, in a fixed order (label, value).
        counts: stream-specific labelled numbers (queue sizes, hit counts), in a fixed order.
    """

    stream: str
    event_id: str
    tenant: str
    time: datetime
    title: str
    event_class: str
    verdict: str | None = None
    action: str | None = None
    blocked: bool = False
    severity: int = 1
    direction: str | None = None
    sender: str | None = None
    recipient: str | None = None
    user: str | None = None
    subject: str | None = None
    message_id: str | None = None
    source_ip: str | None = None
    url: str | None = None
    file_name: str | None = None
    file_type: str | None = None
    file_hash: str | None = None
    category: str | None = None
    policy: str | None = None
    reason: str | None = None
    record_id: str | None = None
    extras: tuple[tuple[str, str], ...] = ()
    counts: tuple[tuple[str, int], ...] = ()


def syslog_severity(cef_severity: int) -> int:
    """Map a CEF severity (0-10) to a syslog severity (0 emergency .. 7 debug).

    The forwarder never claims emergency/alert/critical/error for a mail event (those mean the
    system itself is failing): 7-10 warning (4), 4-6 notice (5), 0-3 informational (6).
    """
    if cef_severity >= 7:
        return 4
    if cef_severity >= 4:
        return 5
    return 6


def event_severity(event: Event) -> int:
    """The event's 0-10 severity: the document's ``event.severity`` when set, else from its facts."""
    doc = event.document
    found = (
        doc.get("event", {}).get("severity") if isinstance(doc, dict) and isinstance(doc.get("event"), dict) else None
    )
    if isinstance(found, int) and not isinstance(found, bool):
        return max(0, min(10, found))
    return event_facts(event).severity


def event_facts(event: Event) -> EventFacts:
    """Read the facts of ``event`` (pure; unknown streams get the generic reading)."""
    reader = _STREAM_READERS.get(event.stream, _generic)
    return reader(_Lookup(event))


# --- reading values -------------------------------------------------------------------------------


class _Lookup:
    """First-hit lookups over the ECS document (dotted paths) and the raw record (keys)."""

    def __init__(self, event: Event) -> None:
        self.event = event
        self.doc: Mapping[str, Any] = event.document if isinstance(event.document, Mapping) else {}
        self.raw: Mapping[str, Any] = event.raw if isinstance(event.raw, Mapping) else {}

    def value(self, *, doc: Iterable[str] = (), raw: Iterable[str] = ()) -> Any:
        """The first present, non-empty value: document paths first, then raw keys/paths."""
        for path in doc:
            found = _dig(self.doc, path)
            if not _empty(found):
                return found
        for path in raw:
            found = _dig(self.raw, path)
            if not _empty(found):
                return found
        return None

    def text(self, *, doc: Iterable[str] = (), raw: Iterable[str] = (), join: str = ",") -> str | None:
        """Like :meth:`value`, rendered as text (lists joined with ``join``)."""
        return _as_text(self.value(doc=doc, raw=raw), join)

    def ip(self, *, doc: Iterable[str] = (), raw: Iterable[str] = ()) -> str | None:
        """The first value that is a valid IPv4/IPv6 address (formats put it in typed IP fields)."""
        found = self.first_text(doc=doc, raw=raw)
        return None if found is None else canonical_ip(found)

    def first_text(self, *, doc: Iterable[str] = (), raw: Iterable[str] = ()) -> str | None:
        """Like :meth:`text` but a list gives its first element (a single sender)."""
        found = self.value(doc=doc, raw=raw)
        if isinstance(found, list | tuple):
            found = next((item for item in found if not _empty(item)), None)
        return _as_text(found, ",")


_MAPPINGS = (dict, Mapping)


#: Split dotted paths (the paths are constants of this module, so this stays small).
_PATH_PARTS: dict[str, tuple[str, ...]] = {}


def _dig(data: Mapping[str, Any], path: str) -> Any:
    """Value at a dotted path, through nested dicts or a flat dotted key (ECS allows both)."""
    if path in data:
        return data[path]
    parts = _PATH_PARTS.get(path)
    if parts is None:
        parts = _PATH_PARTS[path] = tuple(path.split("."))
    current: Any = data
    for part in parts:
        # dict first: documents are decoded JSON, and the ABC check is slow on a hot path.
        if isinstance(current, _MAPPINGS) and part in current:
            current = current[part]
        else:
            return None
    return current


def _empty(value: Any) -> bool:
    if type(value) is str:  # the common case first: exact type checks are cheap, ABC checks are not
        return not value
    return value is None or value == "" or (isinstance(value, list | tuple | dict) and not value)


def _as_text(value: Any, join: str) -> str | None:
    if type(value) is str:
        return value or None
    if _empty(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        parts = [_as_text(item, join) for item in value]
        text = join.join(p for p in parts if p is not None)
        return text or None
    if isinstance(value, Mapping):
        # An address object ({"emailAddress": ..., "displayableName": ...}) reads as its address.
        for key in ("emailAddress", "address", "email", "name"):
            if not _empty(value.get(key)):
                return _as_text(value[key], join)
        return None
    return str(value)


def _as_int(value: Any) -> int | None:
    """An integer from a number, a numeric string, or the last sample of a ``[{date, count}]`` list."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except (ValueError, OverflowError):  # "Infinity" parses as a float that no int can hold
            return None
    if isinstance(value, list | tuple) and value:
        last = value[-1]
        if isinstance(last, Mapping):
            return _as_int(last.get("count"))
        return _as_int(last)
    if isinstance(value, Mapping):
        return _as_int(value.get("count"))
    return None


def normalise_verdict(value: str | None) -> str | None:
    """clean / suspicious / malicious / unknown from Mimecast's words (None when absent)."""
    if value is None:
        return None
    return _VERDICT_ALIASES.get(value.strip().lower(), "unknown")


def is_blocking(action: str | None) -> bool:
    """True when an action word means the message was stopped, held or removed."""
    if not action:
        return False
    lowered = action.lower()
    return any(word in lowered for word in _BLOCKING_WORDS)


def severity_of(verdict: str | None, blocked: bool, baseline: int) -> int:
    """CEF severity 0-10 from the verdict (or the stream baseline), +1 when blocked."""
    if verdict is not None:
        base = VERDICT_SEVERITY.get(verdict, VERDICT_SEVERITY["unknown"])
        return min(10, base + (1 if blocked else 0))
    return max(baseline, 5) if blocked else baseline


def _doc_severity(look: _Lookup, default: int) -> int:
    """The normaliser's ``event.severity`` (0-10) when it set one, so every format agrees; else ``default``."""
    found = look.value(doc=("event.severity",))
    if isinstance(found, int) and not isinstance(found, bool):
        return max(0, min(10, found))
    return default


def _direction(value: str | None) -> str | None:
    if value is None:
        return None
    return _DIRECTIONS.get(value.strip().lower())


def _class_token(value: str | None, default: str) -> str:
    """A bounded, header-safe token for the event class (letters, digits, ``_`` and ``-``)."""
    if not value:
        return default
    token = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_" else "_" for ch in value.strip().lower())
    return token[:40] or default


def _extras(*pairs: tuple[str, str | None]) -> tuple[tuple[str, str], ...]:
    return tuple((label, value) for label, value in pairs if value is not None)


def _counts(*pairs: tuple[str, int | None]) -> tuple[tuple[str, int], ...]:
    return tuple((label, value) for label, value in pairs if value is not None)


# Document paths shared by the email streams (ECS, sinks.md section 5.2).
_SENDER = ("email.from.address", "email.sender.address")
_RECIPIENT = ("email.to.address",)
_SUBJECT = ("email.subject",)
_MESSAGE_ID = ("email.message_id",)
_SOURCE_IP = ("source.ip",)
_DIRECTION = ("email.direction", "network.direction")
_ACTION = ("event.action",)
_POLICY = ("rule.name",)


def _base(look: _Lookup, title: str) -> dict[str, Any]:
    ev = look.event
    return {"stream": ev.stream, "event_id": ev.event_id, "tenant": ev.tenant, "time": ev.timestamp, "title": title}


# --- one reader per stream --------------------------------------------------------------------------


def _ttp_url(look: _Lookup) -> EventFacts:
    verdict = normalise_verdict(look.text(raw=("scanResult",), doc=("mimecast.scanResult",)))
    action = look.text(raw=("action",), doc=("mimecast.action",))
    blocked = is_blocking(action)
    return EventFacts(
        **_base(look, "URL Protect click"),
        event_class=f"ttp-url:{_class_token(verdict, 'unscanned')}",
        verdict=verdict,
        action=action,
        blocked=blocked,
        severity=_doc_severity(look, severity_of(verdict, blocked, baseline=3)),
        direction=_direction(look.text(raw=("route",), doc=_DIRECTION)),
        sender=look.first_text(doc=_SENDER, raw=("fromUserEmailAddress",)),
        recipient=look.text(doc=_RECIPIENT, raw=("userEmailAddress",)),
        subject=look.text(doc=_SUBJECT, raw=("subject",)),
        message_id=look.text(doc=_MESSAGE_ID, raw=("messageId",)),
        source_ip=look.ip(doc=_SOURCE_IP, raw=("sendingIp",)),
        url=look.text(raw=("url",), doc=("url.original", "url.full")),
        category=look.text(raw=("category",), doc=("mimecast.category",)),
        policy=look.text(doc=_POLICY, raw=("ttpDefinition",)),
        extras=_extras(
            ("userAwarenessAction", look.text(raw=("userAwarenessAction",))),
            ("creationMethod", look.text(raw=("creationMethod",))),
            ("userOverride", look.text(raw=("userOverride",))),
            ("adminOverride", look.text(raw=("adminOverride",))),
        ),
    )


def _ttp_attachment(look: _Lookup) -> EventFacts:
    verdict = normalise_verdict(look.text(raw=("result",), doc=("mimecast.result",)))
    action = look.text(raw=("actionTriggered",), doc=("mimecast.actionTriggered",))
    blocked = is_blocking(action)
    return EventFacts(
        **_base(look, "Attachment Protect scan"),
        event_class=f"ttp-attachment:{_class_token(verdict, 'unscanned')}",
        verdict=verdict,
        action=action,
        blocked=blocked,
        severity=_doc_severity(look, severity_of(verdict, blocked, baseline=3)),
        direction=_direction(look.text(raw=("route",), doc=_DIRECTION)),
        sender=look.first_text(doc=_SENDER, raw=("senderAddress",)),
        recipient=look.text(doc=_RECIPIENT, raw=("recipientAddress",)),
        subject=look.text(doc=_SUBJECT, raw=("subject",)),
        message_id=look.text(doc=_MESSAGE_ID, raw=("messageId",)),
        source_ip=look.ip(doc=_SOURCE_IP),
        file_name=look.text(raw=("fileName",), doc=("file.name", "email.attachments.file.name")),
        file_type=look.text(raw=("fileType",), doc=("file.mime_type", "email.attachments.file.mime_type")),
        file_hash=look.text(raw=("fileHash",), doc=("file.hash.sha256",)),
        policy=look.text(doc=_POLICY, raw=("definition",)),
        reason=look.text(raw=("details",)),
    )


def _ttp_impersonation(look: _Lookup) -> EventFacts:
    tagged = look.value(raw=("taggedMalicious",), doc=("mimecast.taggedMalicious",))
    verdict = None if tagged is None else ("malicious" if tagged is True or str(tagged).lower() == "true" else "clean")
    action = look.text(raw=("action",), doc=("mimecast.action",))
    blocked = is_blocking(action)
    return EventFacts(
        **_base(look, "Impersonation Protect detection"),
        event_class=f"ttp-impersonation:{_class_token(verdict, 'unscanned')}",
        verdict=verdict,
        action=action,
        blocked=blocked,
        severity=_doc_severity(look, severity_of(verdict, blocked, baseline=3)),
        sender=look.first_text(doc=_SENDER, raw=("senderAddress",)),
        recipient=look.text(doc=_RECIPIENT, raw=("recipientAddress",)),
        subject=look.text(doc=_SUBJECT, raw=("subject",)),
        message_id=look.text(doc=_MESSAGE_ID, raw=("messageId",)),
        source_ip=look.ip(doc=_SOURCE_IP, raw=("senderIpAddress",)),
        policy=look.text(doc=_POLICY, raw=("definition",)),
        record_id=look.text(raw=("id",)),
        extras=_extras(
            ("identifiers", look.text(raw=("identifiers",))),
            ("taggedExternal", look.text(raw=("taggedExternal",))),
        ),
        counts=_counts(("hits", _as_int(look.value(raw=("hits",))))),
    )


def _held_messages(look: _Lookup) -> EventFacts:
    # A held-message event says a message entered or left the hold queue (the collector diffs
    # snapshots): ``mimecast.transition`` is entered|left; older documents only name it in
    # event.action. Without either, the record itself means "held".
    transition = look.text(doc=("mimecast.transition",))
    action = look.text(doc=_ACTION, raw=("action",))
    if transition is None:
        left = action is not None and any(word in action.lower() for word in _LEAVE_HOLD_WORDS)
        transition = "left" if left else "entered"
    entered = transition.lower() != "left"
    return EventFacts(
        **_base(look, "Message held" if entered else "Message left hold"),
        event_class=f"held-messages:{_class_token(transition, 'entered')}",
        action=action or ("held" if entered else "left-hold"),
        blocked=entered,
        severity=_doc_severity(look, default=5 if entered else 3),
        direction=_direction(look.text(raw=("route",), doc=_DIRECTION)),
        sender=look.first_text(doc=_SENDER, raw=("fromHeader", "from")),
        recipient=look.text(doc=_RECIPIENT, raw=("to",)),
        subject=look.text(doc=_SUBJECT, raw=("subject",)),
        message_id=look.text(doc=_MESSAGE_ID, raw=("messageId",)),
        policy=look.text(raw=("policyInfo",), doc=_POLICY),
        reason=look.text(raw=("reason",), doc=("event.reason",)),
        record_id=look.text(raw=("id",), doc=("email.local_id",)),
        extras=_extras(
            ("reasonCode", look.text(raw=("reasonCode",), doc=("rule.id",))),
            ("hasAttachments", look.text(raw=("hasAttachments",))),
            ("heldForSeconds", look.text(doc=("mimecast.held_for_seconds",))),
        ),
        counts=_counts(("size", _as_int(look.value(raw=("size",))))),
    )


def _policy_counts(items: Any) -> list[tuple[str, int]]:
    """``[(policy, count)]`` from hold-summary items (``{policyInfo, numberOfItems}``)."""
    pairs: list[tuple[str, int]] = []
    if isinstance(items, list):
        for item in items:
            if isinstance(item, Mapping):
                count = _as_int(item.get("numberOfItems"))
                if count is not None:
                    pairs.append((_as_text(item.get("policyInfo"), ",") or "unknown", count))
    return pairs


def _hold_summary(look: _Lookup) -> EventFacts:
    # The collector's sample document carries mimecast.hold_summary / held_total; a bare record
    # (one policy, or the {"data": [...]} response) is read as a fallback.
    pairs = _policy_counts(look.value(doc=("mimecast.hold_summary",)) or look.value(raw=("data",)))
    if not pairs and look.value(raw=("numberOfItems",)) is not None:
        pairs = _policy_counts([dict(look.raw)])
    total = _as_int(look.value(doc=("mimecast.held_total",)))
    if total is None and pairs:
        total = sum(count for _, count in pairs)
    summary = "; ".join(f"{policy}: {count}" for policy, count in pairs) or None
    return EventFacts(
        **_base(look, "Hold queue summary"),
        event_class="hold-summary:sample",
        severity=_doc_severity(look, default=1),
        policy=pairs[0][0] if len(pairs) == 1 else None,
        extras=_extras(("holdSummary", summary)),
        counts=_counts(("heldTotal", total), ("policies", len(pairs) if pairs else None)),
    )


def _queue_level(look: _Lookup, direction: str, raw_key: str) -> int | None:
    level = _as_int(look.value(doc=(f"mimecast.email_queues.{direction}",)))
    if level is not None:
        return level
    level = _as_int(look.value(raw=(raw_key,)))
    if level is not None:
        return level
    data = look.value(raw=("data",))
    if isinstance(data, list):
        levels = [_as_int(item.get(raw_key)) for item in data if isinstance(item, Mapping)]
        known = [lvl for lvl in levels if lvl is not None]
        return sum(known) if known else None
    return None


def _email_queues(look: _Lookup) -> EventFacts:
    return EventFacts(
        **_base(look, "Email queue sample"),
        event_class="email-queues:sample",
        severity=_doc_severity(look, default=1),
        counts=_counts(
            ("inboundEmailQueue", _queue_level(look, "inbound", "inboundEmailQueue")),
            ("outboundEmailQueue", _queue_level(look, "outbound", "outboundEmailQueue")),
        ),
    )


def _audit(look: _Lookup) -> EventFacts:
    category = look.text(raw=("category",), doc=("mimecast.category",))
    return EventFacts(
        **_base(look, "Audit event"),
        event_class=f"audit:{_class_token(category, 'event')}",
        action=look.text(raw=("auditType",), doc=_ACTION),
        severity=_doc_severity(look, default=3),
        user=look.text(raw=("user",), doc=("user.email", "user.name")),
        category=category,
        reason=look.text(raw=("eventInfo",), doc=("event.reason", "message")),
        record_id=look.text(raw=("id",)),
    )


def _generic(look: _Lookup) -> EventFacts:
    verdict = normalise_verdict(look.text(raw=("scanResult", "result"), doc=("event.outcome",)))
    action = look.text(doc=_ACTION, raw=("action",))
    blocked = is_blocking(action)
    stream = _class_token(look.event.stream, "event")
    return EventFacts(
        **_base(look, f"Mimecast {look.event.stream} event"),
        event_class=f"{stream}:{_class_token(verdict, 'event')}",
        verdict=verdict,
        action=action,
        blocked=blocked,
        severity=_doc_severity(look, severity_of(verdict, blocked, baseline=3)),
        sender=look.first_text(doc=_SENDER),
        recipient=look.text(doc=_RECIPIENT),
        subject=look.text(doc=_SUBJECT),
        message_id=look.text(doc=_MESSAGE_ID),
        source_ip=look.ip(doc=_SOURCE_IP),
        url=look.text(doc=("url.original", "url.full")),
    )


_STREAM_READERS = {
    "ttp-url": _ttp_url,
    "ttp-attachment": _ttp_attachment,
    "ttp-impersonation": _ttp_impersonation,
    "held-messages": _held_messages,
    "hold-summary": _hold_summary,
    "email-queues": _email_queues,
    "audit": _audit,
}
