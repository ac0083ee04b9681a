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
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from itertools import repeat
from operator import gt
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
_MILLISECOND = timedelta(milliseconds=1)
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
    return _header(version, class_id, name, max(0, min(10, severity))) + extension_text(extension)


#: Stands for the ``=`` between a key and its value while the values are escaped all at once.
_KEY_VALUE_MARK = "\x00"


def extension_text(pairs: list[tuple[str, str]]) -> str:
    """``key=value`` pairs joined by spaces, each value cut to its key's cap, then escaped.

    Per event, so written for CPython: the caps are checked, the pairs joined and the values escaped
    in C (``map``, ``str.join``, ``str.replace``), not with two Python calls per pair. The values are
    escaped together in the joined text, where the ``=`` after each key is held by a mark no value
    contains (a value holding it takes the pair-by-pair path).
    """
    if not pairs:
        return ""
    keys, values = zip(*pairs, strict=True)
    limits = list(map(KEY_LIMITS.get, keys, repeat(DEFAULT_LIMIT)))
    if any(map(gt, map(len, values), limits)):
        pairs = list(zip(keys, map(truncate, values, limits), strict=True))
    text = " ".join(map(_KEY_VALUE_MARK.join, pairs))
    if text.count(_KEY_VALUE_MARK) != len(pairs):
        return " ".join([f"{key}={escape_extension_value(value)}" for key, value in pairs])
    # The same substitutions as escape_extension_value (the backslash first, so no escape is doubled).
    escaped = text.replace("\\", "\\\\").replace("=", "\\=").replace("\n", "\\n").replace("\r", "\\r")
    return escaped.replace(_KEY_VALUE_MARK, "=")


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
    pairs = [
        ("rt", str(epoch_millis(facts.time))),
        # Identity first: a message cut to the receiver's size limit loses its tail, never these.
        ("externalId", facts.event_id),
        ("cs6Label", "tenant"),
        ("cs6", facts.tenant),
    ]
    add = pairs.append
    if facts.action:
        add(("act", facts.action))
    if facts.verdict:
        add(("outcome", facts.verdict))
    if facts.category:
        add(("cat", facts.category))
    if facts.sender:
        add(("suser", facts.sender))
    if facts.recipient:
        add(("duser", facts.recipient))
    elif facts.user:
        add(("suser", facts.user))
    if facts.source_ip:  # always a valid address (EventFacts checks it)
        if ":" in facts.source_ip:
            add(("c6a2", facts.source_ip))
            add(("c6a2Label", "sourceIPv6"))
        else:
            add(("src", facts.source_ip))
    if facts.subject:
        add(("msg", facts.subject))
    if facts.reason:
        add(("reason", facts.reason))
    if facts.url:
        add(("request", facts.url))
    if facts.file_name:
        add(("fname", facts.file_name))
    if facts.file_type:
        add(("fileType", facts.file_type))
    if facts.file_hash:
        add(("fileHash", facts.file_hash))
    if facts.direction in _DIRECTION_CODE:
        add(("deviceDirection", _DIRECTION_CODE[facts.direction]))
    # Custom strings: cs1 full URL, cs2 policy, cs3 message id, cs4/cs5 stream-specific, cs6 tenant.
    if facts.url:
        add(("cs1Label", "fullUrl"))
        add(("cs1", facts.url))
    if facts.policy:
        add(("cs2Label", "policy"))
        add(("cs2", facts.policy))
    if facts.message_id:
        add(("cs3Label", "messageId"))
        add(("cs3", facts.message_id))
    extras = facts.extras
    if facts.record_id:
        extras = (("mimecastId", facts.record_id), *extras)
    for (label_key, key), (label, value) in zip(_CUSTOM_STRING_KEYS, extras, strict=False):
        add((label_key, label))
        add((key, value))
    for (label_key, key), (label, number) in zip(_CUSTOM_NUMBER_KEYS, facts.counts, strict=False):
        add((label_key, label))
        add((key, str(number)))
    return pairs


#: The (label key, value key) pairs that carry a stream's extras and counts, in order.
_CUSTOM_STRING_KEYS: tuple[tuple[str, str], ...] = (
    ("cs4Label", "cs4"),
    ("cs5Label", "cs5"),
    ("flexString1Label", "flexString1"),
    ("flexString2Label", "flexString2"),
)
_CUSTOM_NUMBER_KEYS: tuple[tuple[str, str], ...] = (("cn1Label", "cn1"), ("cn2Label", "cn2"), ("cn3Label", "cn3"))


def epoch_millis(when: datetime) -> int:
    """Milliseconds since the Unix epoch, exactly (no float rounding)."""
    return (when - _EPOCH) // _MILLISECOND


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
