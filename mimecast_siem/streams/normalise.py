"""Shared pieces of every normaliser: the context, time parsing, the ECS skeleton, small field helpers.

Normalisers are pure: a Mimecast record (and a :class:`NormaliseContext`) in, an
:class:`~mimecast_siem.events.Event` out. They never raise on odd shapes: a missing or malformed field
is left out of the ECS document (the original record is always kept under ``mimecast.*``), and a
record whose time cannot be read is stamped with the poll time and tagged
``mimecast_siem_time_unparsed`` so a SIEM can find it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from mimecast_siem.events import Event, canonical_ip
from mimecast_siem.times import parse_mimecast_time

#: ECS version the documents follow.
ECS_VERSION = "8.11.0"
OBSERVER = {"vendor": "Mimecast", "product": "Email Security", "type": "email-gateway"}
TAG_TIME_UNPARSED = "mimecast_siem_time_unparsed"

#: Entries of each small memo of pure text helpers (times, addresses, IPs, URLs). Values repeat a lot
#: within and across pages (many records share a second, a sender, an IP); the caches keep the
#: per-record cost of parsing them low and are bounded so memory stays flat.
_MEMO_SIZE = 8192
#: URLs can be kilobytes long and repeat less; a smaller memo bounds what it can hold.
_URL_MEMO_SIZE = 1024

#: MITRE ATT&CK techniques put on threat events.
TECHNIQUE_PHISHING = {"id": "T1566", "name": "Phishing"}
SUBTECHNIQUE_PHISHING_LINK = {"id": "T1566.002", "name": "Spearphishing Link"}
SUBTECHNIQUE_PHISHING_ATTACHMENT = {"id": "T1566.001", "name": "Spearphishing Attachment"}
TECHNIQUE_IMPERSONATION = {"id": "T1656", "name": "Impersonation"}
TACTIC_INITIAL_ACCESS = {"id": "TA0001", "name": "Initial Access"}
TACTIC_DEFENSE_EVASION = {"id": "TA0005", "name": "Defense Evasion"}


def mitre_threat(
    technique: Mapping[str, str],
    tactic: Mapping[str, str],
    indicator: Mapping[str, Any],
    subtechnique: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """ECS ``threat.*``: the MITRE ATT&CK technique and tactic, and Mimecast's indicator as enrichment."""
    threat: dict[str, Any] = {
        "framework": "MITRE ATT&CK",
        "tactic": {"id": [tactic["id"]], "name": [tactic["name"]]},
        "technique": {"id": [technique["id"]], "name": [technique["name"]]},
        "enrichments": [{"indicator": {**indicator, "provider": "Mimecast"}}],
    }
    if subtechnique is not None:
        threat["technique"]["subtechnique"] = {"id": [subtechnique["id"]], "name": [subtechnique["name"]]}
    return threat


@dataclass(frozen=True, slots=True)
class NormaliseContext:
    """What a normaliser knows besides the record.

    Attributes:
        tenant: configured tenant name.
        observed_at: when the collector read the record (``event.created``; the time of
            snapshot transitions and gauge samples).
        transition: for snapshot streams, ``entered`` or ``left``.
        held_for: for a message that left the hold queue, how long it was held.
    """

    tenant: str
    observed_at: datetime
    transition: str | None = None
    held_for: timedelta | None = None


Normaliser = Callable[[Mapping[str, Any], NormaliseContext], Event]


# --- time -----------------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """Read a Mimecast time with the client's parser; ``None`` when it cannot be read.

    Accepts everything :func:`~mimecast_siem.mimecast.parse_mimecast_time` does (``+0000``,
    ``+00:00``, ``Z``, fractional seconds, epoch milliseconds). A time without an offset is read as
    UTC: everything on the wire is UTC (mimecast-api.md section 2.4), and dropping the record's time
    would be worse than that assumption.
    """
    if isinstance(value, str):
        return _parse_text_time(value)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return parse_mimecast_time(value)
    except (ValueError, OverflowError):
        return None


@lru_cache(maxsize=_MEMO_SIZE)
def _parse_text_time(value: str) -> datetime | None:
    try:
        return parse_mimecast_time(value)
    except (ValueError, OverflowError):
        pass
    if value.strip():
        try:
            return parse_mimecast_time(value.strip() + "+0000")
        except (ValueError, OverflowError):
            return None
    return None


@lru_cache(maxsize=_MEMO_SIZE)
def iso(when: datetime) -> str:
    """ECS timestamp text: UTC, millisecond precision, ``Z`` suffix."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_time(record: Mapping[str, Any], field: str | None, ctx: NormaliseContext) -> tuple[datetime, bool]:
    """The record's event time from ``field``, or the poll time; the flag says whether it was read."""
    parsed = parse_time(record.get(field)) if field else None
    if parsed is None:
        return ctx.observed_at, False
    return parsed, True


