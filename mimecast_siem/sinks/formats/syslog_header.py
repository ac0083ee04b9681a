"""Syslog message building: RFC 5424 and RFC 3164 headers, structured data, size ceiling, framing.

Pure functions and one pure builder (:class:`SyslogMessageBuilder`); the syslog sink only moves the
bytes these produce. Facts the rules come from are in sinks.md section 2 (and the RFCs):

* RFC 5424: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [BOM]MSG``. PRI is
  facility x 8 + severity (0-191). TIMESTAMP is RFC 3339 in UTC with ``Z`` and at most 6 fractional
  digits. HOSTNAME (255), APP-NAME (48), PROCID (128) and MSGID (32) are printable US-ASCII
  (33-126) or ``-``; other characters are replaced by ``_`` and the value cut to its cap.
  SD-IDs and PARAM-NAMEs are 1-32 printable ASCII characters without ``=``, space, ``]`` or ``"``;
  inside a PARAM-VALUE only ``"``, ``\\`` and ``]`` are escaped, with a backslash. MSG is UTF-8 and
  starts with the BOM (``EF BB BF``) unless the builder is told not to add it.
* RFC 3164: ``<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`` with English month names, a
  space-padded day, no year and no zone (times are written in UTC). TAG is at most 32 characters.
* Size ceiling: the whole message (header + structured data + BOM + MSG), *before* framing, is
  held to ``max_bytes``. When MSG does not fit it is cut on a UTF-8 character boundary and ends
  with :data:`TRUNCATION_MARKER`; a cut that would leave a dangling escape backslash drops it.
  The header is never cut unless the ceiling is smaller than the header itself.
* Framing (RFC 6587): octet counting ``LEN SP MSG`` (safe for any content), or a trailing LF. With
  LF framing an LF inside the message would split it into two bogus records, so every LF in MSG
  and in structured-data values is replaced by the two characters ``\\n`` before the ceiling is
  applied (CR is left alone: receivers frame on LF only).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

BOM = b"\xef\xbb\xbf"
TRUNCATION_MARKER = "...[truncated]"
NIL = "-"

HOSTNAME_MAX = 255
APP_NAME_MAX = 48
PROCID_MAX = 128
MSGID_MAX = 32
SD_NAME_MAX = 32
TAG_MAX = 32

FACILITIES: dict[str, int] = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "security": 13,
    "console": 14,
    "solaris-cron": 15,
    **{f"local{i}": 16 + i for i in range(8)},
}

SEVERITIES: dict[str, int] = {
    "emerg": 0,
    "emergency": 0,
    "alert": 1,
    "crit": 2,
    "critical": 2,
    "err": 3,
    "error": 3,
    "warning": 4,
    "warn": 4,
    "notice": 5,
    "info": 6,
    "informational": 6,
    "debug": 7,
}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SD_NAME = re.compile(r"^[!#-<>-\\^-~]{1,32}$")  # printable ASCII 33-126 minus '"', '=', ']'
_NOT_HEADER_CHAR = re.compile(r"[^!-~]")
_NOT_TAG_CHAR = re.compile(r"[^A-Za-z0-9_./-]")

Rfc = Literal["5424", "3164"]
Framing = Literal["octet-counting", "lf"]


def parse_facility(value: str | int) -> int:
    """A facility number (0-23) from a name (``local0``, ``mail`` ...) or a number.

    Raises:
        ValueError: naming the allowed names and range.
    """
    if isinstance(value, bool):
        raise ValueError("facility must be a name or a number 0-23")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if 0 <= number <= 23:
            return number
        raise ValueError(f"facility {number} is out of range; allowed 0-23 or a name: {', '.join(FACILITIES)}")
    name = value.strip().lower()
    if name in FACILITIES:
        return FACILITIES[name]
    raise ValueError(f"unknown facility {value!r}; allowed 0-23 or a name: {', '.join(FACILITIES)}")


def parse_severity(value: str | int) -> int:
    """A severity number (0-7) from a name (``info``, ``warning`` ...) or a number.

    Raises:
        ValueError: naming the allowed names and range.
    """
    if isinstance(value, bool):
        raise ValueError("severity must be a name or a number 0-7")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if 0 <= number <= 7:
            return number
        raise ValueError(f"severity {number} is out of range; allowed 0-7 or a name: {', '.join(SEVERITIES)}")
    name = value.strip().lower()
    if name in SEVERITIES:
        return SEVERITIES[name]
    raise ValueError(f"unknown severity {value!r}; allowed 0-7, auto, or a name: {', '.join(SEVERITIES)}")


def pri(facility: int, severity: int) -> int:
    """The PRI value: facility x 8 + severity (0-191)."""
    if not (0 <= facility <= 23 and 0 <= severity <= 7):
        raise ValueError(f"facility {facility} / severity {severity} out of range (0-23 / 0-7)")
    return facility * 8 + severity


def header_field(value: str | None, max_len: int) -> str:
    """An RFC 5424 header field: printable US-ASCII (other characters become ``_``), capped, ``-`` if empty."""
    if not value:
        return NIL
    return _NOT_HEADER_CHAR.sub("_", value)[:max_len]


def is_valid_header_field(value: str, max_len: int) -> bool:
    """True when ``value`` is usable as-is as a HOSTNAME/APP-NAME/PROCID/MSGID of that cap."""
    return 0 < len(value) <= max_len and not _NOT_HEADER_CHAR.search(value)


def is_valid_sd_name(name: str) -> bool:
    """True for a valid SD-ID or PARAM-NAME (1-32 printable ASCII, no ``=``, space, ``]`` or ``"``)."""
    return bool(_SD_NAME.match(name))


