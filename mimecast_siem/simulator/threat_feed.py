"""The threat-intel feed endpoint: ``POST /api/ttp/threat-intel/get-feed`` answering STIX 2.1 bundles.

mimecast-api.md section 4.12: the body is ``{"data": [{"start", "end", "feedType", "fileType",
"token"?}]}`` without ``meta``; the answer is a STIX bundle (not the usual envelope) whose
``objects[]`` hold ``indicator`` objects (and others, here the Mimecast ``identity``). When more
objects follow, the continuation token is in the ``X-Mc-Threat-Feed-Next-Token`` response header;
the client sends it back as ``data[0].token`` and leaves ``start``/``end`` out. The feed data is in
``threat_feed_store.py``.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from typing import Any

import orjson

from mimecast_siem.simulator.config import THREAT_FEEDS
from mimecast_siem.simulator.logstore import WalkRange, walk
from mimecast_siem.simulator.pagetoken import PageCursor, PageTokenError, filter_digest
from mimecast_siem.simulator.registry import ApiRequest, ApiResult, RequestFailed, endpoint
from mimecast_siem.simulator.threat_feed_store import MIMECAST_IDENTITY, ThreatFeed
from mimecast_siem.simulator.wire import (
    ERR_BAD_DATE,
    ERR_BAD_VALUE,
    ERR_DATE_RANGE,
    ERR_NULL,
    ERR_PAGE_TOKEN,
    parse_time,
)
from mimecast_siem.simulator.world import World

FEED_PATH = "/api/ttp/threat-intel/get-feed"
NEXT_TOKEN_HEADER = "X-Mc-Threat-Feed-Next-Token"  # noqa: S105 - a header name, not a secret
FEED_TYPES: dict[str, str] = {feed_type: stream for stream, feed_type in THREAT_FEEDS.items()}
FILE_TYPES = ("stix", "csv")
#: Default window start when a request gives none.
DEFAULT_LOOKBACK = 86400.0


def _date(item: dict[str, Any], key: str) -> float | None:
    if item.get(key) is None:
        return None
    try:
        return parse_time(item[key])
    except ValueError as exc:
        raise RequestFailed(ERR_BAD_DATE, f"{key}={item[key]!r} is not a valid date: {exc}", key=item) from None


def _bundle(objects: list[dict[str, Any]], cursor_text: str) -> bytes:
    bundle_id = "bundle--" + str(
        uuid.UUID(bytes=hashlib.blake2b(cursor_text.encode(), digest_size=16).digest(), version=4)
    )
    return orjson.dumps({"type": "bundle", "id": bundle_id, "objects": [MIMECAST_IDENTITY, *objects]})


@endpoint(FEED_PATH)
def get_threat_feed(request: ApiRequest, world: World) -> ApiResult:
    """One page of a threat-intel feed as a STIX 2.1 bundle; the next token rides in a header."""
    item = request.item
    feed_type = item.get("feedType")
    if feed_type is None:
        raise RequestFailed(ERR_NULL, "feedType is required and must not be null", key=item)
    if feed_type not in FEED_TYPES:
        raise RequestFailed(
            ERR_BAD_VALUE, f"feedType={feed_type!r} is invalid; allowed: {', '.join(FEED_TYPES)}", key=item
        )
    file_type = item.get("fileType", "csv")
    if file_type not in FILE_TYPES:
        raise RequestFailed(
            ERR_BAD_VALUE, f"fileType={file_type!r} is invalid; allowed: {', '.join(FILE_TYPES)}", key=item
        )
    if file_type != "stix":
        raise RequestFailed(ERR_BAD_VALUE, "fileType=csv is not served by the simulator; use stix", key=item)
    stream = FEED_TYPES[feed_type]
    account = request.account
    feed: ThreatFeed = account.feeds[stream]
    digest = filter_digest({"feedType": feed_type, "fileType": file_type})
    token = item.get("token")
    if token not in (None, ""):
        if not isinstance(token, str):
            raise RequestFailed(ERR_PAGE_TOKEN, "token must be a string", key=item)
        try:
            cursor = world.page_tokens.decode(token, stream=stream, client_id=account.client_id, digest=digest)
        except PageTokenError as exc:
            raise RequestFailed(ERR_PAGE_TOKEN, f"token is invalid: {exc}", key=item) from None
    else:
        now = request.now
        start, end = _date(item, "start"), _date(item, "end")
        start = now - DEFAULT_LOOKBACK if start is None else start
        end = now if end is None else end
        if start > end:
            raise RequestFailed(ERR_DATE_RANGE, "start must not be after end", key=item)
        cursor = PageCursor(stream, account.client_id, digest, math.ceil(start), math.floor(end), now, False, None)
    page_size = world.config.threat_feeds.page_size
    walk_range = WalkRange(max(cursor.lo, feed.origin), cursor.hi, cursor.cutoff, False, cursor.after)
    page = walk(feed.bucket, walk_range, None, page_size)
    headers: dict[str, str] = {}
    if page.has_more:
        moved = PageCursor(cursor.stream, cursor.client_id, cursor.digest, cursor.lo, cursor.hi, cursor.cutoff, False,
                           page.last_key)  # fmt: skip
        headers[NEXT_TOKEN_HEADER] = world.page_tokens.encode(moved)
    body = _bundle(list(page.records), f"{stream}|{cursor.lo}|{cursor.hi}|{cursor.after}")
    return ApiResult(
        raw=body, content_type="application/json", headers=headers, stream=stream, records=len(page.records)
    )
