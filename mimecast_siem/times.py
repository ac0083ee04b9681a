"""Mimecast date/time strings: what we send, and everything we accept back.

Mimecast documents ISO-8601 with a numeric offset *without* a colon (``2026-11-25T10:00:00+0000``);
peers also send ``Z`` and ``+00:00`` and SIEM v2 records carry epoch milliseconds
(mimecast-api.md section 2.4). We always send the documented form and accept all of them back.
Every value in or out is UTC-aware; naive values are refused because guessing a zone loses events.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# The extended ISO-8601 shape Mimecast and its peers send (date, T or space, hours and minutes);
# ``datetime.fromisoformat`` (3.11) reads the rest: +0000, +00:00, Z, fractions of any length.
_ISO_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_EPOCH_MS = re.compile(r"^\s*-?\d{10,16}(?:\.\d+)?\s*$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHOW = 64  # characters of a bad value quoted in an error message


class NaiveTimeError(ValueError):
    """A time without a UTC offset: refused, because guessing a zone loses events."""


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


def parse_iso_time(text: str) -> datetime:
    """Parse an ISO-8601 time with an offset into a UTC-aware datetime (no epoch numbers).

    Accepts ``2026-11-25T10:00:00+0000``, ``+00:00``, ``Z`` (either case), any other offset
    (converted), a space or ``T`` between date and time, and fractional seconds of any length (kept
    to the microsecond): what ``datetime.fromisoformat`` reads, in the extended form.

    Raises:
        NaiveTimeError: the time has no offset.
        ValueError: anything else that is not such a time (the message quotes it, shortened).
    """
    stripped = text.strip()
    if stripped[-1:] == "z":
        stripped = stripped[:-1] + "Z"
    if _ISO_SHAPE.match(stripped) is None:
        raise ValueError(
            f"not a Mimecast timestamp: {text[:_SHOW]!r}; expected e.g. 2026-11-25T10:00:00+0000, "
            "2026-11-25T10:00:00Z, 2026-11-25T10:00:00.123+00:00 or epoch milliseconds"
        )
    try:
        parsed = datetime.fromisoformat(stripped[:10] + "T" + stripped[11:])
    except ValueError as exc:
        raise ValueError(
            f"not a valid Mimecast timestamp: {text[:_SHOW]!r} (check the date, time and UTC offset: {exc})"
        ) from None
    if parsed.tzinfo is None:
        raise NaiveTimeError(
            f"refusing naive timestamp {text[:_SHOW]!r}: it has no UTC offset; expected e.g. 2026-11-25T10:00:00+0000"
        )
    return parsed.astimezone(UTC)


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
    return parse_iso_time(value)


def _from_epoch_ms(millis: float, original: object) -> datetime:
    # timedelta arithmetic keeps whole milliseconds exact (float division by 1000 does not).
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except (OverflowError, ValueError):
        raise ValueError(f"epoch milliseconds out of range: {str(original)[:_SHOW]!r}") from None