def escape_sd_value(value: str) -> str:
    """Escape a PARAM-VALUE: ``\\``, ``"`` and ``]`` get a backslash (nothing else is escaped)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


@dataclass(frozen=True, slots=True)
class SdElement:
    """One STRUCTURED-DATA element: ``[sd_id name="value" ...]``."""

    sd_id: str
    params: tuple[tuple[str, str], ...]

    def render(self) -> str:
        """The element as text (names must already be valid; values are escaped here)."""
        if not is_valid_sd_name(self.sd_id):
            raise ValueError(f"invalid SD-ID {self.sd_id!r}")
        parts = [self.sd_id]
        for name, value in self.params:
            if not is_valid_sd_name(name):
                raise ValueError(f"invalid SD PARAM-NAME {name!r}")
            parts.append(f'{name}="{escape_sd_value(value)}"')
        return "[" + " ".join(parts) + "]"


def render_structured_data(elements: Sequence[SdElement]) -> str:
    """STRUCTURED-DATA: the concatenated elements, or ``-`` when there are none."""
    return "".join(e.render() for e in elements) or NIL


#: Two-digit seconds, and the timestamps' text up to the seconds for each minute seen lately (keyed by
#: year, month, day, hour, minute): per message, only the seconds and the fraction are written, as
#: formatting a datetime (strftime, isoformat) costs several times more than reading its fields.
_SECONDS = tuple(f"{second:02d}" for second in range(60))
_RFC3339_MINUTES: dict[tuple[int, int, int, int, int], str] = {}
_RFC3164_MINUTES: dict[tuple[int, int, int, int, int], str] = {}
_MINUTES_MEMO_SIZE = 4096


def rfc3339_timestamp(when: datetime) -> str:
    """RFC 5424 TIMESTAMP in UTC: ``2026-11-25T10:00:00.123456Z`` (fraction omitted when zero).

    The text is ``strftime("%Y-%m-%dT%H:%M:%S")`` (years below 1000 unpadded, as strftime writes
    them) and the fraction without trailing zeros.

    Raises:
        ValueError: for a naive datetime (every time in this project is UTC-aware).
    """
    if when.tzinfo is None:
        raise ValueError("syslog timestamps need a timezone-aware datetime")
    utc = when.astimezone(UTC)
    minute = (utc.year, utc.month, utc.day, utc.hour, utc.minute)
    head = _RFC3339_MINUTES.get(minute)
    if head is None:
        if len(_RFC3339_MINUTES) >= _MINUTES_MEMO_SIZE:
            _RFC3339_MINUTES.clear()
        head = _RFC3339_MINUTES[minute] = utc.strftime("%Y-%m-%dT%H:%M:")
    microsecond = utc.microsecond
    if microsecond:
        return f"{head}{_SECONDS[utc.second]}.{f'{microsecond:06d}'.rstrip('0')}Z"
    return f"{head}{_SECONDS[utc.second]}Z"


def rfc3164_timestamp(when: datetime) -> str:
    """RFC 3164 TIMESTAMP in UTC: ``Nov  5 10:00:00`` (English month, space-padded day)."""
    if when.tzinfo is None:
        raise ValueError("syslog timestamps need a timezone-aware datetime")
    utc = when.astimezone(UTC)
    minute = (utc.year, utc.month, utc.day, utc.hour, utc.minute)
    head = _RFC3164_MINUTES.get(minute)
    if head is None:
        if len(_RFC3164_MINUTES) >= _MINUTES_MEMO_SIZE:
            _RFC3164_MINUTES.clear()
        head = _RFC3164_MINUTES[minute] = f"{_MONTHS[utc.month - 1]} {utc.day:>2} {utc:%H:%M:}"
    return head + _SECONDS[utc.second]


def rfc3164_tag(app_name: str) -> str:
    """An RFC 3164 TAG: letters, digits and ``_ . / -`` (others become ``_``), at most 32 characters."""
    return _NOT_TAG_CHAR.sub("_", app_name)[:TAG_MAX] or "mimecast-siem"


@dataclass(frozen=True, slots=True)
class Limited:
    """A message held to the byte ceiling, and whether it had to be cut."""

    data: bytes
    truncated: bool


def fit_message(prefix: bytes, msg: bytes, max_bytes: int, marker: str = TRUNCATION_MARKER) -> Limited:
    """Join ``prefix`` (header, SD, BOM) and ``msg`` within ``max_bytes``, cutting MSG if needed.

    ``msg`` must be valid UTF-8: it is cut on a character boundary and ends with ``marker``. A cut
    leaving an odd run of trailing backslashes loses one, so the marker is never read as escaped.
    """
    if len(prefix) + len(msg) <= max_bytes:
        return Limited(prefix + msg, truncated=False)
    marker_bytes = marker.encode()
    room = max_bytes - len(prefix) - len(marker_bytes)
    if room < 0:
        # The ceiling is below the header itself: keep what fits of the header (ASCII) only.
        return Limited((prefix + marker_bytes)[:max_bytes], truncated=True)
    kept = msg[:room].decode("utf-8", errors="ignore")
    trailing = len(kept) - len(kept.rstrip("\\"))
    if trailing % 2:
        kept = kept[:-1]
    return Limited(prefix + kept.encode() + marker_bytes, truncated=True)


def frame_octet_counting(message: bytes) -> bytes:
    """RFC 6587 octet-counting frame: ``LEN SP MESSAGE``."""
    return str(len(message)).encode() + b" " + message


def frame_lf(message: bytes) -> bytes:
    """RFC 6587 non-transparent frame: the message and a trailing LF (it must hold no LF itself)."""
    if b"\n" in message:
        raise ValueError("an LF-framed syslog message must not contain LF")
    return message + b"\n"


def escape_lf(text: str) -> str:
    """Replace every LF with the two characters ``\\n`` (for LF framing)."""
    return text.replace("\n", "\\n")


@dataclass(frozen=True, slots=True)
class StreamHeader:
    """Per-stream APP-NAME and MSGID overrides (None keeps the sink-wide default)."""

    app_name: str | None = None
    msgid: str | None = None


_NO_OVERRIDE = StreamHeader()
#: A PARAM-VALUE character that :func:`escape_sd_value` (or LF framing's :func:`escape_lf`) changes.
_SD_VALUE_SPECIAL = re.compile(r'[\\"\]\n]')


@dataclass(frozen=True, slots=True)
class _StreamParts:
    """What every message of one stream and tenant shares, around its PRI, TIMESTAMP and event id.

    RFC 5424: ``before`` is `` HOSTNAME APP-NAME PROCID MSGID `` and the SD element up to the event
    id's value (``[sd_id tenant="..." stream="..." event_id="``), or ``-`` without structured data;
    ``after`` closes the element and holds the space and BOM before MSG. RFC 3164: ``before`` is
    `` HOSTNAME TAG[PID]: `` and ``after`` is empty. ``general``: the header cannot be written this
    way (a 3164 PROCID that is not UTF-8), so :meth:`SyslogMessageBuilder.build` takes its general path.
    """

    before: str
    after: str
    with_event_id: bool
    general: bool = False


@dataclass(frozen=True, slots=True)
class SyslogMessageBuilder:
    """Builds complete syslog messages (before framing) from an event's header values and MSG text.

    Attributes:
        rfc: ``5424`` or ``3164``.
        facility: 0-23.
        hostname: HOSTNAME field.
        app_name: APP-NAME (RFC 5424) or TAG (RFC 3164) unless the stream overrides it.
        procid: PROCID, or ``-``.
        msgid: MSGID of every stream unless the stream overrides it; None = the stream name.
        sd_id: SD-ID of the element carrying tenant, stream and event id; None = no structured data.
        utf8_bom: start MSG with the UTF-8 BOM (RFC 5424 only).
        lf_safe: replace LF with ``\\n`` (set for LF framing).
        max_bytes: ceiling for the whole message before framing.
        streams: per-stream APP-NAME/MSGID overrides; MSGID defaults to the stream name.
    """

    rfc: Rfc = "5424"
    facility: int = FACILITIES["local0"]
    hostname: str = NIL
    app_name: str = "mimecast-siem"
    procid: str = NIL
    msgid: str | None = None
    sd_id: str | None = "mimecast@32473"
    utf8_bom: bool = True
    lf_safe: bool = False
    max_bytes: int = 8000
    streams: Mapping[str, StreamHeader] = field(default_factory=dict)
    # The header parts of each (stream, tenant), built on first use: the builder is immutable (its
    # streams mapping included), so they are the same for every message.
    _parts: dict[tuple[str, str], _StreamParts] = field(default_factory=dict, init=False, repr=False, compare=False)

    def build(
        self,
        *,
        severity: int,
        timestamp: datetime,
        tenant: str,
        stream: str,
        event_id: str,
        msg: str,
    ) -> Limited:
        """Return the message for one record, held to :attr:`max_bytes`.

        Args:
            severity: 0-7.
            timestamp: event time (UTC-aware).
            tenant: tenant name (structured data).
            stream: stream name (MSGID default, structured data).
            event_id: stable event id (structured data).
            msg: the encoded record (CEF/LEEF line or compact JSON).
        """
        # Per message, so only what differs per message is done here: the PRI, the TIMESTAMP and the
        # event id's escaping; the rest of the header is built once per stream and tenant
        # (_stream_parts). The bytes are those of _build_general, the definition
        # (tests/sinks/test_syslog_header_fast.py holds the two together).
        text = escape_lf(msg) if self.lf_safe else msg
        facility = self.facility
        # pri() without its call: its checks in its order, and pri() itself raises the out-of-range error.
        priority = facility * 8 + severity if 0 <= facility <= 23 and 0 <= severity <= 7 else pri(facility, severity)
        parts = self._parts.get((stream, tenant))
        if parts is None:
            parts = self._stream_parts(stream, tenant)
        if parts.general:
            return self._build_general(
                severity=severity, timestamp=timestamp, tenant=tenant, stream=stream, event_id=event_id, msg=msg
            )
        if self.rfc == "3164":
            head = f"<{priority}>{rfc3164_timestamp(timestamp)}{parts.before}"
        elif parts.with_event_id:
            value = event_id
            if _SD_VALUE_SPECIAL.search(value):
                value = escape_sd_value(escape_lf(value) if self.lf_safe else value)
            head = f"<{priority}>1 {rfc3339_timestamp(timestamp)}{parts.before}{value}{parts.after}"
        else:
            head = f"<{priority}>1 {rfc3339_timestamp(timestamp)}{parts.before}{parts.after}"
        # One encoding of header and MSG: the header's text is ASCII but for SD values (a lone
        # surrogate becomes "?" either way, character by character), so it is the two encodings joined.
        data = (head + text).encode("utf-8", errors="replace")
        if len(data) <= self.max_bytes:
            return Limited(data, truncated=False)
        return fit_message(_utf8(head), _utf8(text), self.max_bytes)

    def _stream_parts(self, stream: str, tenant: str) -> _StreamParts:
        """The header parts of ``stream`` and ``tenant`` (kept for the next message).

        Raises:
            ValueError: an invalid SD-ID (nothing is kept; every message raises it, as it did).
        """
        override = self.streams.get(stream, _NO_OVERRIDE)
        app_name = override.app_name or self.app_name
        if self.rfc == "3164":
            pid = f"[{self.procid}]" if self.procid and self.procid != NIL else ""
            before = f" {header_field(self.hostname, HOSTNAME_MAX)} {rfc3164_tag(app_name)}{pid}: "
            try:
                before.encode()
            except UnicodeEncodeError:  # the general path raises it for every message, as it did
                parts = _StreamParts(before, "", with_event_id=False, general=True)
            else:
                parts = _StreamParts(before, "", with_event_id=False)
        else:
            fields = " ".join(
                (
                    header_field(self.hostname, HOSTNAME_MAX),
                    header_field(app_name, APP_NAME_MAX),
                    header_field(self.procid, PROCID_MAX),
                    header_field(override.msgid or self.msgid or stream, MSGID_MAX),
                )
            )
            space_bom = " \ufeff" if self.utf8_bom else " "  # "\ufeff" is BOM in UTF-8
            if self.sd_id is None:
                parts = _StreamParts(f" {fields} {NIL}", space_bom, with_event_id=False)
            else:
                # The element as SdElement renders it (which checks the SD-ID and names), the event
                # id's value left out.
                element = SdElement(self.sd_id, (("tenant", tenant), ("stream", stream), ("event_id", "")))
                if self.lf_safe:
                    element = SdElement(self.sd_id, tuple((name, escape_lf(value)) for name, value in element.params))
                rendered = element.render()
                parts = _StreamParts(f" {fields} {rendered[:-2]}", '"]' + space_bom, with_event_id=True)
        if len(self._parts) >= _PARTS_MEMO_SIZE:
            self._parts.clear()
        self._parts[(stream, tenant)] = parts
        return parts

    def _build_general(
        self,
        *,
        severity: int,
        timestamp: datetime,
        tenant: str,
        stream: str,
        event_id: str,
        msg: str,
    ) -> Limited:
        """:meth:`build` step by step: the definition of the message (and the path for odd headers)."""
        text = escape_lf(msg) if self.lf_safe else msg
        override = self.streams.get(stream, _NO_OVERRIDE)
        app_name = override.app_name or self.app_name
        priority = pri(self.facility, severity)
        if self.rfc == "3164":
            tag = rfc3164_tag(app_name)
            pid = f"[{self.procid}]" if self.procid and self.procid != NIL else ""
            host = header_field(self.hostname, HOSTNAME_MAX)
            prefix = f"<{priority}>{rfc3164_timestamp(timestamp)} {host} {tag}{pid}: ".encode()
            return fit_message(prefix, _utf8(text), self.max_bytes)
        sd = NIL
        if self.sd_id is not None:
            params: tuple[tuple[str, str], ...] = (("tenant", tenant), ("stream", stream), ("event_id", event_id))
            if self.lf_safe:
                params = tuple((name, escape_lf(value)) for name, value in params)
            sd = SdElement(self.sd_id, params).render()
        header = " ".join(
            (
                f"<{priority}>1",
                rfc3339_timestamp(timestamp),
                header_field(self.hostname, HOSTNAME_MAX),
                header_field(app_name, APP_NAME_MAX),
                header_field(self.procid, PROCID_MAX),
                header_field(override.msgid or self.msgid or stream, MSGID_MAX),
                sd,
            )
        )
        prefix = _utf8(header) + b" " + (BOM if self.utf8_bom else b"")
        return fit_message(prefix, _utf8(text), self.max_bytes)


#: Streams x tenants of one sink are a few hundred at most; the bound only keeps odd callers in check.
_PARTS_MEMO_SIZE = 4096


def _utf8(text: str) -> bytes:
    # A lone surrogate (possible in JSON-decoded text) cannot be UTF-8: it becomes "?" rather
    # than failing the whole batch.
    return text.encode("utf-8", errors="replace")


def frame(message: bytes, framing: Framing) -> bytes:
    """Frame one message for a TCP/TLS stream."""
    return frame_octet_counting(message) if framing == "octet-counting" else frame_lf(message)
