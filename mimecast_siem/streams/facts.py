"""What every text format (CEF, LEEF) states about an event, read once from the event.

The CEF and LEEF encoders do not read Mimecast records themselves: they both call
``sinks.formats.event_facts.event_facts``, which runs the stream's facts reader (``StreamSpec.facts``,
written in the stream's module with the tools of this one) to turn an
:class:`~mimecast_siem.events.Event` into an :class:`EventFacts` of vendor-neutral values (sender,
recipient, URL, verdict, severity ...); the formats then spell those facts in their own key names.
Keeping the per-stream knowledge in the stream's module means a SIEM receiving CEF and another
receiving LEEF see the same severity for the same event.

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
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
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
#: Any of the words anywhere in a lowered action (one scan instead of a generator over ten words).
_BLOCKING_WORD = re.compile("|".join(_BLOCKING_WORDS))

# Words of a held-message event that say the message left the queue (released, rejected, expired).
LEAVE_HOLD_WORDS = ("releas", "reject", "expir", "left", "leave", "exit", "remov", "delet")

_DIRECTIONS = {"inbound": "inbound", "outbound": "outbound", "internal": "internal", "external": "inbound"}


@dataclass(frozen=True, slots=True, init=False)
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

    def __init__(  # noqa: PLR0917 - the dataclass's own fields, in their order
        self,
        stream: str,
        event_id: str,
        tenant: str,
        time: datetime,
        title: str,
        event_class: str,
        verdict: str | None = None,
        action: str | None = None,
        blocked: bool = False,
        severity: int = 1,
        direction: str | None = None,
        sender: str | None = None,
        recipient: str | None = None,
        user: str | None = None,
        subject: str | None = None,
        message_id: str | None = None,
        source_ip: str | None = None,
        url: str | None = None,
        file_name: str | None = None,
        file_type: str | None = None,
        file_hash: str | None = None,
        category: str | None = None,
        policy: str | None = None,
        reason: str | None = None,
        record_id: str | None = None,
        extras: tuple[tuple[str, str], ...] = (),
        counts: tuple[tuple[str, int], ...] = (),
    ) -> None:
        # Built once per event for every text format: the generated __init__ of a frozen dataclass
        # sets each of the 27 fields through object.__setattr__; the slots' own setters (still a
        # frozen class) cost about 0.6x of that (as Event does, events.py).
        _SET_STREAM(self, stream)
        _SET_EVENT_ID(self, event_id)
        _SET_TENANT(self, tenant)
        _SET_TIME(self, time)
        _SET_TITLE(self, title)
        _SET_EVENT_CLASS(self, event_class)
        _SET_VERDICT(self, verdict)
        _SET_ACTION(self, action)
        _SET_BLOCKED(self, blocked)
        _SET_SEVERITY(self, severity)
        _SET_DIRECTION(self, direction)
        _SET_SENDER(self, sender)
        _SET_RECIPIENT(self, recipient)
        _SET_USER(self, user)
        _SET_SUBJECT(self, subject)
        _SET_MESSAGE_ID(self, message_id)
        _SET_SOURCE_IP(self, source_ip)
        _SET_URL(self, url)
        _SET_FILE_NAME(self, file_name)
        _SET_FILE_TYPE(self, file_type)
        _SET_FILE_HASH(self, file_hash)
        _SET_CATEGORY(self, category)
        _SET_POLICY(self, policy)
        _SET_REASON(self, reason)
        _SET_RECORD_ID(self, record_id)
        _SET_EXTRAS(self, extras)
        _SET_COUNTS(self, counts)


(
    _SET_STREAM,
    _SET_EVENT_ID,
    _SET_TENANT,
    _SET_TIME,
    _SET_TITLE,
    _SET_EVENT_CLASS,
    _SET_VERDICT,
    _SET_ACTION,
    _SET_BLOCKED,
    _SET_SEVERITY,
    _SET_DIRECTION,
    _SET_SENDER,
    _SET_RECIPIENT,
    _SET_USER,
    _SET_SUBJECT,
    _SET_MESSAGE_ID,
    _SET_SOURCE_IP,
    _SET_URL,
    _SET_FILE_NAME,
    _SET_FILE_TYPE,
    _SET_FILE_HASH,
    _SET_CATEGORY,
    _SET_POLICY,
    _SET_REASON,
    _SET_RECORD_ID,
    _SET_EXTRAS,
    _SET_COUNTS,
) = (EventFacts.__dict__[name].__set__ for name in EventFacts.__slots__)


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


# --- reading values -------------------------------------------------------------------------------


class Lookup:
    """First-hit lookups over the ECS document (dotted paths) and the raw record (keys)."""

    def __init__(self, event: Event) -> None:
        self.event = event
        doc, raw = event.document, event.raw
        # Exact dicts first (decoded JSON): the Mapping ABC check is the slow one.
        self.doc: Mapping[str, Any] = doc if type(doc) is dict or isinstance(doc, Mapping) else {}
        self.raw: Mapping[str, Any] = raw if type(raw) is dict or isinstance(raw, Mapping) else {}

    def value(self, *, doc: Iterable[str] = (), raw: Iterable[str] = ()) -> Any:
        """The first present, non-empty value: document paths first, then raw keys/paths."""
        found = _first_present(self.doc, doc) if doc else None
        if found is None and raw:
            found = _first_present(self.raw, raw)
        return found

    def text(self, *, doc: Iterable[str] = (), raw: Iterable[str] = (), join: str = ",") -> str | None:
        """Like :meth:`value`, rendered as text (lists joined with ``join``)."""
        # value() written out (one call fewer for the most common lookup).
        found = _first_present(self.doc, doc) if doc else None
        if found is None and raw:
            found = _first_present(self.raw, raw)
        return found if type(found) is str else as_text(found, join)  # a found string is never ""

    def ip(self, *, doc: Iterable[str] = (), raw: Iterable[str] = ()) -> str | None:
        """The first value that is a valid IPv4/IPv6 address (formats put it in typed IP fields)."""
        found = self.first_text(doc=doc, raw=raw)
        return None if found is None else canonical_ip(found)

    def first_text(self, *, doc: Iterable[str] = (), raw: Iterable[str] = ()) -> str | None:
        """Like :meth:`text` but a list gives its first element (a single sender)."""
        found = self.value(doc=doc, raw=raw)
        if type(found) is str:
            return found
        if isinstance(found, list | tuple):
            found = next((item for item in found if not is_empty(item)), None)
        return as_text(found, ",")


def _first_present(data: Mapping[str, Any], paths: Iterable[str]) -> Any:
    """The first present, non-empty value at one of ``paths`` in ``data`` (None when there is none).

    :func:`dig` and :func:`is_empty` written out for the common shapes (exact dicts, strings): a
    facts reader makes ~15 lookups per event, and a Python call costs more than the work it does.
    """
    for path in paths:
        if path in data:
            found = data[path]
        elif "." in path:
            found = data
            for part in _PATH_PARTS.get(path) or _split_path(path):
                if type(found) is dict:
                    found = found.get(part)
                elif isinstance(found, Mapping) and part in found:
                    found = found[part]
                else:
                    found = None
                if found is None:
                    break
        else:
            continue
        if found is None:
            continue
        if type(found) is str:
            if found:
                return found
        elif not is_empty(found):
            return found
    return None


#: Split dotted paths (the paths are constants of this module, so this stays small).
_PATH_PARTS: dict[str, tuple[str, ...]] = {}

_MAPPINGS = (dict, Mapping)


def dig(data: Mapping[str, Any], path: str) -> Any:
    """Value at a dotted path, through nested dicts or a flat dotted key (ECS allows both)."""
    if path in data:
        return data[path]
    current: Any = data
    for part in _PATH_PARTS.get(path) or _split_path(path):
        # dict first: documents are decoded JSON, and the ABC check is slow on a hot path.
        if isinstance(current, _MAPPINGS) and part in current:
            current = current[part]
        else:
            return None
    return current


def _split_path(path: str) -> tuple[str, ...]:
    parts = _PATH_PARTS[path] = tuple(path.split("."))
    return parts


def is_empty(value: Any) -> bool:
    """True for None, empty strings and empty containers (a fact left empty)."""
    if type(value) is str:  # the common case first: exact type checks are cheap, ABC checks are not
        return not value
    return value is None or value == "" or (isinstance(value, list | tuple | dict) and not value)


def as_text(value: Any, join: str) -> str | None:
    """A value rendered as text (lists joined with ``join``; an address object reads as its address)."""
    if type(value) is str:
        return value or None
    if is_empty(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        parts = [as_text(item, join) for item in value]
        text = join.join(p for p in parts if p is not None)
        return text or None
    if isinstance(value, Mapping):
        # An address object ({"emailAddress": ..., "displayableName": ...}) reads as its address.
        for key in ("emailAddress", "address", "email", "name"):
            if not is_empty(value.get(key)):
                return as_text(value[key], join)
        return None
    return str(value)


def as_int(value: Any) -> int | None:
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
            return as_int(last.get("count"))
        return as_int(last)
    if isinstance(value, Mapping):
        return as_int(value.get("count"))
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
    return _BLOCKING_WORD.search(action.lower()) is not None


def severity_of(verdict: str | None, blocked: bool, baseline: int) -> int:
    """CEF severity 0-10 from the verdict (or the stream baseline), +1 when blocked."""
    if verdict is not None:
        base = VERDICT_SEVERITY.get(verdict, VERDICT_SEVERITY["unknown"])
        return min(10, base + (1 if blocked else 0))
    return max(baseline, 5) if blocked else baseline


def doc_severity(look: Lookup, default: int) -> int:
    """The normaliser's ``event.severity`` (0-10) when it set one, so every format agrees; else ``default``."""
    found = look.value(doc=("event.severity",))
    if isinstance(found, int) and not isinstance(found, bool):
        return max(0, min(10, found))
    return default


