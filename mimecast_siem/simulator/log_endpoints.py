"""The DLP, archive search/view, search and rejection log endpoints (mimecast-api.md 4.9, 4.11, 4.13).

They share the log endpoint skeleton of ``streams.py`` (window, inclusive bounds, newest first
unless ``oldestFirst``, signed page tokens bound to the filters); this module adds their filters
and where their records sit.
"""

from __future__ import annotations

from typing import Any

from mimecast_siem.simulator.log_records import DLP_ACTIONS, REJECTION_TYPES
from mimecast_siem.simulator.logstore import Predicate
from mimecast_siem.simulator.registry import RequestFailed, endpoint
from mimecast_siem.simulator.streams import (
    LogEndpointSpec,
    _all_of,
    _bool,
    _enum,
    _log_handler,
    _search_by,
    _str_list,
    start_of_day,
)
from mimecast_siem.simulator.wire import ERR_BAD_VALUE, ERR_BLANK
from mimecast_siem.simulator.world import Account

DLP_ROUTES = ("inbound", "outbound", "internal", "external")
DLP_SEARCH_FIELDS = ("senderAddress", "recipientAddress", "subject", "policy", "all")
REJECTION_SEARCH_FIELDS = ("all", "from", "to", "type", "info", "remoteIp")


def _query(item: dict[str, Any], fields: tuple[str, ...]) -> Predicate | None:
    """``query``: a case-insensitive substring across ``fields`` (archive logs)."""
    query = item.get("query")
    if query is None or query == "":
        return None
    if not isinstance(query, str):
        raise RequestFailed(ERR_BAD_VALUE, f"query={query!r} is invalid; allowed: a string", key=item)
    needle = query.lower()
    return lambda b, i: any(needle in str(b.records[i].get(f, "")).lower() for f in fields)


def _dlp_filters(item: dict[str, Any], account: Account, now: float) -> Predicate | None:
    actions = _str_list(item, "actions", DLP_ACTIONS)
    routes = _str_list(item, "routes", DLP_ROUTES)
    field = _enum(item, "searchField", DLP_SEARCH_FIELDS)
    query = item.get("query")
    if field is not None and (not isinstance(query, str) or not query.strip()):
        raise RequestFailed(ERR_BLANK, "query is required when searchField is set", key=item)
    preds: list[Predicate | None] = []
    if actions:
        wanted = set(actions)
        preds.append(lambda b, i: b.records[i]["action"] in wanted)
    if routes:
        wanted_routes = set(routes)
        preds.append(lambda b, i: b.records[i]["route"] in wanted_routes)
    if field is not None and isinstance(query, str):
        fields = ("senderAddress", "recipientAddress", "subject", "policy") if field == "all" else (field,)
        preds.append(_query({"query": query}, fields))
    return _all_of(*preds)


def _search_log_filters(item: dict[str, Any], account: Account, now: float) -> Predicate | None:
    return _query(item, ("emailAddr", "searchText", "searchReason", "description"))


def _view_log_filters(item: dict[str, Any], account: Account, now: float) -> Predicate | None:
    # "Query text that filters across the viewer, message from, message to, and subject fields."
    return _query(item, ("viewer", "from", "to", "subject"))


def _rejection_filters(item: dict[str, Any], account: Account, now: float) -> Predicate | None:
    admin = _bool(item, "admin", False)
    mailbox = item.get("mailbox")
    if mailbox is not None and not isinstance(mailbox, str):
        raise RequestFailed(ERR_BAD_VALUE, f"mailbox={mailbox!r} is invalid; allowed: an email address", key=item)
    search = _search_by(item, REJECTION_SEARCH_FIELDS)
    preds: list[Predicate | None] = []
    # Without admin (or with a mailbox) only one user's rejections: the app's own mailbox by default.
    if mailbox or not admin:
        owner = (mailbox or account.profile.own_mailbox).lower()
        preds.append(lambda b, i: b.records[i]["toAddress"].lower() == owner)
    if search is not None:
        field, needle = search
        by_field = {"from": "fromAddress", "to": "toAddress", "type": "type", "info": "info", "remoteIp": "ipAddress"}
        fields = tuple(by_field.values()) if field == "all" else (by_field[field],)
        preds.append(lambda b, i: any(needle in str(b.records[i][f]).lower() for f in fields))
    return _all_of(*preds)


def _source(stream: str) -> Any:
    return lambda account: account.streams[stream].bucket


#: The endpoints of this module (paths → specs), like ``streams.LOG_ENDPOINTS``.
MORE_LOG_ENDPOINTS: dict[str, LogEndpointSpec] = {
    "/api/dlp/get-logs": LogEndpointSpec(
        "dlp", "dlpLogs", "from", "to", False, None, start_of_day, _dlp_filters, _source("dlp")
    ),
    "/api/archive/get-archive-search-logs": LogEndpointSpec(
        "archive-search", "logs", "start", "end", False, None, start_of_day, _search_log_filters,
        _source("archive-search"),
    ),
    "/api/archive/get-search-logs": LogEndpointSpec(
        "search", "logs", "start", "end", False, None, start_of_day, _search_log_filters, _source("search")
    ),
    "/api/archive/get-view-logs": LogEndpointSpec(
        "archive-view", None, "start", "end", False, None, start_of_day, _view_log_filters, _source("archive-view")
    ),
    "/api/gateway/get-rejections": LogEndpointSpec(
        "rejections", None, "start", "end", False, None, start_of_day, _rejection_filters, _source("rejections")
    ),
}  # fmt: skip

for _path, _spec in MORE_LOG_ENDPOINTS.items():
    endpoint(_path)(_log_handler(_spec))

__all__ = ["MORE_LOG_ENDPOINTS", "REJECTION_TYPES"]
