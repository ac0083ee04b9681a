"""Wire formats of the Mimecast API 2.0 as the simulator speaks them: dates and envelopes.

Pure functions only. Dates go out as ``YYYY-MM-DDTHH:MM:SS+0000`` and are accepted with ``+0000``,
``+00:00``, ``Z`` or any other numeric offset, with optional fractional seconds
(mimecast-api.md section 2.4).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

#: Error codes. ``err_validation_null`` and ``err_xdk_client_unauthorized`` come from the sources
#: (mimecast-api.md sections 1.3, 6); the others are the simulator's own plausible inventions, listed
#: in docs/simulator.md so nobody mistakes them for documented Mimecast codes.
ERR_NULL = "err_validation_null"
ERR_BLANK = "err_validation_blank"
ERR_BAD_DATE = "err_validation_invalid_date"
ERR_DATE_RANGE = "err_validation_date_range"
ERR_BAD_VALUE = "err_validation_invalid_value"
ERR_PAGE_SIZE = "err_validation_max_value"
ERR_PAGE_TOKEN = "err_invalid_page_token"  # noqa: S105 - an error code, not a secret
ERR_UNAUTHORIZED = "err_xdk_client_unauthorized"
ERR_RATE_LIMIT = "err_rate_limit_exceeded"
ERR_NOT_FOUND = "err_resource_not_found"
ERR_METHOD = "err_method_not_allowed"
ERR_BAD_BODY = "err_invalid_request_body"
ERR_INTERNAL = "err_internal_server_error"

_DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$",
)


def format_time(epoch: float) -> str:
    """Format epoch seconds as Mimecast does: ``2026-11-25T10:00:00+0000`` (seconds precision)."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_time(value: object) -> float:
    """Parse a Mimecast request date into epoch seconds.

    Raises:
        ValueError: ``value`` is not an ISO-8601 date-time with ``Z`` or a numeric UTC offset.
    """
    if not isinstance(value, str):
        raise ValueError("expected a string")
    match = _DATE_RE.match(value.strip())
    if match is None:
        raise ValueError("expected YYYY-MM-DDTHH:MM:SS+0000 (also accepted: +00:00, Z)")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone == "Z":
        tz = UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if offset >= timedelta(hours=24):
            raise ValueError("UTC offset out of range")
        tz = timezone(sign * offset)
    try:
        dt = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    stamp = dt.timestamp()
    if fraction:
        stamp += int(fraction) / 10 ** len(fraction)
    return stamp


def error(code: str, message: str, *, retryable: bool = False) -> dict[str, Any]:
    """One entry of ``fail[].errors[]``."""
    return {"code": code, "message": message, "retryable": retryable}


def failure(key: Any, code: str, message: str, *, retryable: bool = False) -> dict[str, Any]:
    """One entry of ``fail[]``: the request item that failed and why."""
    return {"key": key, "errors": [error(code, message, retryable=retryable)]}


def envelope(
    data: list[Any],
    fail: list[dict[str, Any]] | None = None,
    *,
    status: int = 200,
    pagination: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The response envelope of mimecast-api.md section 2.2."""
    meta: dict[str, Any] = {"status": status}
    if pagination is not None:
        meta["pagination"] = pagination
    return {"meta": meta, "data": data, "fail": fail or []}


def error_envelope(status: int, code: str, message: str, *, retryable: bool = False) -> dict[str, Any]:
    """A non-200 answer with a ``fail[]`` body (401, 404, 429, 500 ...)."""
    return {
        "meta": {"status": status},
        "data": [],
        "fail": [{"message": message, "errors": [error(code, message, retryable=retryable)]}],
    }
