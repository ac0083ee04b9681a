"""Simulated policy endpoints: address alteration, anti-spoofing bypass, blocked and managed senders,
web security policies with targets (mimecast-api.md sections 5.2-5.4, 5.6)."""

from __future__ import annotations

from typing import Any

from mimecast_siem.simulator.actions_support import (
    ERR_NOT_FOUND_OBJECT,
    ActionsState,
    email,
    need,
    need_str,
    new_id,
    not_found,
    one_of,
    optional_time,
    page,
    per_item,
    state_of,
)
from mimecast_siem.simulator.registry import ApiRequest, ApiResult, RequestFailed, endpoint
from mimecast_siem.simulator.wire import ERR_BAD_VALUE, ERR_NULL, format_time
from mimecast_siem.simulator.world import World

TARGET_TYPES = (
    "everyone",
    "internal_addresses",
    "external_addresses",
    "email_domain",
    "profile_group",
    "individual_email_address",
    "address_attribute_value",
    "free_mail_domains",
    "header_display_name",
)
POLICY_KEYS = (
    "bidirectional",
    "comment",
    "conditions",
    "description",
    "enabled",
    "enforced",
    "from",
    "fromDate",
    "fromEternal",
    "fromPart",
    "override",
    "to",
    "toDate",
    "toEternal",
)
MAX_DEFINITIONS = 3000  # "max 3,000 definitions via API" (MC-1.0 create-definition)


def check_policy(policy: Any, key: Any, *, creating: bool) -> dict[str, Any]:
    """Validate a policy object the way the API would; returns a copy."""
    if not isinstance(policy, dict):
        raise RequestFailed(ERR_BAD_VALUE, "policy must be a JSON object", key=key)
    unknown = sorted(set(policy) - set(POLICY_KEYS))
    if unknown:
        raise RequestFailed(ERR_BAD_VALUE, f"policy.{unknown[0]} is not a policy field", key=key)
    if creating and not str(policy.get("description") or "").strip():
        raise RequestFailed("err_validation_blank", "policy.description must not be blank", key=key)
    for side in ("from", "to"):
        target = policy.get(side)
        if target is None:
            continue
        if not isinstance(target, dict) or target.get("type") not in TARGET_TYPES:
            raise RequestFailed(
                ERR_BAD_VALUE, f"policy.{side}.type is invalid; allowed: {', '.join(TARGET_TYPES)}", key=key
            )
    if policy.get("fromPart") not in (None, "envelope_from", "header_from", "both"):
        raise RequestFailed(
            ERR_BAD_VALUE, "policy.fromPart is invalid; allowed: envelope_from, header_from, both", key=key
        )
    for when in ("fromDate", "toDate"):
        optional_time(policy, when)
    return dict(policy)


def _stamp(policy: dict[str, Any], now: float, created: bool) -> dict[str, Any]:
    policy = dict(policy)
    policy["lastUpdated"] = format_time(now)
    if created:
        policy["createTime"] = format_time(now)
        policy.setdefault("fromEternal", True)
        policy.setdefault("toEternal", True)
        policy.setdefault("enabled", True)
    return policy


def _lookup(book: dict[str, dict[str, Any]], item: dict[str, Any]) -> dict[str, Any]:
    pid = need(item, "id")
    if not isinstance(pid, str) or pid not in book:
        raise not_found(f"policy {pid!r}", item)
    return book[pid]


def _delete(book: dict[str, dict[str, Any]], item: dict[str, Any]) -> dict[str, Any]:
    policy = _lookup(book, item)
    del book[policy["id"]]
    return {"id": policy["id"], "deleted": True}


def _get_all_or_ids(request: ApiRequest, book: dict[str, dict[str, Any]]) -> ApiResult:
    ids = [i for i in request.items if isinstance(i, dict) and i]
    if not ids:
        return ApiResult(data=list(book.values()))
    return per_item(request, lambda item: _lookup(book, item))


# --- address alteration -------------------------------------------------------------------------------

_AA = "/api/policy/address-alteration"