def direction_of(value: str | None) -> str | None:
    """inbound / outbound / internal from a Mimecast route word, or None."""
    if value is None:
        return None
    return _DIRECTIONS.get(value.strip().lower())


def class_token(value: str | None, default: str) -> str:
    """A bounded, header-safe token for the event class (letters, digits, ``_`` and ``-``)."""
    if not value:
        return default
    if len(value) <= _TOKEN_MEMO_LENGTH:
        return _short_class_token(value, default)
    return _class_token(value, default)


#: Event classes come from a few words per stream (a verdict, a category): short values are memoised.
_TOKEN_MEMO_LENGTH = 64


@lru_cache(maxsize=1024)
def _short_class_token(value: str, default: str) -> str:
    return _class_token(value, default)


def _class_token(value: str, default: str) -> str:
    token = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_" else "_" for ch in value.strip().lower())
    return token[:40] or default


def extras(*pairs: tuple[str, str | None]) -> tuple[tuple[str, str], ...]:
    """The labelled text values that are present, in order."""
    return tuple((label, value) for label, value in pairs if value is not None)


def counts(*pairs: tuple[str, int | None]) -> tuple[tuple[str, int], ...]:
    """The labelled numbers that are present, in order."""
    return tuple((label, value) for label, value in pairs if value is not None)