# --- field helpers ----------------------------------------------------------------------------------


def text(value: Any) -> str | None:
    """A non-empty string, or ``None`` (numbers are turned into text; containers are not)."""
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return str(value)
    return None


def number(value: Any) -> int | None:
    """An integer from a number or a numeric string (Mimecast sometimes sends ``"21"``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and abs(value) < 2**63 else None
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except (ValueError, OverflowError):
            return None
    return None


def email_address(value: Any) -> str | None:
    """An address from ``"a@b"``, ``"<a@b>"``, ``"Name <a@b>"`` or ``{"emailAddress": ...}``."""
    if isinstance(value, str):  # the usual case first: an ABC check (Mapping) is slow
        return _address_in(value)
    if value is None:
        return None
    # A decoded object is a dict: checked first, it spares the Mapping ABC check (~1 us; held, release).
    if isinstance(value, (dict, Mapping)):
        value = value.get("emailAddress") or value.get("address")
        if isinstance(value, str):
            return _address_in(value)
    raw = text(value)
    return None if raw is None else _address_in(raw)


_ANGLE_ADDRESS = re.compile(r"<([^<>]*)>")


@lru_cache(maxsize=_MEMO_SIZE)
def _address_in(value: str) -> str | None:
    raw = value.strip()
    if not raw:
        return None
    match = _ANGLE_ADDRESS.search(raw)
    address = (match.group(1) if match else raw).strip().strip("<>").strip()
    return address or None


def email_addresses(value: Any) -> list[str]:
    """Addresses from one value or a list of values (order kept, duplicates dropped)."""
    items: Iterable[Any] = value if isinstance(value, list | tuple) else [value]
    seen: dict[str, None] = {}
    for item in items:
        address = email_address(item)
        if address is not None:
            seen.setdefault(address, None)
    return list(seen)


def domain_of(address: str) -> str | None:
    """The domain part of an e-mail address."""
    _, sep, domain = address.rpartition("@")
    return domain.lower() if sep and domain else None


def direction(route: Any) -> str | None:
    """ECS ``email.direction`` from a Mimecast route (``inbound``, ``outbound``, ``internal``, ``external``)."""
    value = text(route)
    return value.lower() if value else None


def add_message_fields(email: dict[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """Append a record's ``subject``, ``messageId`` and ``route`` to ECS ``email`` (``subject``,
    ``message_id``, ``direction``), without empty values, in that order; return ``email``."""
    subject = text(record.get("subject"))
    if subject is not None:
        email["subject"] = subject
    message_id = text(record.get("messageId"))
    if message_id is not None:
        email["message_id"] = message_id
    route = direction(record.get("route"))
    if route is not None:
        email["direction"] = route
    return email


def url_fields(original: Any) -> dict[str, Any]:
    """ECS ``url.*`` from a URL string; only ``original`` when it does not parse."""
    value = text(original)
    if value is None:
        return {}
    # A copy: the caller puts it in a document it owns.
    return dict(_url_parts(value))


#: The common shape of a logged URL - ``scheme://host[:port][/path][?query][#fragment]`` with no user
#: info, no IPv6 brackets, no ``%`` in the host - which :func:`_url_parts` splits with one regex
#: match. It is only tried on ASCII text without spaces or control characters, where ``urlsplit``
#: strips and removes nothing; everything else goes to ``urlsplit``. Both give the same fields
#: (tests/streams/test_url_fields.py checks them against each other).
_SIMPLE_URL = re.compile(
    r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#@\[\]%:]*)(?::([0-9]{1,5}))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?",
    re.DOTALL,
)


@lru_cache(maxsize=_URL_MEMO_SIZE)
def _url_parts(value: str) -> dict[str, Any]:
    match = _SIMPLE_URL.fullmatch(value) if value.isascii() and value.isprintable() and " " not in value else None
    if match is None:
        return _split_url_parts(value)
    scheme, host, port, path, query, fragment = match.groups()
    if (port is not None and int(port) > 65535) or (path and path[0] != "/"):
        return _split_url_parts(value)  # out of range, or not a port at all (urlsplit decides)
    fields: dict[str, Any] = {"original": value, "scheme": scheme.lower()}
    if host:
        fields["domain"] = host.lower()
    if port is not None:
        fields["port"] = int(port)
    if path:
        fields["path"] = path
    if query:
        fields["query"] = query
    if fragment:
        fields["fragment"] = fragment
    return fields


#: The memoised ``url.*`` fields of a URL string (the normaliser's parse), shared with every caller:
#: read them, never change them (:func:`url_fields` hands out a copy). The OCSF ``url`` object is
#: built from them rather than by parsing the URL a second time.
url_parts = _url_parts


def _split_url_parts(value: str) -> dict[str, Any]:
    """``url.*`` by ``urllib.parse.urlsplit`` (any shape of URL); only ``original`` when it does not parse."""
    fields: dict[str, Any] = {"original": value}
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return fields
    if parts.scheme:
        fields["scheme"] = parts.scheme.lower()
    if parts.hostname:
        fields["domain"] = parts.hostname
    if port is not None:
        fields["port"] = port
    if parts.path:
        fields["path"] = parts.path
    if parts.query:
        fields["query"] = parts.query
    if parts.fragment:
        fields["fragment"] = parts.fragment
    return fields


def ip_text(value: Any) -> str | None:
    """An IP address string, validated (anything else is left out of ``source.ip``)."""
    raw = text(value)
    return None if raw is None else canonical_ip(raw)


def prune(document: dict[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values, empty dicts and empty lists, recursively (keeps the documents tidy)."""
    out: dict[str, Any] = {}
    for key, value in document.items():
        # Exact-class checks first: this runs for every field of every event (hot path).
        cls = value.__class__
        if cls is str or cls is int:
            out[key] = value
        elif value is None:
            continue
        elif cls is dict or isinstance(value, dict):
            if value:
                value = prune(value)  # noqa: PLW2901 - the pruned copy replaces the value
                if value:
                    out[key] = value
        elif (cls is list or isinstance(value, list)) and not value:
            continue
        else:
            out[key] = value
    return out


