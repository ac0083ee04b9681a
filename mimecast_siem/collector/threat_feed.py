"""The threat-intel feed walk: STIX bundles paged by a token that arrives in a response header.

``POST /api/ttp/threat-intel/get-feed`` (mimecast-api.md 4.12) differs from every other log
endpoint in three ways, handled here so the rest of the data path treats the feeds as ordinary
time-windowed log streams:

* the answer is a STIX bundle ``{"type": "bundle", "objects": [...]}``, not the ``meta``/``data``
  envelope (a ``fail[]`` on a 200 is still an error: the client raises it);
* the continuation token is the ``X-Mc-Threat-Feed-Next-Token`` response header, not
  ``meta.pagination.next``;
* the token goes back as ``data[0].token`` with ``start``/``end`` left out (the token carries the
  window), and no ``meta`` is sent at all.

Only ``indicator`` objects become records; the other objects of a bundle (the Mimecast ``identity``,
relationships ...) are counted for the walk but not delivered. A token that repeats raises
``PaginationLoopError`` like any other walk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from mimecast_siem.errors import ResponseFormatError
from mimecast_siem.mimecast import ApiResponse, Page, PageCursor, Priority

FEED_PATH = "/api/ttp/threat-intel/get-feed"
NEXT_TOKEN_HEADER = "X-Mc-Threat-Feed-Next-Token"  # noqa: S105 - a header name, not a secret
#: Window fields of the first request (left out once a token is sent).
WINDOW_FIELDS = ("start", "end")


class FeedClient(Protocol):
    """What the walk needs of the Mimecast client (``MimecastClient`` satisfies it)."""

    async def request(
        self,
        path: str,
        data: Sequence[Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        *,
        priority: Priority = Priority.LIVE,
        max_wait: float | None = None,
    ) -> ApiResponse:
        """POST ``{"data": data}`` and return the answer."""
        ...


def next_feed_token(headers: Mapping[str, str]) -> str | None:
    """The continuation token of an answer (header name compared case-insensitively), or ``None``."""
    value = headers.get(NEXT_TOKEN_HEADER)
    if value is None:
        lowered = NEXT_TOKEN_HEADER.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    value = value.strip() if isinstance(value, str) else None
    return value or None


def continuation_item(item: Mapping[str, Any], token: str | None) -> dict[str, Any]:
    """The ``data[0]`` to send: ``item`` as is for the first page, ``item`` + token without the window after."""
    if token is None:
        return dict(item)
    follow = {k: v for k, v in item.items() if k not in WINDOW_FIELDS}
    follow["token"] = token
    return follow


def bundle_objects(endpoint: str, status: int, document: Any) -> list[dict[str, Any]]:
    """The ``objects[]`` of a STIX bundle answer; :class:`ResponseFormatError` when it is not one."""
    if not isinstance(document, Mapping):
        raise ResponseFormatError(
            f"Mimecast answered {endpoint} with HTTP {status} and a JSON {type(document).__name__}; "
            "expected a STIX bundle object",
            endpoint=endpoint,
            status=status,
        )
    objects = document.get("objects", [])
    if objects is None:
        return []
    if not isinstance(objects, list):
        raise ResponseFormatError(
            f"Mimecast answered {endpoint} with HTTP {status} and a STIX bundle whose objects field is a "
            f"{type(objects).__name__}; expected a list",
            endpoint=endpoint,
            status=status,
        )
    return [obj for obj in objects if isinstance(obj, dict)]


def indicators_of(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``indicator`` objects of a bundle, in bundle order."""
    return [obj for obj in objects if obj.get("type") == "indicator"]


async def feed_pages(
    client: FeedClient,
    path: str,
    item: Mapping[str, Any] | None,
    page_size: int = 500,
    record_key: str | None = None,
    *,
    priority: Priority = Priority.LIVE,
    max_wait: float | None = None,
) -> AsyncIterator[Page]:
    """Walk a threat-intel feed window page by page; each :class:`Page` holds that bundle's indicators.

    Same call shape as :meth:`MimecastClient.pages` (``page_size`` and ``record_key`` are accepted and
    ignored: the feed sets its own page size and has no record key), so the collector can use either.
    """
    base = dict(item or {})
    cursor = PageCursor(path)
    while not cursor.finished:
        response = await client.request(
            path, [continuation_item(base, cursor.token)], priority=priority, max_wait=max_wait
        )
        objects = bundle_objects(path, response.status, response.body)
        cursor.advance(next_feed_token(response.headers), len(objects))
        yield Page(records=indicators_of(objects), response=response, number=cursor.pages)