@endpoint(f"{_AA}/create-address-alteration-set")
def create_set(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        parent = item.get("parentId")
        if parent is not None and parent not in state.alteration_sets:
            raise not_found(f"address alteration set {parent!r}", item)
        sid = new_id(state, request.account, "alteration-set")
        state.alteration_sets[sid] = {
            "id": sid,
            "description": need_str(item, "description"),
            "parentId": parent,
            "source": "cloud",
            "folderCount": 0,
            "userCount": 0,
        }
        return dict(state.alteration_sets[sid])

    return per_item(request, handle)


def _tree(state: ActionsState, parent: str | None, depth: int) -> list[dict[str, Any]]:
    out = []
    for s in state.alteration_sets.values():
        if s["parentId"] == parent:
            node = dict(s)
            node["folders"] = _tree(state, s["id"], depth - 1) if depth > 0 else []
            node["folderCount"] = sum(1 for c in state.alteration_sets.values() if c["parentId"] == s["id"])
            out.append(node)
    return out


@endpoint(f"{_AA}/get-address-alteration-set")
def get_set(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)
    item = request.item
    depth = item.get("depth", 1)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise RequestFailed(ERR_BAD_VALUE, "depth must be a non-negative integer")
    folder = item.get("folderId")
    if folder is None:
        return ApiResult(data=_tree(state, None, depth))
    if folder not in state.alteration_sets:
        raise not_found(f"address alteration set {folder!r}", item)
    node = dict(state.alteration_sets[folder])
    node["folders"] = _tree(state, folder, depth - 1) if depth > 0 else []
    return ApiResult(data=[node])


@endpoint(f"{_AA}/create-definition")
def create_definition(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)

    def handle(item: dict[str, Any]) -> list[dict[str, Any]]:
        folder = item.get("folderId")
        if folder is not None and folder not in state.alteration_sets:
            raise not_found(f"address alteration set {folder!r}", item)
        alterations = need(item, "addressAlterations")
        if not isinstance(alterations, list) or not alterations:
            raise RequestFailed(ERR_BAD_VALUE, "addressAlterations must be a non-empty list", key=item)
        if len(state.definitions) + len(alterations) > MAX_DEFINITIONS:
            raise RequestFailed("err_max_definitions_reached", f"at most {MAX_DEFINITIONS} definitions", key=item)
        created = []
        for alt in alterations:
            if not isinstance(alt, dict):
                raise RequestFailed(ERR_BAD_VALUE, "each address alteration must be an object", key=item)
            one_of(
                alt, "addressType", ("all", "envelope_from", "envelope_to", "from", "reply_to", "to_cc_bcc", "sender")
            )
            one_of(alt, "routing", ("all", "inbound", "outbound"))
            did = new_id(state, request.account, "definition")
            state.definitions[did] = {
                "id": did,
                "folderId": folder,
                "originalAddress": need_str(alt, "originalAddress"),
                "newAddress": need_str(alt, "newAddress"),
                "addressType": alt["addressType"],
                "routing": alt["routing"],
            }
            created.append({"id": did, "success": True})
        return created

    result = per_item(request, handle)
    result.data = [entry for group in result.data for entry in group]
    return result


@endpoint(f"{_AA}/get-definition")
def get_definition(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)
    item = request.item
    filters = {
        k: item.get(k) for k in ("folderId", "routing", "originalAddress", "newAddress") if item.get(k) is not None
    }
    if not filters:
        raise RequestFailed(ERR_NULL, "give at least one of folderId, routing, originalAddress, newAddress")
    one_of(item, "routing", ("all", "inbound", "outbound"), required=False)
    rows = [d for d in state.definitions.values() if all(d.get(k) == v for k, v in filters.items())]
    return ApiResult(data=[{"items": rows}])


@endpoint(f"{_AA}/delete-definition")
def delete_definition(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        did = need(item, "id")
        if did not in state.definitions:
            raise not_found(f"definition {did!r}", item)
        del state.definitions[did]
        return {"id": did, "success": True}

    return per_item(request, handle)


@endpoint(f"{_AA}/create-policy")
def create_alteration_policy(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)
    book = state.family("address-alteration")

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        set_id = need_str(item, "addressAlterationSetId")
        if set_id not in state.alteration_sets:
            raise not_found(f"address alteration set {set_id!r}", item)
        policy = _stamp(check_policy(need(item, "policy"), item, creating=True), request.now, True)
        pid = new_id(state, request.account, "alteration-policy")
        book[pid] = {"id": pid, "addressAlterationSetId": set_id, "policy": policy}
        return book[pid]

    return per_item(request, handle, max_items=50)


@endpoint(f"{_AA}/get-policy")
def get_alteration_policy(request: ApiRequest, world: World) -> ApiResult:
    return _get_all_or_ids(request, state_of(request.account, world).family("address-alteration"))


@endpoint(f"{_AA}/update-policy")
def update_alteration_policy(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)
    book = state.family("address-alteration")

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        current = _lookup(book, item)
        changes = check_policy(need(item, "policy"), item, creating=False)
        set_id = item.get("addressAlterationSetId")
        if set_id is not None:
            if set_id not in state.alteration_sets:
                raise not_found(f"address alteration set {set_id!r}", item)
            current["addressAlterationSetId"] = set_id
        current["policy"] = _stamp({**current["policy"], **changes}, request.now, False)
        return current

    return per_item(request, handle)


@endpoint(f"{_AA}/delete-policy")
def delete_alteration_policy(request: ApiRequest, world: World) -> ApiResult:
    book = state_of(request.account, world).family("address-alteration")
    return per_item(request, lambda item: _delete(book, item), max_items=500)


# --- anti-spoofing bypass and blocked senders ------------------------------------------------------------

_OPTIONS = {"antispoofing-bypass": ("disable_bypass", "enable_bypass"), "blockedsenders": ("block_sender", "no_action")}


def _create_optioned(request: ApiRequest, world: World, family: str, max_items: int | None) -> ApiResult:
    state = state_of(request.account, world)
    book = state.family(family)

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        option = one_of(item, "option", _OPTIONS[family])
        policy = _stamp(check_policy(need(item, "policy"), item, creating=True), request.now, True)
        pid = new_id(state, request.account, family)
        book[pid] = {"id": pid, "option": option, "policy": policy}
        return book[pid]

    return per_item(request, handle, max_items=max_items)


@endpoint("/api/policy/antispoofing-bypass/create-policy")
def create_antispoofing(request: ApiRequest, world: World) -> ApiResult:
    return _create_optioned(request, world, "antispoofing-bypass", 50)


@endpoint("/api/policy/antispoofing-bypass/get-policy")
def get_antispoofing(request: ApiRequest, world: World) -> ApiResult:
    return _get_all_or_ids(request, state_of(request.account, world).family("antispoofing-bypass"))


@endpoint("/api/policy/antispoofing-bypass/update-policy")
def update_antispoofing(request: ApiRequest, world: World) -> ApiResult:
    book = state_of(request.account, world).family("antispoofing-bypass")

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        current = _lookup(book, item)
        current["option"] = one_of(item, "option", _OPTIONS["antispoofing-bypass"])
        changes = check_policy(need(item, "policy"), item, creating=False)
        current["policy"] = _stamp({**current["policy"], **changes}, request.now, False)
        return current

    return per_item(request, handle)


@endpoint("/api/policy/antispoofing-bypass/delete-policy")
def delete_antispoofing(request: ApiRequest, world: World) -> ApiResult:
    book = state_of(request.account, world).family("antispoofing-bypass")
    return per_item(request, lambda item: _delete(book, item), max_items=500)


@endpoint("/api/policy/blockedsenders/create-policy")
def create_blocked(request: ApiRequest, world: World) -> ApiResult:
    return _create_optioned(request, world, "blockedsenders", None)


@endpoint("/api/policy/blockedsenders/get-policy")
def get_blocked(request: ApiRequest, world: World) -> ApiResult:
    book = state_of(request.account, world).family("blockedsenders")
    item = request.item
    if item.get("id") is not None:
        if not isinstance(item["id"], str):
            raise RequestFailed(ERR_BAD_VALUE, "id must be a policy id (a string)", key=item)
        if item["id"] not in book:
            raise not_found(f"policy {item['id']!r}", item, ERR_NOT_FOUND_OBJECT)
        rows = [book[item["id"]]]
    else:
        rows = list(book.values())
    chunk, pagination = page(request, world, rows, "blockedsenders-get-policy")
    return ApiResult(data=chunk, pagination=pagination)


@endpoint("/api/managedsender/permit-or-block-sender")
def permit_or_block(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        sender, to = email(item, "sender"), email(item, "to")
        action = one_of(item, "action", ("permit", "block"))
        existing = next((m for m in state.managed_senders.values() if (m["sender"], m["to"]) == (sender, to)), None)
        if existing is not None:
            existing["type"] = action
            return existing
        mid = new_id(state, request.account, "managed-sender")
        state.managed_senders[mid] = {"id": mid, "sender": sender, "to": to, "type": action}
        return state.managed_senders[mid]

    return per_item(request, handle)


# --- web security ---------------------------------------------------------------------------------------

_WEB = "/api/policy/webwhiteurl"
MAX_URLS_PER_POLICY = 5000


def _urls(state: ActionsState, request: ApiRequest, value: Any, item: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise RequestFailed(ERR_BAD_VALUE, "urls must be a non-empty list", key=item)
    if len(value) > MAX_URLS_PER_POLICY:
        raise RequestFailed("err_validation_too_many_items", f"at most {MAX_URLS_PER_POLICY} URLs per policy", key=item)
    out = []
    for u in value:
        if not isinstance(u, dict):
            raise RequestFailed(ERR_BAD_VALUE, "each url must be an object", key=item)
        one_of(u, "action", ("block", "allow"))
        one_of(u, "type", ("url", "domain"))
        out.append(
            {
                "id": u.get("id") or new_id(state, request.account, "web-url"),
                "action": u["action"],
                "type": u["type"],
                "value": need_str(u, "value"),
            }
        )
    return out


def _scopes(state: ActionsState, request: ApiRequest, value: Any, item: Any, creating: bool) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise RequestFailed(ERR_BAD_VALUE, "policies must be a non-empty list", key=item)
    out: list[dict[str, Any]] = []
    for p in value:
        pid = p.get("id") if isinstance(p, dict) else None
        body = {k: v for k, v in p.items() if k != "id"} if isinstance(p, dict) else p
        policy = _stamp(check_policy(body, item, creating=creating), request.now, creating)
        out.append({"id": pid or new_id(state, request.account, "web-scope"), "locations": [], "policy": policy})
    return out


@endpoint(f"{_WEB}/create-policy-with-targets")
def create_web(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)
    book = state.family("webwhiteurl")

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        pid = new_id(state, request.account, "web-policy")
        book[pid] = {
            "id": pid,
            "description": need_str(item, "description"),
            "urls": _urls(state, request, need(item, "urls"), item),
            "policies": _scopes(state, request, need(item, "policies"), item, True),
        }
        return book[pid]

    return per_item(request, handle)


@endpoint(f"{_WEB}/get-policy-with-targets")
def get_web(request: ApiRequest, world: World) -> ApiResult:
    book = state_of(request.account, world).family("webwhiteurl")
    return per_item(request, lambda item: _lookup(book, item))


@endpoint(f"{_WEB}/update-policy-with-targets")
def update_web(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)
    book = state.family("webwhiteurl")

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        current = _lookup(book, item)
        if item.get("description") is not None:
            current["description"] = need_str(item, "description")
        if item.get("urls") is not None:
            current["urls"] = _urls(state, request, item["urls"], item)
        updates = _scopes(state, request, need(item, "policies"), item, False)
        by_id = {p["id"]: p for p in current["policies"]}
        for update in updates:
            if update["id"] in by_id:
                by_id[update["id"]]["policy"] = {**by_id[update["id"]]["policy"], **update["policy"]}
            else:
                current["policies"].append(update)
        return current

    return per_item(request, handle)


@endpoint(f"{_WEB}/delete-policy-with-targets")
def delete_web(request: ApiRequest, world: World) -> ApiResult:
    book = state_of(request.account, world).family("webwhiteurl")
    return per_item(request, lambda item: _delete(book, item), max_items=10)
