"""Mimecast date/time strings: what we send, and everything we accept back.

Mimecast documents ISO-8601 with a numeric offset *without* a colon (``2026-11-25T10:00:00+0000``);
peers also send ``Z`` and ``+00:00`` and SIEM v2 records carry epoch milliseconds
(mimecast-api.md section 2.4). We always send the documented form and accept all of them back.
Every value in or out is UTC-aware; naive values are refused because guessing a zone loses events.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_ISO = re.compile(
    r"""^\s*
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    [T ]
    (?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?
    (?P<zone>Z|z|[+-]\d{2}:?\d{2})?
    \s*$""",
    re.VERBOSE,
)
_EPOCH_MS = re.compile(r"^\s*-?\d{10,16}(?:\.\d+)?\s*$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHOW = 64  # characters of a bad value quoted in an error message


def format_mimecast_time(when: datetime) -> str:
    """Format ``when`` the way Mimecast documents it: ``2026-11-25T10:00:00+0000``.

    Sub-second precision is dropped (Mimecast filters work on whole seconds), by truncation so a
    formatted window end never moves later than the value given.

    Args:
        when: a timezone-aware datetime; it is converted to UTC.

    Raises:
        ValueError: ``when`` is naive.
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"refusing naive datetime {when.isoformat()!r}: Mimecast times must be timezone-aware (UTC)")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_mimecast_time(value: str | int | float) -> datetime:
    """Parse a Mimecast timestamp into a UTC-aware datetime.

    Accepts ``2026-11-25T10:00:00+0000``, ``...+00:00``, ``...Z``, any non-UTC offset (converted),
    fractional seconds of any length (kept to the microsecond), and epoch milliseconds as a number or
    a string of digits.

    Raises:
        ValueError: the value is naive (no offset), empty, or not a timestamp. The message quotes the
            value (shortened) and lists the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a Mimecast timestamp, got the boolean {value!r}")
    if isinstance(value, int | float):
        return _from_epoch_ms(float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"expected a Mimecast timestamp string or epoch milliseconds, got {type(value).__name__}")
    if _EPOCH_MS.match(value):
        return _from_epoch_ms(float(value), value)
    match = _ISO.match(value)
    if match is None:
        raise ValueError(
            f"not a Mimecast timestamp: {value[:_SHOW]!r}; expected e.g. 2026-11-25T10:00:00+0000, "
            "2026-11-25T10:00:00Z, 2026-11-25T10:00:00.123+00:00 or epoch milliseconds"
        )
    zone = match["zone"]
    if zone is None:
        raise ValueError(
            f"refusing naive timestamp {value[:_SHOW]!r}: it has no UTC offset; expected e.g. 2026-11-25T10:00:00+0000"
        )
    fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
    try:
        parsed = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            int(fraction),
            tzinfo=_zone(zone),
        )
    except ValueError as exc:
        raise ValueError(f"not a valid Mimecast timestamp: {value[:_SHOW]!r} ({exc})") from None
    return parsed.astimezone(UTC)


def _zone(text: str) -> timezone:
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        raise ValueError(f"UTC offset {text} is out of range")
    offset = timedelta(hours=hours, minutes=minutes)
    return UTC if not offset else timezone(sign * offset)


def _from_epoch_ms(millis: float, original: object) -> datetime:
    # timedelta arithmetic keeps whole milliseconds exact (float division by 1000 does not).
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except (OverflowError, ValueError):
        raise ValueError(f"epoch milliseconds out of range: {str(original)[:_SHOW]!r}") from None
