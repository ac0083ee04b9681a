"""LEEF 2.0 (IBM QRadar Log Event Extended Format) encoder: one line of text per event.

``LEEF:2.0|Mimecast|Email Security|<forwarder version>|<EventID>|<delimiter>|key=value<delim>key=value...``

* The attribute delimiter is declared in the header (LEEF 2.0). Default ``^``; tab is written as
  its hex form ``x09`` in the header. Any single printable ASCII punctuation character other than
  ``|``, ``=`` and ``\\`` may be chosen (:func:`parse_delimiter`), or a tab.
* LEEF defines no escape mechanism for attribute values (sinks.md section 3.2), so values are
  *sanitised*, not escaped: every occurrence of the delimiter, CR, LF, NUL and other C0 control
  characters except tab (when tab is not the delimiter) is replaced by one space. ``=`` inside a
  value is harmless (parsers split a pair on its first ``=``), ``|`` in a value is harmless
  (the header ends at the sixth ``|``).
* Header fields cannot be escaped reliably either (QRadar's handling of ``\\|`` is unverified):
  ``|``, the delimiter and control characters in a header field are replaced by a space, and the
  EventID is a bounded token (letters, digits, ``:``, ``_``, ``-``) because QRadar maps its QIDs
  from EventID + ``cat``.
* ``devTime`` is the event time as ``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` in UTC, declared in
  ``devTimeFormat``; ``sev`` is 1-10; ``cat`` is the event class.
* Values are cut to :data:`VALUE_LIMIT` characters with :data:`TRUNCATION_MARKER`, so a 70 KB
  subject cannot blow up a line; URLs keep up to 4000 characters.
* The identity attributes (``tenant``, ``stream``, ``eventId``) come right after the fixed ones
  (``devTime`` ... ``sev``) and before every long value: a syslog message cut to the receiver's
  size limit loses its tail, never the event's id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from itertools import repeat
from operator import gt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mimecast_siem import __version__
from mimecast_siem.events import Event
from mimecast_siem.sinks.formats.base import Record
from mimecast_siem.sinks.formats.cef import TRUNCATION_MARKER, truncate
from mimecast_siem.sinks.formats.event_facts import EventFacts, event_facts

DEFAULT_DELIMITER = "^"
DEV_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
VALUE_LIMIT = 1023
URL_LIMIT = 4000
HEADER_LIMIT = 255

__all__ = [
    "DEFAULT_DELIMITER",
    "TRUNCATION_MARKER",
    "LeefEncoder",
    "LeefOptions",
    "leef_line",
    "make_encoder",
    "parse_delimiter",
]

# Taken by the format itself, or by the truncation marker (which would turn into spaces).
_FORBIDDEN_DELIMITERS = {"|", "=", "\\", ".", "[", "]"}
_HEX_FORM = re.compile(r"^(?:0x|x)([0-9a-fA-F]{2})$")
_EVENT_ID_UNSAFE = re.compile(r"[^A-Za-z0-9:_.-]")


def parse_delimiter(value: str) -> str:
    """The delimiter character from a config value: ``^``, ``tab``, ``\\t``, ``x09``, ``0x5E`` ...

    Raises:
        ValueError: naming what is allowed, when ``value`` is not a usable delimiter.
    """
    text = value
    if text.lower() in ("tab", "\\t"):
        text = "\t"
    match = _HEX_FORM.match(text)
    if match:
        text = chr(int(match.group(1), 16))
    if text == "\t":
        return text
    if len(text) != 1 or not (text.isascii() and text.isprintable()) or text.isalnum() or text == " ":
        raise ValueError(
            f"LEEF delimiter {value!r} is not one punctuation character; "
            "use ^ (default), tab, or another character such as ~ ; # (hex form x5E also accepted)"
        )
    if text in _FORBIDDEN_DELIMITERS:
        raise ValueError(
            f"LEEF delimiter {value!r} is not allowed ({' '.join(sorted(_FORBIDDEN_DELIMITERS))} are taken)"
        )
    return text


def header_delimiter(delimiter: str) -> str:
    """How the delimiter is declared in the header: the character itself, or ``xNN`` for tab."""
    return delimiter if delimiter.isprintable() else f"x{ord(delimiter):02x}"


@lru_cache(maxsize=16)
def _sanitise_table(delimiter: str) -> dict[int, str]:
    table = {c: " " for c in range(32) if c != 9}
    table[0x7F] = " "
    table[ord(delimiter)] = " "
    return table


def sanitise_value(value: str, delimiter: str) -> str:
    """Replace the delimiter and control characters (tab allowed unless it is the delimiter) with a space."""
    return value.translate(_sanitise_table(delimiter))


def sanitise_header(value: str, delimiter: str) -> str:
    """A header field with ``|``, the delimiter and control characters replaced by a space."""
    return "".join(" " if ch in ("|", delimiter, "\x7f") or ch < " " else ch for ch in truncate(value, HEADER_LIMIT))


def event_id_token(value: str) -> str:
    """A QRadar-safe EventID: letters, digits and ``: _ . -`` only, at most 255 characters."""
    return _EVENT_ID_UNSAFE.sub("_", value)[:HEADER_LIMIT] or "event"


def leef_line(
    *, version: str, event_id: str, delimiter: str, attributes: list[tuple[str, str]], limits: dict[str, int]
) -> str:
    """Assemble one LEEF 2.0 line (sanitising and caps applied here)."""
    return (
        _header_start(version, delimiter) + _event_id_field(event_id, delimiter) + _body(attributes, delimiter, limits)
    )


@lru_cache(maxsize=16)
def _header_start(version: str, delimiter: str) -> str:
    """``LEEF:2.0|Mimecast|Email Security|<version>|`` (the same for every event of an encoder)."""
    fields = ["LEEF:2.0", *(sanitise_header(field, delimiter) for field in ("Mimecast", "Email Security", version))]
    return "|".join(fields) + "|"


#: Event classes are a few values per stream (``class_token``): short ones are memoised.
_EVENT_ID_MEMO_LENGTH = 128


def _event_id_field(event_id: str, delimiter: str) -> str:
    """``<EventID>|<delimiter as declared>|``."""
    if len(event_id) <= _EVENT_ID_MEMO_LENGTH:
        return _short_event_id_field(event_id, delimiter)
    return event_id_token(event_id) + "|" + header_delimiter(delimiter) + "|"


@lru_cache(maxsize=1024)
def _short_event_id_field(event_id: str, delimiter: str) -> str:
    return event_id_token(event_id) + "|" + header_delimiter(delimiter) + "|"


#: Joins the values while they are sanitised all at once: not a delimiter (``|`` may not be one) and
#: not a character sanitising replaces, so the joined text splits back into the same values.
_VALUE_MARK = "|"


def _body(attributes: list[tuple[str, str]], delimiter: str, limits: dict[str, int]) -> str:
    """``key=value`` attributes joined by the delimiter, each value cut to its cap and sanitised.

    Per event, so written for CPython as CEF's extension is: caps checked, values sanitised and pairs
    joined in C rather than with two Python calls per attribute.
    """
    if not attributes:
        return ""
    keys, values = zip(*attributes, strict=True)
    caps = list(map(limits.get, keys, repeat(VALUE_LIMIT)))
    if any(map(gt, map(len, values), caps)):
        values = tuple(map(truncate, values, caps))
    table = _sanitise_table(delimiter)
    joined = _VALUE_MARK.join(values)
    if joined.count(_VALUE_MARK) == len(values) - 1 and delimiter != _VALUE_MARK:
        clean = joined.translate(table).split(_VALUE_MARK)
    else:  # a value holds the mark itself: one at a time
        clean = [value.translate(table) for value in values]
    return delimiter.join(map("=".join, zip(keys, clean, strict=True)))


def leef_attributes(facts: EventFacts) -> list[tuple[str, str]]:
    """The attributes for ``facts`` in a fixed order (empty facts are left out)."""
    attributes = [
        ("devTime", dev_time(facts.time)),
        ("devTimeFormat", DEV_TIME_FORMAT),
        ("cat", facts.event_class),
        ("sev", str(max(1, min(10, facts.severity)))),
        # Identity first: a message cut to the receiver's size limit loses its tail, never these.
        ("tenant", facts.tenant),
        ("stream", facts.stream),
        ("eventId", facts.event_id),
    ]
    add = attributes.append
    if facts.source_ip:
        add(("src", facts.source_ip))
    user = facts.recipient or facts.user
    if user:
        add(("usrName", user))
    if facts.sender:
        add(("sender", facts.sender))
    if facts.recipient:
        add(("recipient", facts.recipient))
    if facts.subject:
        add(("subject", facts.subject))
    if facts.url:
        add(("url", facts.url))
    if facts.file_name:
        add(("fileName", facts.file_name))
    if facts.file_type:
        add(("fileType", facts.file_type))
    if facts.file_hash:
        add(("fileHash", facts.file_hash))
    if facts.action:
        add(("action", facts.action))
    if facts.verdict:
        add(("result", facts.verdict))
    if facts.category:
        add(("category", facts.category))
    if facts.policy:
        add(("policy", facts.policy))
    if facts.reason:
        add(("reason", facts.reason))
    if facts.message_id:
        add(("messageId", facts.message_id))
    if facts.direction:
        add(("direction", facts.direction))
    if facts.record_id:
        add(("mimecastId", facts.record_id))
    attributes += facts.extras
    for label, number in facts.counts:
        add((label, str(number)))
    return attributes


def dev_time(when: datetime) -> str:
    """``devTime``: the time in UTC as ``yyyy-MM-dd'T'HH:mm:ss.SSS+0000`` (milliseconds cut, not rounded)."""
    utc = when.astimezone(UTC)
    if utc.year < 1000:  # strftime does not pad such years (isoformat does): keep strftime's text
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"
    # isoformat(timespec="milliseconds") of a UTC time ends with ".SSS+00:00".
    return utc.isoformat(timespec="milliseconds")[:-6] + "+0000"


class LeefEncoder:
    """Encode events as LEEF 2.0 lines (stateless: same event in, same line out).

    Args:
        delimiter: the attribute delimiter, in any form :func:`parse_delimiter` accepts.
        device_version: the Version header field; defaults to this forwarder's version.
    """

    name = "leef"

    def __init__(self, delimiter: str = DEFAULT_DELIMITER, device_version: str = __version__) -> None:
        self.delimiter = parse_delimiter(delimiter)
        self.device_version = device_version

    def encode(self, event: Event) -> list[Record]:
        """Return one LEEF line for ``event``."""
        facts = event_facts(event)
        return [
            leef_line(
                version=self.device_version,
                event_id=facts.event_class,
                delimiter=self.delimiter,
                attributes=leef_attributes(facts),
                limits=_LIMITS,
            )
        ]


#: Caps other than :data:`VALUE_LIMIT` (read only).
_LIMITS = {"url": URL_LIMIT}


class LeefOptions(BaseModel):
    """``format_options`` of the ``leef`` format."""

    model_config = ConfigDict(extra="forbid")

    delimiter: str = Field(
        default=DEFAULT_DELIMITER,
        description="Attribute delimiter declared in the LEEF 2.0 header: ^ (default), tab, or one punctuation "
        "character (hex forms x09 / 0x5E accepted). Values containing it have it replaced by a space.",
    )

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        parse_delimiter(value)
        return value


def make_encoder(options: Mapping[str, Any] | None = None) -> LeefEncoder:
    """Factory used by ``get_encoder("leef", format_options)``.

    Raises:
        pydantic.ValidationError: for unknown keys or an unusable delimiter.
    """
    parsed = LeefOptions.model_validate(dict(options or {}))
    return LeefEncoder(delimiter=parsed.delimiter)