def related(
    *, users: Iterable[str] = (), ips: Iterable[str | None] = (), hosts: Iterable[str | None] = ()
) -> dict[str, Any]:
    """ECS ``related.*`` with duplicates dropped."""
    return {"user": _unique(users), "ip": _unique(ips), "hosts": _unique(hosts)}


def without_none(**values: Any) -> dict[str, Any]:
    """The keyword values that are not ``None``, in order (for fields built without empty values)."""
    return {key: value for key, value in values.items() if value is not None}


def related_pruned(
    *, users: Iterable[str] = (), ips: Iterable[str | None] = (), hosts: Iterable[str | None] = ()
) -> dict[str, Any]:
    """:func:`related` without its empty lists (what :func:`prune` would leave of it)."""
    out: dict[str, Any] = {}
    for key, values in (("user", users), ("ip", ips), ("hosts", hosts)):
        unique = _unique(values)
        if unique:
            out[key] = unique
    return out


def related_users(sender: str | None, recipients: list[str]) -> list[str]:
    """``related.user``: the recipients, then the sender if it is not one of them (in a new list).

    ``recipients`` come from :func:`email_addresses` (distinct and non-empty), so this is what
    :func:`related_pruned` makes of ``users=[*recipients, sender]`` without its generic passes.
    """
    users = list(recipients)
    if sender and sender not in users:
        users.append(sender)
    return users


