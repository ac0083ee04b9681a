"""Simulated directory endpoints: profile groups and their members (mimecast-api.md section 5.1).

Quirk 13: a group id that is a truncated prefix of a real one gets HTTP 400 with an empty body.
"""

from __future__ import annotations

from typing import Any

from mimecast_siem.simulator.actions_support import (
    ActionsState,
    email,
    need_str,
    new_id,
    not_found,
    one_of,
    page,
    per_item,
    state_of,
)
from mimecast_siem.simulator.registry import ApiRequest, ApiResult, RequestFailed, endpoint
from mimecast_siem.simulator.world import World

ERR_MEMBER_EXISTS = "err_folder_group_member_already_exists"  # mimecast-api.md section 5.1
ERR_MEMBER_MISSING = "err_folder_email_address_not_found"  # mimecast-api.md section 6
ERR_GROUP_MISSING = "err_folder_not_found"  # simulator invention


class TruncatedId(Exception):
    """A group id that is a prefix of a real one: Mimecast answers 400 with an empty body."""


def _group(state: ActionsState, gid: Any, item: Any) -> dict[str, Any]:
    if isinstance(gid, str) and gid in state.groups:
        return state.groups[gid]
    if isinstance(gid, str) and len(gid) >= 8 and any(g.startswith(gid) for g in state.groups):
        raise TruncatedId
    raise not_found(f"group {gid!r}", item, ERR_GROUP_MISSING)


def _empty_400() -> ApiResult:
    return ApiResult(raw=b"", status=400, content_type="application/json")


@endpoint("/api/directory/find-groups")
def find_groups(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)
    item = request.item
    source = one_of(item, "source", ("cloud", "ldap"), required=False)
    query = str(item.get("query") or "").lower()
    rows = [
        g
        for g in state.groups.values()
        if (not query or query in g["description"].lower()) and (source is None or g["source"] == source)
    ]
    chunk, pagination = page(request, world, rows, "find-groups")
    return ApiResult(data=[{"folders": chunk}], pagination=pagination)


@endpoint("/api/directory/get-group-members")
def get_group_members(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)
    item = request.item
    try:
        group = _group(state, need_str(item, "id"), item)
    except TruncatedId:
        return _empty_400()
    chunk, pagination = page(request, world, state.members.get(group["id"], []), "get-group-members")
    return ApiResult(data=[{"groupMembers": chunk}], pagination=pagination)


def _member_key(item: dict[str, Any]) -> tuple[str, str]:
    has_email, has_domain = item.get("emailAddress") is not None, item.get("domain") is not None
    if has_email == has_domain:
        raise RequestFailed("err_validation_null", "give exactly one of emailAddress or domain", key=item)
    if has_email:
        return "emailAddress", email(item, "emailAddress")
    return "domain", need_str(item, "domain").lower()


def _changes_members(request: ApiRequest, world: World, adding: bool) -> ApiResult:
    state = state_of(request.account, world)
    for item in request.items:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            try:
                _group(state, item["id"], item)
            except TruncatedId:
                return _empty_400()
            except RequestFailed:
                pass

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        group = _group(state, need_str(item, "id"), item)
        kind, value = _member_key(item)
        members = state.members.setdefault(group["id"], [])
        existing = next((m for m in members if m.get(kind) == value and (kind == "domain" or m["emailAddress"])), None)
        if adding:
            if existing is not None:
                raise RequestFailed(ERR_MEMBER_EXISTS, f"{value} is already a member of the group", key=item)
            member = {
                "emailAddress": value if kind == "emailAddress" else "",
                "domain": value.split("@")[-1] if kind == "emailAddress" else value,
                "name": "",
                "type": "created_manually",
                "internal": value.endswith(request.account.profile.domain),
                "notes": str(item.get("notes") or ""),
            }
            members.append(member)
        else:
            if existing is None:
                raise RequestFailed(ERR_MEMBER_MISSING, f"{value} is not a member of the group", key=item)
            members.remove(existing)
        group["userCount"] = len(members)
        return {"folderId": group["id"], kind: value}

    return per_item(request, handle, max_items=None if adding else 10)


@endpoint("/api/directory/add-group-member")
def add_group_member(request: ApiRequest, world: World) -> ApiResult:
    return _changes_members(request, world, adding=True)


@endpoint("/api/directory/remove-group-member")
def remove_group_member(request: ApiRequest, world: World) -> ApiResult:
    return _changes_members(request, world, adding=False)


@endpoint("/api/directory/create-group")
def create_group(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        description = need_str(item, "description")
        parent = item.get("parentId")
        if parent is not None and parent not in state.groups:
            raise not_found(f"parent group {parent!r}", item, ERR_GROUP_MISSING)
        gid = new_id(state, request.account, "group", length=250)
        group = {
            "id": gid,
            "description": description,
            "source": "cloud",
            "parentId": parent,
            "userCount": 0,
            "folderCount": 0,
        }
        state.groups[gid] = group
        state.members[gid] = []
        if parent is not None:
            state.groups[parent]["folderCount"] += 1
        return dict(group)

    return per_item(request, handle)


@endpoint("/api/directory/update-group")
def update_group(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        try:
            group = _group(state, need_str(item, "id"), item)
        except TruncatedId:
            raise RequestFailed("err_validation_invalid_value", "id is truncated", key=item) from None
        if item.get("description") is not None:
            group["description"] = need_str(item, "description")
        if item.get("parentId") is not None:
            if item["parentId"] not in state.groups or item["parentId"] == group["id"]:
                raise not_found(f"parent group {item['parentId']!r}", item, ERR_GROUP_MISSING)
            group["parentId"] = item["parentId"]
        return dict(group)

    return per_item(request, handle, max_items=10)
