"""CEF (ArcSight Common Event Format, version 0) encoder: one line of text per event.

``CEF:0|Mimecast|Email Security|<forwarder version>|<class id>|<name>|<severity>|<extension>``

Escaping (sinks.md section 3.1, CEF implementation standard):

* Header fields: ``\\`` becomes ``\\\\`` and ``|`` becomes ``\\|``; CR, LF and other control
  characters are not allowed in the header and are replaced by a space.
* Extension values: ``\\`` becomes ``\\\\``, ``=`` becomes ``\\=``, LF becomes ``\\n`` and CR becomes
  ``\\r``. Pipes are *not* escaped in the extension. Spaces are literal. So a CEF line never holds a
  raw CR or LF, whatever the event contains, and can travel over LF-framed syslog as it is.
* Length caps from the CEF key dictionary (``msg`` 1023, ``cs1``-``cs6`` 4000, ``act`` 63 ...) are
  applied to the unescaped value, in characters. A value over its cap keeps its start and ends with
  :data:`TRUNCATION_MARKER`, so a reader sees it was cut.

The identity pairs (``externalId`` = event id, ``cs6`` = tenant; the stream is the header's class
id) come right after ``rt`` and before every long value, so a syslog message cut to the receiver's
size limit loses its tail, never the event's identity.

Mimecast URLs are often longer than ``request``'s 1023 characters: ``request`` carries the URL cut
to 1023 with the marker, and ``cs1`` (label ``fullUrl``, 4000) carries it up to 4000. Severity and
the event class come from :mod:`~mimecast_siem.sinks.formats.event_facts`, shared with LEEF.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from mimecast_siem import __version__
from mimecast_siem.events import Event
from mimecast_siem.sinks.formats.base import Record
from mimecast_siem.sinks.formats.event_facts import EventFacts, event_facts

TRUNCATION_MARKER = "...[truncated]"
"""Appended to a value cut to its key's length cap."""

DEVICE_VENDOR = "Mimecast"
DEVICE_PRODUCT = "Email Security"

#: Length caps (characters) from the CEF key dictionary; keys not listed are not capped by CEF
#: but are kept under the longest cap so one field cannot balloon a line.
KEY_LIMITS: dict[str, int] = {
    "act": 63,
    "outcome": 63,
    "app": 31,
    "externalId": 40,
    "fileHash": 255,
    "msg": 1023,
    "request": 1023,
    "suser": 1023,
    "duser": 1023,
    "shost": 1023,
    "dhost": 1023,
    "fname": 1023,
    "fileType": 1023,
    "filePath": 1023,
    "cat": 1023,
    "reason": 1023,
    "requestClientApplication": 1023,
    **{f"cs{i}": 4000 for i in range(1, 7)},
    **{f"cs{i}Label": 1023 for i in range(1, 7)},
    **{f"cn{i}Label": 1023 for i in range(1, 4)},
    "flexString1": 1023,
    "flexString2": 1023,
    "flexString1Label": 128,
    "flexString2Label": 128,
}
DEFAULT_LIMIT = 4000
HEADER_LIMIT = 1023

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DIRECTION_CODE = {"inbound": "0", "outbound": "1"}


def truncate(value: str, limit: int, marker: str = TRUNCATION_MARKER) -> str:
    """Cut ``value`` to at most ``limit`` characters, ending with ``marker`` when it was cut."""
    if len(value) <= limit:
        return value
    if limit <= len(marker):
        return marker[:limit]
    return value[: limit - len(marker)] + marker


_HEADER_ESCAPES = {ord("\\"): "\\\\", ord("|"): "\\|", 0x7F: " ", **dict.fromkeys(range(32), " ")}
_EXTENSION_ESCAPES = {ord("\\"): "\\\\", ord("="): "\\=", ord("\n"): "\\n", ord("\r"): "\\r"}


# Most values need no escaping: one regex scan (C) is several times cheaper than str.translate.
_HEADER_SPECIAL = re.compile("[\\\\|\x00-\x1f\x7f]")
_EXTENSION_SPECIAL = re.compile("[\\\\=\r\n]")


def escape_header(value: str) -> str:
    """Escape one CEF header field: ``\\`` and ``|`` get a backslash; control characters become spaces."""
    return value.translate(_HEADER_ESCAPES) if _HEADER_SPECIAL.search(value) else value


def escape_extension_value(value: str) -> str:
    """Escape one extension value: ``\\``, ``=``, LF (``\\n``) and CR (``\\r``); pipes stay as they are."""
    return value.translate(_EXTENSION_ESCAPES) if _EXTENSION_SPECIAL.search(value) else value


