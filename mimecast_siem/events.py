"""The unit that flows from the collector to the sinks.

An :class:`Event` is produced by a stream's normaliser (collector/) and consumed by sinks and
formats (sinks/). It lives here, outside both rooms, so neither imports the other.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import repeat
from typing import Any

import orjson


@dataclass(frozen=True, slots=True, init=False)
class Event:
    """One normalised security event.

    Attributes:
        event_id: stable id (hex SHA-256 prefix of stream + identifying fields). Same record, same id,
            in every run and every process; SIEMs can dedupe on it.
        tenant: configured tenant name.
        stream: stream name, e.g. ``ttp-url``.
        timestamp: event time, timezone-aware UTC.
        document: the ECS-shaped normalised document (``@timestamp``, ``event.*``, ``email.*`` ...,
            original record under ``mimecast.*``). This is what the ``json`` format emits.
        raw: the original Mimecast record exactly as received (the ``raw`` format).
        kind: ``log`` | ``snapshot`` | ``gauge`` - the kind of stream that produced it.
    """

    event_id: str
    tenant: str
    stream: str
    timestamp: datetime
    document: dict[str, Any]
    raw: dict[str, Any]
    kind: str = "log"
    extra: dict[str, Any] = field(default_factory=dict)

    def __init__(  # noqa: PLR0917 - the dataclass's own positional order
        self,
        event_id: str,
        tenant: str,
        stream: str,
        timestamp: datetime,
        document: dict[str, Any],
        raw: dict[str, Any],
        kind: str = "log",
        extra: dict[str, Any] | None = None,
    ) -> None:
        # The generated __init__ of a frozen dataclass sets each field through object.__setattr__
        # (~1 us per event); the slots' own setters do the same in ~0.6 us. Built once per record.
        _SET_EVENT_ID(self, event_id)
        _SET_TENANT(self, tenant)
        _SET_STREAM(self, stream)
        _SET_TIMESTAMP(self, timestamp)
        _SET_DOCUMENT(self, document)
        _SET_RAW(self, raw)
        _SET_KIND(self, kind)
        _SET_EXTRA(self, {} if extra is None else extra)


(
    _SET_EVENT_ID,
    _SET_TENANT,
    _SET_STREAM,
    _SET_TIMESTAMP,
    _SET_DOCUMENT,
    _SET_RAW,
    _SET_KIND,
    _SET_EXTRA,
) = (Event.__dict__[name].__set__ for name in Event.__slots__)


#: The arguments map() passes orjson.dumps after each value of an id (no default, sorted keys).
_NO_DEFAULT = repeat(None)
_SORT_KEYS = repeat(orjson.OPT_SORT_KEYS)


def stable_event_id(stream: str, *parts: Any) -> str:
    """Return a stable 32-hex-char id from the stream name and identifying values.

    Values are serialised with orjson (sorted keys) so dicts and lists hash the same every time. The
    hashed bytes are the stream name, then each value's JSON preceded by ``0x1f``: joined and hashed
    in one call (the same digest as feeding them piece by piece; ~5% of the id's CPU fewer).
    """
    # Per record (hot path): map() calls orjson.dumps(part, None, OPT_SORT_KEYS) from C - no list
    # comprehension's frame, no keyword call per value (~10% of the id's instructions).
    joined = b"\x1f".join([stream.encode(), *map(orjson.dumps, parts, _NO_DEFAULT, _SORT_KEYS)])
    return hashlib.sha256(joined).hexdigest()[:32]


@lru_cache(maxsize=8192)
def canonical_ip(text: str) -> str | None:
    """``text`` as a canonical IPv4/IPv6 address (surrounding spaces ignored), or None.

    Shared by the normalisers (``source.ip``) and the formats (typed IP fields); memoised because
    the same senders repeat across records.
    """
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


#: orjson's own nesting limit (it refuses deeper documents with a TypeError).
_ORJSON_MAX_DEPTH = 254


def within_depth(document: Any, max_depth: int) -> bool:
    """True when ``document`` nests at most ``max_depth`` levels (checked by orjson, in C, without recursion)."""
    if not isinstance(document, dict | list):
        return True
    wrapped = document
    for _ in range(_ORJSON_MAX_DEPTH - max_depth):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except TypeError:  # "Recursion limit reached" (orjson.JSONEncodeError is a TypeError)
        return False
    return True
