"""Simulated URL protection and threat remediation endpoints (mimecast-api.md sections 5.5, 5.7)."""

from __future__ import annotations

import base64
import re
import zlib
from typing import Any
from urllib.parse import urlsplit

from mimecast_siem.simulator.actions_seed import managed_url_record
from mimecast_siem.simulator.actions_support import (
    ActionsState,
    need,
    need_str,
    new_id,
    not_found,
    one_of,
    optional_time,
    per_item,
    state_of,
)
from mimecast_siem.simulator.registry import ApiRequest, ApiResult, RequestFailed, endpoint
from mimecast_siem.simulator.wire import ERR_BAD_VALUE, ERR_NULL, format_time
from mimecast_siem.simulator.world import World

ERR_URL_EXISTS = "err_managed_url_exists_code"  # mimecast-api.md section 5.5
ERR_URL_NOT_DECODABLE = "err_url_decode_failed"  # simulator invention
ERR_INCIDENT_MISSING = "err_remediation_incident_not_found"  # simulator invention
_HASH = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$")
REWRITE_HOST = "protect-eu.mimecast.com"


def rewrite_url(url: str) -> str:
    """How the simulator "Mimecast-rewrites" a URL (decode-url reverses it)."""
    token = base64.urlsafe_b64encode(zlib.compress(url.encode())).decode().rstrip("=")
    host = urlsplit(url).hostname or "unknown"
    return f"https://{REWRITE_HOST}/s/{token}?domain={host}"


def _decode(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.hostname != REWRITE_HOST or not parts.path.startswith("/s/"):
        return None
    token = parts.path[3:]
    try:
        return zlib.decompress(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))).decode()
    except (ValueError, zlib.error, UnicodeDecodeError):
        return None


