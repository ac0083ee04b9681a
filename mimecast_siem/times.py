"""Times and durations: Mimecast's on the wire, and the ones people type (flags, configuration).

Mimecast documents ISO-8601 with a numeric offset *without* a colon (``2026-11-25T10:00:00+0000``);
peers also send ``Z`` and ``+00:00`` and SIEM v2 records carry epoch milliseconds
(mimecast-api.md section 2.4). We always send the documented form and accept all of them back.
Every value in or out is UTC-aware; naive values from Mimecast are refused because guessing a zone
loses events.

What a person types is read by one set of functions, whatever the flag or key: durations
(``parse_duration``: ``30s``, ``5m``, ``7d``, ``PT5M``; ``format_duration`` writes them back), absolute
times (``parse_user_time``: ISO-8601, a date alone is midnight, no offset means UTC) and "a time or a
duration back from now" (``parse_time_or_age``, resolved with ``time_back_from``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

# The extended ISO-8601 shape Mimecast and its peers send (date, T or space, hours and minutes);
# ``datetime.fromisoformat`` (3.11) reads the rest: +0000, +00:00, Z, fractions of any length.
_ISO_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_EPOCH_MS = re.compile(r"^\s*-?\d{10,16}(?:\.\d+)?\s*$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHOW = 64  # characters of a bad value quoted in an error message


class NaiveTimeError(ValueError):
    """A time without a UTC offset: refused, because guessing a zone loses events."""


def utc_now() -> datetime:
    """The wall clock, UTC-aware (the default clock of the collector's loops)."""
    return datetime.now(UTC)


def format_utc(when: datetime) -> str:
    """A time for people and log lines, in UTC to the second: ``2026-11-25T10:00:00Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


# --- what people type ------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
# ISO-8601 durations (PT5M, P1D, PT0.5S): what JSON-schema tooling and Kubernetes users write.
_ISO_DURATION = re.compile(
    r"^\s*P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?\s*$",
    re.IGNORECASE,
)
_DURATION_HELP = "expected a duration such as 30s, 5m, 1h, 2d, 500ms, a number of seconds, or ISO-8601 (PT5M)"
#: JSON-schema pattern of the duration strings :func:`parse_duration` accepts.
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d|w)?|[Pp](\d+(\.\d+)?[Ww])?(\d+(\.\d+)?[Dd])?([Tt](\d+(\.\d+)?[Hh])?(\d+(\.\d+)?[Mm])?(\d+(\.\d+)?[Ss])?)?)\s*$"


def parse_duration(value: Any) -> timedelta:
    """Parse ``90``, ``"90s"``, ``"5m"``, ``"1h"``, ``"2d"``, ``"500ms"``, ``"PT5M"`` or a timedelta.

    Raises:
        ValueError: the value is not a non-negative duration in one of those forms.
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError(_DURATION_HELP + " (not negative)")
        return value
    if isinstance(value, bool):
        raise ValueError(_DURATION_HELP)
    if isinstance(value, int | float):
        if not value >= 0:  # negative or NaN
            raise ValueError(_DURATION_HELP + " (not negative)")
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])
        iso = _ISO_DURATION.match(value)
        if iso and any(iso.groupdict().values()):
            parts = {k: float(v) for k, v in iso.groupdict().items() if v}
            seconds = sum(parts.get(u, 0.0) * _UNIT_SECONDS[u] for u in ("w", "d", "h", "m", "s"))
            return timedelta(seconds=seconds)
    raise ValueError(_DURATION_HELP)


def format_duration(value: timedelta) -> str:
    """The shortest of ``2w``, ``1d``, ``1h``, ``5m``, ``30s``, ``0.5s`` that equals ``value``."""
    seconds = value.total_seconds()
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    # Fixed-point, never exponent notation (1e+06s would not parse back).
    return f"{seconds:.6f}".rstrip("0").rstrip(".") + "s"


def parse_user_time(text: str) -> datetime:
    """An absolute time a person typed: ISO-8601 such as ``2026-10-01`` (midnight), ``2026-10-01T06:30:00Z``,
    ``...+02:00`` or ``...+0000`` (a space for the ``T`` and ``z`` in either case too). No offset means UTC.

    The offset given is kept (the same instant); callers convert to UTC when they need it.

    Raises:
        ValueError: not such a time (callers say what is allowed, naming their flag or key).
    """
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_TIME_OR_AGE_HELP = "expected a duration back from now (e.g. 1h, 7d) or an ISO-8601 time"


def parse_time_or_age(value: Any) -> datetime | timedelta:
    """A time or a duration back from now (``1h``, ``7d``, ``2026-11-01T00:00:00Z``); no offset means UTC.

    Also takes what YAML gives: a datetime, a date (midnight UTC), a number of seconds.

    Raises:
        ValueError: neither (the message says what is expected).
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):  # YAML reads 2026-11-01 as a date: midnight UTC
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        return parse_duration(value)
    except ValueError:
        pass
    if isinstance(value, str):
        try:
            return parse_user_time(value)
        except ValueError:
            raise ValueError(f"{_TIME_OR_AGE_HELP} (2026-11-01T00:00:00Z)") from None
    raise ValueError(_TIME_OR_AGE_HELP)


def time_back_from(value: datetime | timedelta, now: datetime) -> datetime:
    """The time ``value`` names: itself, or ``now`` minus a duration."""
    return now - value if isinstance(value, timedelta) else value