def _unique(values: Iterable[str | None]) -> list[str]:
    # A list scan beats a dict for the one to three values a record has.
    out: list[str] = []
    for value in values:
        if value and value not in out:
            out.append(value)
    return out


def finish_event(  # noqa: PLR0917 - positional: it runs once per record
    document: dict[str, Any],
    record: Mapping[str, Any],
    ctx: NormaliseContext,
    stream: str,
    event_id: str,
    when: datetime,
    time_parsed: bool,
    mimecast: dict[str, Any] | None = None,
    kind: str = "log",
    tags: list[str] | None = None,
) -> Event:
    """Close a document a normaliser wrote out itself and wrap it in an Event (what :func:`build_event` adds).

    The normaliser writes ``@timestamp``, ``ecs``, ``event`` (``id``, ``module``, ``dataset``,
    ``provider``, ``created`` first) and its own fields, without empty values, in
    :func:`build_event`'s order; this appends ``observer``, ``organization``, ``labels``, the tags
    and ``mimecast``. ``mimecast`` is a copy the normaliser made and owns (kept as is), or ``None``
    for the record itself (one copy serves as both ``mimecast.*`` and ``Event.raw``). ``tags`` is a
    list the normaliser owns (the time-unparsed tag is appended to it). Positional arguments: this
    runs once per record.
    """
    tenant = ctx.tenant
    document["observer"] = dict(OBSERVER)
    document["organization"] = {"name": tenant}
    document["labels"] = {"tenant": tenant, "stream": stream}
    if tags:
        if not time_parsed:
            tags.append(TAG_TIME_UNPARSED)
        document["tags"] = tags
    elif not time_parsed:
        document["tags"] = [TAG_TIME_UNPARSED]
    raw = dict(record)
    document["mimecast"] = raw if mimecast is None else mimecast
    return Event(event_id, tenant, stream, when, document, raw, kind)


def build_event(
    *,
    stream: str,
    dataset: str,
    event_id: str,
    record: Mapping[str, Any],
    ctx: NormaliseContext,
    when: datetime,
    time_parsed: bool,
    event: Mapping[str, Any],
    fields: Mapping[str, Any],
    mimecast: Mapping[str, Any] | None = None,
    kind: str = "log",
    tags: Iterable[str] = (),
    pruned: bool = False,
) -> Event:
    """Assemble the ECS document around stream-specific ``event`` and ``fields`` and wrap it in an Event.

    ``mimecast`` is what goes under ``mimecast.*``: the original record unless a normaliser passes a
    shape-normalised copy (fields whose type varies between tenants, quirk 12, would break a SIEM's
    index mapping). ``pruned=True`` says ``event`` and ``fields`` hold no empty values (a normaliser
    that builds them that way saves the :func:`prune` pass, the largest generic cost per event).
    """
    all_tags = list(tags)
    if not time_parsed:
        all_tags.append(TAG_TIME_UNPARSED)
    # Only the parts a normaliser filled can hold empty values; the fixed skeleton is never pruned
    # (pruning walks every field of every event: it was the largest single cost of normalising).
    event_section = {
        "id": event_id,
        "module": "mimecast",
        "dataset": dataset,
        "provider": stream,
        "created": iso(ctx.observed_at),
        **event,
    }
    document: dict[str, Any] = {
        "@timestamp": iso(when),
        "ecs": {"version": ECS_VERSION},
        "event": event_section if pruned else prune(event_section),
        **(fields if pruned else prune(dict(fields))),
        "observer": dict(OBSERVER),
        "organization": {"name": ctx.tenant},
        "labels": {"tenant": ctx.tenant, "stream": stream},
    }
    if all_tags:
        document["tags"] = all_tags
    # The original record is kept as received (empty values included), so it is not pruned. One copy
    # serves as both ``mimecast.*`` and ``Event.raw`` when they are the same record (events and their
    # documents are read-only once built: formats and sinks copy what they change).
    raw = dict(record)
    document["mimecast"] = raw if mimecast is None else dict(mimecast)
    return Event(
        event_id=event_id,
        tenant=ctx.tenant,
        stream=stream,
        timestamp=when,
        document=document,
        raw=raw,
        kind=kind,
    )
