"""The log and queue endpoints (mimecast-api.md section 4), registered on the default registry.

Each log endpoint validates its filters (bad ones answer 200 with ``fail[]``), resolves its window
(``from``/``to`` inclusive on both ends, like the real API), and walks the tenant's records newest
first unless ``oldestFirst`` is true, handing out signed page tokens bound to the filters.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mimecast_siem.simulator.logstore import BUCKET_SECONDS, Bucket, BucketSource, Predicate, WalkRange, walk
from mimecast_siem.simulator.pagetoken import PageCursor, PageTokenError, filter_digest
from mimecast_siem.simulator.records import derive_seed
from mimecast_siem.simulator.registry import ApiRequest, ApiResult, RequestFailed, endpoint
from mimecast_siem.simulator.wire import (
    ERR_BAD_DATE,
    ERR_BAD_VALUE,
    ERR_BLANK,
    ERR_DATE_RANGE,
    ERR_NULL,
    ERR_PAGE_TOKEN,
    format_time,
    parse_time,
)
from mimecast_siem.simulator.world import Account, World

AUDIT_MAX_AGE = 60 * 86400
RELEASE_LOG_DEFAULT_AGE = 30 * 86400

TTP_ROUTES = ("all", "inbound", "outbound", "internal")
ATTACHMENT_ROUTES = ("all", "inbound", "outbound", "internal", "external")
URL_SCAN_RESULTS = ("all", "clean", "malicious")
ATTACHMENT_RESULTS = ("all", "clean", "malicious", "unknown", "timeout", "safe")
IMPERSONATION_SEARCH_FIELDS = ("senderAddress", "recipientAddress", "subject", "policy", "all")
IMPERSONATION_ACTIONS = ("none", "hold", "bounce")
IMPERSONATION_IDENTIFIERS = (
    "newly_observed_domain", "internal_user_name", "reply_address_mismatch", "targeted_threat_dictionary",
    "similar_internal_domain", "custom_external_domain", "mimecast_external_domain", "custom_name_list",
    "advanced_similar_internal_domain", "advanced_custom_external_domain", "advanced_mimecast_external_domain",
)  # fmt: skip
AUDIT_CATEGORIES = (
    "account_logs", "policy_logs", "authentication_logs", "archive_service_logs", "journaling_logs",
    "branding_logs", "awareness_training_logs", "reporting_logs", "integrations_and_apis",
    "continuity_services_logs", "case_review_logs",
)  # fmt: skip
HOLD_SEARCH_FIELDS = ("all", "subject", "sender", "recipient", "reason_code")
HOLD_ROUTES = ("all", "internal", "outbound", "inbound", "external")
HOLD_GROUPS = ("administrator", "moderator", "user", "cluster")
RELEASE_SEARCH_FIELDS = ("all", "operator", "from", "to", "subject", "info", "heldReason")


# -- filter parsing (pure) -------------------------------------------------------------------------


def _enum(item: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    value = item.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise RequestFailed(ERR_BAD_VALUE, f"{key}={value!r} is invalid; allowed: {', '.join(allowed)}", key=item)
    return value


def _bool(item: dict[str, Any], key: str, default: bool | None = None) -> bool | None:
    value = item.get(key, default)
    if value is None or isinstance(value, bool):
        return value
    raise RequestFailed(ERR_BAD_VALUE, f"{key}={value!r} is invalid; allowed: true, false", key=item)


def _str_list(item: dict[str, Any], key: str, allowed: tuple[str, ...] | None) -> list[str] | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RequestFailed(ERR_BAD_VALUE, f"{key}={value!r} is invalid; allowed: a list of strings", key=item)
    if allowed is not None:
        for v in value:
            if v not in allowed:
                raise RequestFailed(ERR_BAD_VALUE, f"{key} contains {v!r}; allowed: {', '.join(allowed)}", key=item)
    return value


def _date(item: dict[str, Any], key: str) -> float | None:
    if key not in item or item[key] is None:
        return None
    try:
        return parse_time(item[key])
    except ValueError as exc:
        raise RequestFailed(ERR_BAD_DATE, f"{key}={item[key]!r} is not a valid date: {exc}", key=item) from None


def _all_of(*predicates: Predicate | None) -> Predicate | None:
    active = [p for p in predicates if p is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]
    return lambda bucket, i: all(p(bucket, i) for p in active)


def _field_equals(field: str, value: str | None, wildcard: str = "all") -> Predicate | None:
    if value is None or value == wildcard:
        return None
    return lambda bucket, i: bucket.records[i].get(field) == value


# -- the log endpoint skeleton -----------------------------------------------------------------------


@dataclass(frozen=True)
class LogEndpointSpec:
    """How one paged log endpoint reads its request and where its records sit.

    Attributes:
        stream: Stream name (bound into page tokens; used in statistics and ground truth).
        record_key: Records sit in ``data[0][record_key]``; ``None`` = flat ``data[]``.
        from_key: Window start field.
        to_key: Window end field.
        required_window: Both window fields are required (``err_validation_null`` otherwise).
        max_age: Oldest allowed window start, seconds before now.
        default_from: Window start when none is given, from "now".
        filters: Validates the request item and returns the record predicate.
        source: The bucket source of a tenant.
        count_key: Name of a count field added next to the records (``resultCount``).
    """

    stream: str
    record_key: str | None
    from_key: str
    to_key: str
    required_window: bool
    max_age: float | None
    default_from: Callable[[float], float]
    filters: Callable[[dict[str, Any], Account, float], Predicate | None]
    source: Callable[[Account], BucketSource]
    count_key: str | None = None


def start_of_day(now: float) -> float:
    """Midnight UTC of the day containing ``now`` (the TTP logs' default ``from``)."""
    return float(int(now) // 86400 * 86400)


def serve_log_page(spec: LogEndpointSpec, request: ApiRequest, world: World) -> ApiResult:
    """One page of a log endpoint (shared by every stream)."""
    item = request.item
    page_size = request.page_size()
    account = request.account
    now = request.now
    predicate = spec.filters(item, account, now)
    digest = filter_digest(item)
    token = request.page_token
    if token is not None:
        try:
            cursor = world.page_tokens.decode(token, stream=spec.stream, client_id=account.client_id, digest=digest)
        except PageTokenError as exc:
            raise RequestFailed(ERR_PAGE_TOKEN, f"pageToken is invalid: {exc}", key=item) from None
    else:
        cursor = _first_cursor(spec, item, account, now, digest)
    origin = _origin(spec, account)
    walk_range = WalkRange(max(cursor.lo, origin), cursor.hi, cursor.cutoff, cursor.descending, cursor.after)
    page = walk(spec.source(account), walk_range, predicate, page_size)
    pagination: dict[str, Any] = {"pageSize": page_size}
    faults = world.faults.settings
    if page.has_more:
        if faults.repeat_page_token and token is not None:
            pagination["next"] = token
            world.stats.faults["repeat_page_token"] += 1
        else:
            pagination["next"] = world.page_tokens.encode(_moved(cursor, page.last_key))
    elif faults.next_on_last_page:
        pagination["next"] = world.page_tokens.encode(_moved(cursor, page.last_key or cursor.after))
        world.stats.faults["next_on_last_page"] += 1
    if spec.record_key is None:
        data: list[Any] = list(page.records)
    else:
        entry: dict[str, Any] = {spec.record_key: page.records}
        if spec.count_key:
            entry[spec.count_key] = len(page.records)
        data = [entry]
    return ApiResult(data=data, pagination=pagination, stream=spec.stream, records=len(page.records))


def _origin(spec: LogEndpointSpec, account: Account) -> int:
    if spec.stream == "held-release":
        return account.holds.origin
    return account.streams[spec.stream].origin


def _moved(cursor: PageCursor, after: tuple[int, int] | None) -> PageCursor:
    return PageCursor(
        cursor.stream, cursor.client_id, cursor.digest, cursor.lo, cursor.hi, cursor.cutoff, cursor.descending, after
    )


def _first_cursor(spec: LogEndpointSpec, item: dict[str, Any], account: Account, now: float, digest: str) -> PageCursor:
    start = _date(item, spec.from_key)
    end = _date(item, spec.to_key)
    if spec.required_window:
        missing = [k for k, v in ((spec.from_key, start), (spec.to_key, end)) if v is None]
        if missing:
            raise RequestFailed(ERR_NULL, f"{missing[0]} is required and must not be null", key=item)
    if start is None:
        start = spec.default_from(now)
    if end is None:
        end = now
    if start > end:
        raise RequestFailed(ERR_DATE_RANGE, f"{spec.from_key} must not be after {spec.to_key}", key=item)
    if spec.max_age is not None and start < now - spec.max_age:
        days = int(spec.max_age // 86400)
        raise RequestFailed(
            ERR_DATE_RANGE,
            f"{spec.from_key}={item.get(spec.from_key)!r} is older than the last {days} days allowed",
            key=item,
        )
    oldest_first = _bool(item, "oldestFirst", False)
    return PageCursor(
        spec.stream, account.client_id, digest, math.ceil(start), math.floor(end), now, not oldest_first, None
    )


# -- per-stream filters ----------------------------------------------------------------------------


def _url_filters(item: dict[str, Any], account: Account, now: float) -> Predicate | None:
    route = _enum(item, "route", TTP_ROUTES)
    scan = _enum(item, "scanResult", URL_SCAN_RESULTS)
    return _all_of(_field_equals("route", route), _field_equals("scanResult", scan))


def _attachment_filters(item: dict[str, Any], account: Account, now: float) -> Predicate | None:
    route = _enum(item, "route", ATTACHMENT_ROUTES)
    result = _enum(item, "result", ATTACHMENT_RESULTS)
    return _all_of(_field_equals("route", route), _field_equals("result", result))


def _impersonation_filters(item: dict[str, Any], account: Account, now: float) -> Predicate | None:
    tagged = _bool(item, "taggedMalicious")
    field = _enum(item, "searchField", IMPERSONATION_SEARCH_FIELDS)
    query = item.get("query")
    if field is not None and (not isinstance(query, str) or not query.strip()):
        raise RequestFailed(ERR_BLANK, "query is required when searchField is set", key=item)
    identifiers = _str_list(item, "identifiers", IMPERSONATION_IDENTIFIERS)
    actions = _str_list(item, "actions", IMPERSONATION_ACTIONS)
    preds: list[Predicate | None] = []
    if tagged is not None:
        preds.append(lambda b, i: b.records[i]["taggedMalicious"] is tagged)
    if field is not None and isinstance(query, str):
        needle = query.lower()
        fields = (
            ("senderAddress", "recipientAddress", "subject", "definition")
            if field == "all"
            else ("definition" if field == "policy" else field,)
        )
        preds.append(lambda b, i: any(needle in str(b.records[i][f]).lower() for f in fields))
    if identifiers:
        wanted = set(identifiers)
        preds.append(lambda b, i: not wanted.isdisjoint(b.records[i]["identifiers"]))
    if actions:
        allowed = set(actions)
        preds.append(lambda b, i: b.records[i]["action"] in allowed)
    return _all_of(*preds)


def _audit_filters(item: dict[str, Any], account: Account, now: float) -> Predicate | None:
    categories = _str_list(item, "categories", AUDIT_CATEGORIES)
    query = item.get("query")
    if query is not None and not isinstance(query, str):
        raise RequestFailed(ERR_BAD_VALUE, f"query={query!r} is invalid; allowed: a string", key=item)
    preds: list[Predicate | None] = []
    if categories:
        wanted = set(categories)
        preds.append(lambda b, i: b.records[i]["category"] in wanted)
    if query:
        needle = query.lower()
        preds.append(lambda b, i: any(needle in b.records[i][f].lower() for f in ("eventInfo", "auditType", "user")))
    return _all_of(*preds)


def _search_by(item: dict[str, Any], allowed: tuple[str, ...]) -> tuple[str, str] | None:
    search = item.get("searchBy")
    if search is None:
        return None
    if not isinstance(search, dict):
        raise RequestFailed(ERR_BAD_VALUE, "searchBy must be an object {fieldName, value}", key=item)
    field = _enum(search, "fieldName", allowed, "all")
    value = search.get("value")
    if not isinstance(value, str):
        raise RequestFailed(ERR_BLANK, "searchBy.value is required", key=item)
    return field or "all", value.lower()


def _release_filters(item: dict[str, Any], account: Account, now: float) -> Predicate | None:
    search = _search_by(item, RELEASE_SEARCH_FIELDS)
    if search is None:
        return None
    field, needle = search

    def texts(record: dict[str, Any]) -> list[str]:
        by_field = {
            "operator": [record["operator"]["emailAddress"]],
            "from": [record["fromEnv"]["emailAddress"], record["fromHdr"]["emailAddress"]],
            "to": [t["emailAddress"] for t in record["to"]],
            "subject": [record["subject"]],
            "info": [record["messageInfo"]],
            "heldReason": [record["heldReason"]],
        }
        if field == "all":
            return [t for values in by_field.values() for t in values]
        return by_field[field]

    return lambda b, i: any(needle in t.lower() for t in texts(b.records[i]))


LOG_ENDPOINTS: dict[str, LogEndpointSpec] = {
    "/api/ttp/url/get-logs": LogEndpointSpec(
        "ttp-url", "clickLogs", "from", "to", False, None, start_of_day, _url_filters, lambda a: a.streams["ttp-url"].bucket
    ),
    "/api/ttp/attachment/get-logs": LogEndpointSpec(
        "ttp-attachment", "attachmentLogs", "from", "to", False, None, start_of_day, _attachment_filters,
        lambda a: a.streams["ttp-attachment"].bucket,
    ),
    "/api/ttp/impersonation/get-logs": LogEndpointSpec(
        "ttp-impersonation", "impersonationLogs", "from", "to", False, None, start_of_day, _impersonation_filters,
        lambda a: a.streams["ttp-impersonation"].bucket, count_key="resultCount",
    ),
    "/api/audit/get-audit-events": LogEndpointSpec(
        "audit", None, "startDateTime", "endDateTime", True, AUDIT_MAX_AGE, start_of_day, _audit_filters,
        lambda a: a.streams["audit"].bucket,
    ),
    "/api/gateway/get-held-release-logs": LogEndpointSpec(
        "held-release", "heldReleaseLogs", "start", "end", False, None, lambda now: now - RELEASE_LOG_DEFAULT_AGE,
        _release_filters, lambda a: a.holds.release_log,
    ),
}  # fmt: skip


def _log_handler(spec: LogEndpointSpec) -> Callable[[ApiRequest, World], ApiResult]:
    def handle(request: ApiRequest, world: World) -> ApiResult:
        return serve_log_page(spec, request, world)

    handle.__name__ = f"get_{spec.stream.replace('-', '_')}"
    return handle


for _path, _spec in LOG_ENDPOINTS.items():
    endpoint(_path)(_log_handler(_spec))


# -- held messages: a state list, not a log --------------------------------------------------------


def _hold_filters(item: dict[str, Any], account: Account, cutoff: float) -> Predicate:
    admin = _bool(item, "admin", False)
    search = _search_by(item, HOLD_SEARCH_FIELDS)
    filter_by = item.get("filterBy") or []
    if not isinstance(filter_by, list):
        raise RequestFailed(ERR_BAD_VALUE, "filterBy must be a list of {fieldName, value}", key=item)
    route: str | None = None
    group: str | None = None
    for entry in filter_by:
        if not isinstance(entry, dict):
            raise RequestFailed(ERR_BAD_VALUE, "filterBy must be a list of {fieldName, value}", key=item)
        name = _enum(entry, "fieldName", ("route", "heldGroup"))
        if name == "route":
            route = _enum(entry, "value", HOLD_ROUTES)
        else:
            group = _enum(entry, "value", HOLD_GROUPS)
    holds = account.holds

    def matches(bucket: Bucket, i: int) -> bool:
        assert bucket.extras is not None
        lifecycle = bucket.extras[i]
        if not holds.is_held(lifecycle, cutoff) or (not admin and not lifecycle.own):
            return False
        record = bucket.records[i]
        if route not in (None, "all") and record["route"].lower() != route:
            return False
        if group is not None and lifecycle.held_group != group:
            return False
        if search is not None:
            field, needle = search
            texts = {
                "subject": record["subject"],
                "sender": record["from"]["emailAddress"],
                "recipient": record["to"]["emailAddress"],
                "reason_code": record["reasonCode"],
            }
            candidates = texts.values() if field == "all" else (texts[field],)
            return any(needle in t.lower() for t in candidates)
        return True

    return matches


@endpoint("/api/gateway/get-hold-message-list")
def get_hold_message_list(request: ApiRequest, world: World) -> ApiResult:
    """The current held queue (``admin`` false: only holds addressed to the app's own mailbox)."""
    item = request.item
    page_size = request.page_size()
    account = request.account
    digest = filter_digest(item)
    token = request.page_token
    if token is not None:
        try:
            cursor = world.page_tokens.decode(token, stream="held-messages", client_id=account.client_id, digest=digest)
        except PageTokenError as exc:
            raise RequestFailed(ERR_PAGE_TOKEN, f"pageToken is invalid: {exc}", key=item) from None
    else:
        start, end = _date(item, "start"), _date(item, "end")
        if start is not None and end is not None and start > end:
            raise RequestFailed(ERR_DATE_RANGE, "start must not be after end", key=item)
        now = request.now
        lo = math.ceil(start) if start is not None else 0
        hi = math.floor(end) if end is not None else math.floor(now)
        cursor = PageCursor("held-messages", account.client_id, digest, lo, hi, now, True, None)
    predicate = _hold_filters(item, account, cursor.cutoff)
    holds = account.holds
    # Nobody stays held longer than max_hold, so older entry buckets cannot hold members.
    lo = max(cursor.lo, holds.origin, int(cursor.cutoff - holds.settings.max_hold) - BUCKET_SECONDS)
    source = holds.entries
    page = walk(source, WalkRange(lo, cursor.hi, cursor.cutoff, True, cursor.after), predicate, page_size)
    total = len(walk(source, WalkRange(lo, cursor.hi, cursor.cutoff, True, None), predicate, 1 << 30).records)
    pagination: dict[str, Any] = {"pageSize": page_size, "totalCount": total}
    if page.has_more:
        if world.faults.settings.repeat_page_token and token is not None:
            pagination["next"] = token
        else:
            pagination["next"] = world.page_tokens.encode(_moved(cursor, page.last_key))
    elif world.faults.settings.next_on_last_page:
        pagination["next"] = world.page_tokens.encode(_moved(cursor, page.last_key or cursor.after))
    return ApiResult(data=list(page.records), pagination=pagination, stream="held-messages", records=len(page.records))


@endpoint("/api/gateway/get-hold-summary-list")
def get_hold_summary_list(request: ApiRequest, world: World) -> ApiResult:
    """Number of held messages per policy right now (a gauge; ``{"data": []}`` body)."""
    data = request.account.holds.summary(request.now)
    return ApiResult(data=data, stream="hold-summary", records=len(data))


# -- email queues ------------------------------------------------------------------------------------


def queue_depth(seed: int, client_id: str, direction: str, at: int) -> int:
    """Queue length at minute resolution: a daily wave plus seeded noise (pure)."""
    minute = at // 60
    rng = random.Random(derive_seed(seed, client_id, "queue", direction, minute))
    base = 40 if direction == "inbound" else 15
    wave = 1 + math.sin((at % 86400) / 86400 * 2 * math.pi)
    return max(0, int(base * wave + rng.random() * base * 0.5 + (rng.random() < 0.01) * base * 10))


@endpoint("/api/email/get-email-queues")
def get_email_queues(request: ApiRequest, world: World) -> ApiResult:
    """Inbound/outbound queue sizes; numbers or ``[{date, count}]`` samples (quirk 12)."""
    shape = world.config.email_queue_shape
    world.email_queue_calls += 1
    if shape == "alternate":
        shape = "numbers" if world.email_queue_calls % 2 else "samples"
    data: list[Any] = []
    fail: list[dict[str, Any]] = []
    account = request.account
    items = request.items or [{}]
    for raw in items:
        item = raw if isinstance(raw, dict) else {}
        try:
            start, end = _date(item, "start"), _date(item, "end")
            missing = [k for k, v in (("start", start), ("end", end)) if v is None]
            if missing:
                raise RequestFailed(ERR_NULL, f"{missing[0]} is required and must not be null", key=raw)
            assert start is not None
            assert end is not None
            if start > end:
                raise RequestFailed(ERR_DATE_RANGE, "start must not be after end", key=raw)
        except RequestFailed as exc:
            fail.append(ApiResult.failed(exc, request).fail[0])
            continue
        now = int(request.now)
        if shape == "numbers":
            at = min(int(end), now)
            data.append(
                {
                    "inboundEmailQueue": queue_depth(world.seed, account.client_id, "inbound", at),
                    "outboundEmailQueue": queue_depth(world.seed, account.client_id, "outbound", at),
                }
            )
            continue
        first, last = math.ceil(start / 60) * 60, min(int(end), now) // 60 * 60
        step = max(60, math.ceil((last - first) / 200 / 60) * 60) if last > first else 60
        times = list(range(first, last + 1, step))
        data.append(
            {
                direction + "EmailQueue": [
                    {"date": format_time(t), "count": queue_depth(world.seed, account.client_id, direction, t)}
                    for t in times
                ]
                for direction in ("inbound", "outbound")
            }
        )
    return ApiResult(data=data, fail=fail, stream="email-queues", records=len(data))
