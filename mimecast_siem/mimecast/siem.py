"""The SIEM (MTA) log calls of API 2.0 (mimecast-api.md 4.8): batch file lists and the event stream.

These are REST-style ``GET`` calls (query parameters, ``{"value": [...], "@nextPage": ...}``
answers, errors as ``{"error": {...}}``), made through :meth:`MimecastClient.request_rest` so they
share the token cache, the retry policy and the app's rate budget. The client knows nothing of
checkpoints: the caller keeps the ``@nextPage`` cursors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from mimecast_siem.errors import PermanentError, ResponseFormatError

if TYPE_CHECKING:
    from mimecast_siem.mimecast.client import MimecastClient
    from mimecast_siem.mimecast.ratelimit import Priority

SiemApi = Literal["cg", "ci"]
BATCH_PATHS: dict[str, str] = {"cg": "/siem/v1/batch/events/cg", "ci": "/siem/v1/batch/events/ci"}
STREAM_PATH = "/siem/v1/events/cg"


class PresignedUrlGone(PermanentError):
    """A pre-signed download URL answered 403/404: it expired (or the file is gone). List again."""


@dataclass(frozen=True, slots=True)
class BatchPage:
    """One page of a batch file listing.

    Attributes:
        urls: pre-signed URLs of gzip NDJSON files, in the order listed.
        next_page: ``@nextPage`` (the position after these files), ``None`` when absent.
        caught_up: ``isCaughtUp`` when given, else whether the page was shorter than asked.
    """

    urls: list[str]
    next_page: str | None
    caught_up: bool


@dataclass(frozen=True, slots=True)
class StreamPage:
    """One page of the SIEM event stream: records, the cursor to continue from, whether caught up."""

    records: list[dict[str, Any]]
    next_page: str | None
    caught_up: bool


def siem_day(day: date) -> str:
    """The batch endpoint's date format: ``YYYY-MM-DD``."""
    return day.isoformat()


def siem_stream_time(when: datetime) -> str:
    """The stream endpoint's time format: ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, milliseconds)."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _body(document: Any, label: str) -> dict[str, Any]:
    if not isinstance(document, dict) or not isinstance(document.get("value", []), list):
        raise ResponseFormatError(f"Mimecast's answer to {label} is not a {{value: [...]}} document", endpoint=label)
    return document


def _next(document: dict[str, Any]) -> str | None:
    token = document.get("@nextPage", document.get("nextPage"))
    return token if isinstance(token, str) and token else None


async def list_batch_files(
    client: MimecastClient,
    *,
    api: SiemApi,
    siem_type: str,
    first: date,
    last: date,
    page_size: int,
    next_page: str | None,
    priority: Priority,
) -> BatchPage:
    """One page of the files of ``siem_type`` for days ``first..last`` (inclusive)."""
    params: dict[str, Any] = {
        "type": siem_type,
        "dateRangeStartsAt": siem_day(first),
        "dateRangeEndsAt": siem_day(last),
        "pageSize": page_size,
    }
    if next_page:
        params["nextPage"] = next_page
    response = await client.request_rest("GET", BATCH_PATHS[api], params=params, priority=priority)
    document = _body(response.body, "siem-batch")
    urls = [
        item["url"] for item in document.get("value", []) if isinstance(item, dict) and isinstance(item.get("url"), str)
    ]
    caught_up = document.get("isCaughtUp")
    return BatchPage(
        urls=urls,
        next_page=_next(document),
        caught_up=bool(caught_up) if isinstance(caught_up, bool) else len(urls) < page_size,
    )


async def stream_events(
    client: MimecastClient,
    *,
    types: list[str],
    start: datetime | None,
    end: datetime | None,
    page_size: int,
    next_page: str | None,
    priority: Priority,
) -> StreamPage:
    """One page of the event stream: from ``next_page`` when given, else from ``start`` (within 24 h)."""
    params: dict[str, Any] = {"types": ",".join(types), "pageSize": page_size}
    if next_page:
        params["nextPage"] = next_page
    else:
        if start is None:
            raise ValueError("stream_events needs a start time or a nextPage cursor")
        params["dateRangeStartsAt"] = siem_stream_time(start)
        if end is not None:
            params["dateRangeEndsAt"] = siem_stream_time(end)
    response = await client.request_rest("GET", STREAM_PATH, params=params, priority=priority)
    document = _body(response.body, "siem-stream")
    records = [r if isinstance(r, dict) else {"value": r} for r in document.get("value", [])]
    caught_up = document.get("isCaughtUp")
    return StreamPage(
        records=records,
        next_page=_next(document),
        caught_up=bool(caught_up) if isinstance(caught_up, bool) else len(records) < page_size,
    )