# Document paths shared by the email streams (ECS, sinks.md section 5.2).
SENDER = ("email.from.address", "email.sender.address")
RECIPIENT = ("email.to.address",)
SUBJECT = ("email.subject",)
MESSAGE_ID = ("email.message_id",)
SOURCE_IP = ("source.ip",)
DIRECTION = ("email.direction", "network.direction")
ACTION = ("event.action",)
POLICY = ("rule.name",)


# --- the reading of a stream without its own reader -------------------------------------------------


def generic_facts(look: Lookup) -> EventFacts:
    """The reading of a stream without its own facts reader (and of unknown streams)."""
    verdict = normalise_verdict(look.text(raw=("scanResult", "result"), doc=("event.outcome",)))
    action = look.text(doc=ACTION, raw=("action",))
    blocked = is_blocking(action)
    stream = class_token(look.event.stream, "event")
    return EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        f"Mimecast {look.event.stream} event",
        event_class=f"{stream}:{class_token(verdict, 'event')}",
        verdict=verdict,
        action=action,
        blocked=blocked,
        severity=doc_severity(look, severity_of(verdict, blocked, baseline=3)),
        sender=look.first_text(doc=SENDER),
        recipient=look.text(doc=RECIPIENT),
        subject=look.text(doc=SUBJECT),
        message_id=look.text(doc=MESSAGE_ID),
        source_ip=look.ip(doc=SOURCE_IP),
        url=look.text(doc=("url.original", "url.full")),
    )


FactsReader = Callable[[Lookup], EventFacts]
"""A stream's facts reader: the event (behind a :class:`Lookup`) → :class:`EventFacts`."""