@endpoint("/api/ttp/url/create-managed-url")
def create_managed_url(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        url = need_str(item, "url")
        try:  # an odd URL (``a]b``, a port past 65535) is the caller's mistake: fail[], never a 500
            parts = urlsplit(url if "://" in url else f"https://{url}")
            _ = parts.port
        except ValueError:
            raise RequestFailed(ERR_BAD_VALUE, "url is not a valid URL", key=item) from None
        if not parts.hostname:
            raise RequestFailed(ERR_BAD_VALUE, "url has no host name", key=item)
        action = one_of(item, "action", ("block", "permit"))
        match_type = one_of(item, "matchType", ("explicit", "domain"), required=False) or "explicit"
        for existing in state.managed_urls.values():
            if existing["url"] == url and existing["matchType"] == match_type:
                raise RequestFailed(
                    ERR_URL_EXISTS, f"{url} is already a managed URL; delete and recreate it to change it", key=item
                )
        mid = new_id(state, request.account, "managed-url")
        state.managed_urls[mid] = managed_url_record(mid, url, str(action), match_type, item)
        return state.managed_urls[mid]

    return per_item(request, handle)


@endpoint("/api/ttp/url/get-all-managed-urls")
def get_managed_urls(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)
    item = request.item
    rows = list(state.managed_urls.values())
    wanted = item.get("domainOrUrl")
    if wanted:
        exact = bool(item.get("exactMatch"))
        rows = [r for r in rows if (r["url"] == wanted or r["domain"] == wanted) or (not exact and wanted in r["url"])]
    text = item.get("domainOrComment")
    if text:
        rows = [r for r in rows if text in r["domain"] or text in r["comment"] or text in r["url"]]
    filters = item.get("filterBy") or []
    if not isinstance(filters, list):
        raise RequestFailed(ERR_BAD_VALUE, "filterBy must be a list")
    actions = set()
    for f in filters:
        value = f.get("value") if isinstance(f, dict) else None
        if value not in ("all", "permitted", "blocked"):
            raise RequestFailed(ERR_BAD_VALUE, "filterBy value is invalid; allowed: all, permitted, blocked")
        actions |= {"permit", "block"} if value == "all" else {"permit" if value == "permitted" else "block"}
    if actions:
        rows = [r for r in rows if r["action"] in actions]
    if item.get("sortByUrl"):
        order = one_of(item, "sortOrder", ("asc", "desc"), required=False) or "asc"
        rows.sort(key=lambda r: r["url"], reverse=order == "desc")
    return ApiResult(data=rows)


@endpoint("/api/ttp/url/decode-url")
def decode_url(request: ApiRequest, world: World) -> ApiResult:
    def handle(item: dict[str, Any]) -> dict[str, Any]:
        url = need_str(item, "url")
        decoded = _decode(url)
        if decoded is None:
            raise RequestFailed(ERR_URL_NOT_DECODABLE, "the URL is not a Mimecast-rewritten URL", key=item)
        return {"url": decoded, "success": True}

    return per_item(request, handle, max_items=25)


# --- remediation ------------------------------------------------------------------------------------------


def _matches(state: ActionsState, search_by: str, value: str) -> list[dict[str, Any]]:
    if search_by == "hash":
        return [m for m in state.messages.values() if any(a["sha256"] == value.lower() for a in m["attachments"])]
    if search_by == "messageId":
        return [m for m in state.messages.values() if m["messageId"] == value]
    return []


@endpoint("/api/ttp/remediation/create")
def create_incident(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        reason = need_str(item, "reason")
        search_by = one_of(item, "searchBy", ("hash", "messageId", "url"), required=False) or "hash"
        start, end = optional_time(item, "start"), optional_time(item, "end")
        if search_by == "url":
            value = need_str(item, "url")
        else:
            value = need_str(item, "hashOrMessageId")
            if search_by == "hash" and not _HASH.match(value.lower()):
                raise RequestFailed(ERR_BAD_VALUE, "hashOrMessageId is not an MD5, SHA-1 or SHA-256 hash", key=item)
        found = _matches(state, search_by, value)
        iid = new_id(state, request.account, "incident")
        state.incidents[iid] = {
            "id": iid,
            "code": f"TR-{request.account.profile.company[:4].upper()}-{state.counter}",
            "type": "manual",
            "reason": reason,
            "identified": len(found),
            "successful": len(found),
            "failed": 0,
            "restored": 0,
            "create": format_time(request.now),
            "modified": format_time(request.now),
            "searchCriteria": {
                "start": format_time(start) if start else None,
                "end": format_time(end) if end else None,
                "messageId": value if search_by == "messageId" else None,
                "fileHash": value if search_by == "hash" else None,
                "url": value if search_by == "url" else None,
            },
        }
        return state.incidents[iid]

    return per_item(request, handle)


@endpoint("/api/ttp/remediation/get-incident")
def get_incident(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        key = need(item, "id")
        for incident in state.incidents.values():
            if key in (incident["id"], incident["code"]):
                return incident
        raise not_found(f"remediation incident {key!r}", item, ERR_INCIDENT_MISSING)

    return per_item(request, handle)


@endpoint("/api/ttp/remediation/find-incidents")
def find_incidents(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)
    item = request.item
    if not any(item.get(k) is not None for k in ("start", "end", "searchBy", "filterBy")):
        raise RequestFailed(ERR_NULL, "give at least one of start, end, searchBy, filterBy")
    rows = list(state.incidents.values())
    search = item.get("searchBy")
    if isinstance(search, dict):
        field = one_of(search, "fieldName", ("all", "code", "file_hash", "reason"), required=False) or "all"
        value = str(search.get("value") or "").lower()
        keys = {"code": ("code",), "reason": ("reason",), "file_hash": ()}.get(field, ("code", "reason"))

        def hit(i: dict[str, Any]) -> bool:
            texts = [str(i[k]) for k in keys] + (
                [str(i["searchCriteria"].get("fileHash"))] if field in ("file_hash", "all") else []
            )
            return any(value in t.lower() for t in texts)

        rows = [i for i in rows if hit(i)]
    for f in item.get("filterBy") or []:
        if not isinstance(f, dict):
            raise RequestFailed(ERR_BAD_VALUE, "filterBy entries must be objects")
        kind = one_of(f, "value", ("notify_only", "automatic", "manual", "restored"))
        rows = [i for i in rows if i["type"] == kind]
    return ApiResult(data=rows)


@endpoint("/api/ttp/remediation/search-hash")
def search_hash(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)
    hashes = need(request.item, "hashes")
    if not isinstance(hashes, list):
        raise RequestFailed(ERR_BAD_VALUE, "hashes must be a list")
    status, failed = [], []
    seen = {a["sha256"] for m in state.messages.values() for a in m["attachments"]}
    for h in hashes:
        if not isinstance(h, str) or not _HASH.match(h.lower()):
            failed.append({"hash": h, "code": "err_invalid_hash"})
        else:
            status.append({"hash": h, "detected": h.lower() in seen})
    return ApiResult(data=[{"hashStatus": status, "failedHashes": failed}])