def cef_line(
    *,
    version: str,
    class_id: str,
    name: str,
    severity: int,
    extension: list[tuple[str, str]],
) -> str:
    """Assemble one CEF line from already chosen values (escaping and caps applied here)."""
    limits = KEY_LIMITS
    pairs = " ".join(
        [f"{key}={escape_extension_value(truncate(value, limits.get(key, DEFAULT_LIMIT)))}" for key, value in extension]
    )
    return _header(version, class_id, name, max(0, min(10, severity))) + pairs


@functools.lru_cache(maxsize=4096)
def _header(version: str, class_id: str, name: str, severity: int) -> str:
    """The escaped header up to and including the ``|`` before the extension (few distinct values)."""
    fields = [
        "CEF:0",
        escape_header(truncate(DEVICE_VENDOR, HEADER_LIMIT)),
        escape_header(truncate(DEVICE_PRODUCT, HEADER_LIMIT)),
        escape_header(truncate(version, HEADER_LIMIT)),
        escape_header(truncate(class_id, HEADER_LIMIT)),
        escape_header(truncate(name, 512)),
        str(severity),
    ]
    return "|".join(fields) + "|"


def cef_extension(facts: EventFacts) -> list[tuple[str, str]]:
    """The extension pairs for ``facts``, in a fixed order (empty facts are left out)."""
    return list(_extension_pairs(facts))


def _extension_pairs(facts: EventFacts) -> Iterator[tuple[str, str]]:
    yield "rt", str(epoch_millis(facts.time))
    # Identity first: a message cut to the receiver's size limit loses its tail, never these.
    yield "externalId", facts.event_id
    yield "cs6Label", "tenant"
    yield "cs6", facts.tenant
    if facts.action:
        yield "act", facts.action
    if facts.verdict:
        yield "outcome", facts.verdict
    if facts.category:
        yield "cat", facts.category
    if facts.sender:
        yield "suser", facts.sender
    if facts.recipient:
        yield "duser", facts.recipient
    elif facts.user:
        yield "suser", facts.user
    if facts.source_ip:  # always a valid address (EventFacts checks it)
        if ":" in facts.source_ip:
            yield "c6a2", facts.source_ip
            yield "c6a2Label", "sourceIPv6"
        else:
            yield "src", facts.source_ip
    if facts.subject:
        yield "msg", facts.subject
    if facts.reason:
        yield "reason", facts.reason
    if facts.url:
        yield "request", facts.url
    if facts.file_name:
        yield "fname", facts.file_name
    if facts.file_type:
        yield "fileType", facts.file_type
    if facts.file_hash:
        yield "fileHash", facts.file_hash
    if facts.direction in _DIRECTION_CODE:
        yield "deviceDirection", _DIRECTION_CODE[facts.direction]
    # Custom strings: cs1 full URL, cs2 policy, cs3 message id, cs4/cs5 stream-specific, cs6 tenant.
    if facts.url:
        yield "cs1Label", "fullUrl"
        yield "cs1", facts.url
    if facts.policy:
        yield "cs2Label", "policy"
        yield "cs2", facts.policy
    if facts.message_id:
        yield "cs3Label", "messageId"
        yield "cs3", facts.message_id
    extras = list(facts.extras)
    if facts.record_id:
        extras.insert(0, ("mimecastId", facts.record_id))
    for key, (label, value) in zip(("cs4", "cs5", "flexString1", "flexString2"), extras, strict=False):
        yield f"{key}Label", label
        yield key, value
    for slot, (label, number) in zip((1, 2, 3), facts.counts, strict=False):
        yield f"cn{slot}Label", label
        yield f"cn{slot}", str(number)


def epoch_millis(when: datetime) -> int:
    """Milliseconds since the Unix epoch, exactly (no float rounding)."""
    return (when - _EPOCH) // timedelta(milliseconds=1)


class CefEncoder:
    """Encode events as CEF:0 lines (stateless: same event in, same line out).

    Args:
        device_version: the Device Version header field; defaults to this forwarder's version.
    """

    name = "cef"

    def __init__(self, device_version: str = __version__) -> None:
        self.device_version = device_version

    def encode(self, event: Event) -> list[Record]:
        """Return one CEF line for ``event``."""
        facts = event_facts(event)
        return [
            cef_line(
                version=self.device_version,
                class_id=facts.event_class,
                name=facts.title,
                severity=facts.severity,
                extension=cef_extension(facts),
            )
        ]


def make_encoder(options: Mapping[str, Any] | None = None) -> CefEncoder:
    """Factory used by ``get_encoder("cef", format_options)``: CEF takes no options.

    Raises:
        ValueError: when options are given (the message lists them).
    """
    if options:
        raise ValueError(f"the cef format takes no options (got {', '.join(sorted(options))})")
    return CefEncoder()
