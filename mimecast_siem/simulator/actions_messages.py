"""Simulated message endpoints: message tracking, archive (list, detail, files), held-message
release/reject through the World's hold queue, account details (mimecast-api.md sections 5.8, 5.9).

Releasing or rejecting goes through ``account.holds`` so the message leaves the hold list and the
release log records it: the collector's held-messages stream then emits its "left hold" event.
"""

from __future__ import annotations

from typing import Any

from mimecast_siem.simulator.actions_support import (
    ActionsState,
    email,
    need,
    need_str,
    not_found,
    one_of,
    optional_time,
    page,
    per_item,
    state_of,
)
from mimecast_siem.simulator.records import derive_seed
from mimecast_siem.simulator.registry import ApiRequest, ApiResult, RequestFailed, endpoint
from mimecast_siem.simulator.wire import ERR_BAD_VALUE, ERR_NULL, format_time
from mimecast_siem.simulator.world import World

ERR_START_TOO_OLD = "err_track_and_trace_invalid_start_date"  # mimecast-api.md section 3
ERR_MESSAGE_MISSING = "err_message_not_found"  # simulator invention
ERR_FILE_MISSING = "err_file_not_found"  # simulator invention
ERR_HOLD_MISSING = "err_held_message_not_found"  # simulator invention
TRACKING_DAYS = 30
REJECT_REASONS = (
    "MESSAGE CONTAINS UNDESIRABLE CONTENT",
    "MESSAGE CONTAINS CONFIDENTIAL INFORMATION",
    "REVIEWER DISAPPROVES OF CONTENT",
    "INAPPROPRIATE COMMUNICATION",
    "MESSAGE GOES AGAINST EMAIL POLICIES",
)


def _tracked(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": m["id"],
        "fromEnv": {"emailAddress": m["from"]},
        "fromHdr": {"emailAddress": m["from"], "displayableName": ""},
        "to": [{"emailAddress": m["to"], "displayableName": ""}],
        "subject": m["subject"],
        "received": format_time(m["received"]),
        "senderIP": m["senderIP"],
        "status": "delivered",
        "route": m["route"],
        "attachments": bool(m["attachments"]),
        "spamScore": 0,
        "detectionLevel": "relaxed",
    }


def _message(state: ActionsState, item: dict[str, Any]) -> dict[str, Any]:
    mid = need(item, "id")
    if not isinstance(mid, str) or mid not in state.messages:
        raise not_found(f"message {mid!r}", item, ERR_MESSAGE_MISSING)
    return state.messages[mid]


@endpoint("/api/message-finder/search")
def search(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)
    item = request.item
    message_id = item.get("messageId")
    options = item.get("advancedTrackAndTraceOptions")
    if (message_id is None) == (options is None):
        raise RequestFailed(ERR_NULL, "give either messageId or advancedTrackAndTraceOptions")
    start, end = optional_time(item, "start"), optional_time(item, "end")
    if start is not None and start < request.now - TRACKING_DAYS * 86400:
        return ApiResult(
            fail=[
                {
                    "key": item,
                    "errors": [
                        {"code": ERR_START_TOO_OLD, "message": "start is more than 30 days ago", "retryable": False}
                    ],
                }
            ]
        )
    routes = item.get("route")
    rows = list(state.messages.values())
    if message_id is not None:
        rows = [m for m in rows if m["messageId"] == message_id]
    else:
        if not isinstance(options, dict):
            raise RequestFailed(ERR_BAD_VALUE, "advancedTrackAndTraceOptions must be an object")
        for key, field in (("from", "from"), ("to", "to")):
            if options.get(key):
                rows = [m for m in rows if m[field] == str(options[key]).lower()]
        if options.get("subject"):
            rows = [m for m in rows if str(options["subject"]).lower() in m["subject"].lower()]
        if options.get("senderIP"):
            rows = [m for m in rows if m["senderIP"] == str(options["senderIP"]).split("/")[0]]
    if start is not None:
        rows = [m for m in rows if m["received"] >= start]
    if end is not None:
        rows = [m for m in rows if m["received"] <= end]
    if isinstance(routes, list) and routes:
        rows = [m for m in rows if m["route"] in routes]
    return ApiResult(data=[{"trackedEmails": [_tracked(m) for m in rows]}])


@endpoint("/api/message-finder/get-message-info")
def get_message_info(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        m = _message(state, item)
        components = [
            {
                "type": "attachment",
                "name": a["filename"],
                "extension": a["extension"],
                "mimeType": a["contentType"],
                "size": a["size"],
                "hash": a["sha256"],
            }
            for a in m["attachments"]
        ]
        return {
            "id": m["id"],
            "status": "delivered",
            "recipientInfo": {
                "messageInfo": {
                    "fromHeader": m["from"],
                    "fromEnvelope": m["from"],
                    "to": [m["to"]],
                    "cc": [],
                    "subject": m["subject"],
                    "sent": format_time(m["received"] - 5),
                    "processed": format_time(m["received"]),
                },
                "recipientMetaInfo": {"remoteIp": m["senderIP"], "components": components},
            },
            "deliveredMessage": {m["to"]: {"policyInfo": [], "deliveryMetaInfo": {"route": m["route"]}}},
            "spamInfo": {"spamScore": 0, "detectionLevel": "relaxed"},
        }

    return per_item(request, handle)


@endpoint("/api/archive/get-message-list")
def get_message_list(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)
    item = request.item
    view = one_of(item, "view", ("INBOX", "SENT"))
    mailbox = email(item, "mailbox") if item.get("mailbox") is not None else None
    start, end = optional_time(item, "start"), optional_time(item, "end")
    field = "to" if view == "INBOX" else "from"
    rows = [
        {
            "id": m["id"],
            "subject": m["subject"],
            "size": m["size"],
            "received": format_time(m["received"]),
            "from": {"emailAddress": m["from"], "displayableName": ""},
            "to": [{"emailAddress": m["to"], "displayableName": ""}],
            "attachmentCount": len(m["attachments"]),
        }
        for m in sorted(state.messages.values(), key=lambda m: -m["received"])
        if (mailbox is None or m[field] == mailbox)
        and (start is None or m["received"] >= start)
        and (end is None or m["received"] <= end)
    ]
    chunk, pagination = page(request, world, rows, f"message-list-{view}")
    return ApiResult(data=chunk, pagination=pagination)


@endpoint("/api/archive/get-message-detail")
def get_message_detail(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        m = _message(state, item)
        return {
            "id": m["id"],
            "subject": m["subject"],
            "headerDate": format_time(m["received"] - 5),
            "size": m["size"],
            "from": {"emailAddress": m["from"], "displayableName": ""},
            "to": [{"emailAddress": m["to"], "displayableName": ""}],
            "cc": [],
            "envelopeFrom": {"emailAddress": m["from"]},
            "headers": [{"name": "Message-ID", "values": [m["messageId"]]}],
            "attachments": [
                {k: a[k] for k in ("id", "filename", "sha256", "size", "extension")} for a in m["attachments"]
            ],
            "processed": format_time(m["received"]),
            "hasHtmlBody": False,
            "messageBodyPreview": "Please find the quarterly figures attached.",
        }

    return per_item(request, handle)


def _file(request: ApiRequest, world: World) -> ApiResult:
    state = state_of(request.account, world)
    item = request.item
    fid = need_str(item, "id")
    if fid not in state.files:
        raise not_found(f"file {fid!r}", item, ERR_FILE_MISSING)
    name, content = state.files[fid]
    if state.file_link_base is not None:
        link = f"{state.file_link_base.rstrip('/')}{FILE_LINK_PATH}/{fid}"
        return ApiResult(data=[{"id": fid, "url": link, "filename": name, "size": len(content)}])
    return ApiResult(
        raw=content,
        content_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@endpoint("/api/archive/get-file")
def get_archive_file(request: ApiRequest, world: World) -> ApiResult:
    return _file(request, world)


@endpoint("/api/gateway/message/get-file")
def get_gateway_file(request: ApiRequest, world: World) -> ApiResult:
    return _file(request, world)


FILE_LINK_PATH = "/api/gateway/message/file-link"


@endpoint(FILE_LINK_PATH + "/{fid}", methods=("GET",))
def file_link(request: ApiRequest, world: World) -> ApiResult:
    """The download URL handed out by the file endpoints when ``file_link_base`` is set."""
    state = state_of(request.account, world)
    fid = request.path_params.get("fid", "")
    if fid not in state.files:
        raise not_found(f"file {fid!r}", {"id": fid}, ERR_FILE_MISSING)
    name, content = state.files[fid]
    return ApiResult(
        raw=content,
        content_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@endpoint("/api/gateway/hold-release")
def hold_release(request: ApiRequest, world: World) -> ApiResult:
    holds = request.account.holds

    def handle(item: dict[str, Any]) -> dict[str, Any]:
        mid = need_str(item, "id")
        if holds.find(mid) is None:
            raise not_found(f"held message {mid!r}", item, ERR_HOLD_MISSING)
        return {"id": mid, "release": holds.release(mid)}

    return per_item(request, handle, max_items=25)


@endpoint("/api/gateway/hold-reject")
def hold_reject(request: ApiRequest, world: World) -> ApiResult:
    holds = request.account.holds

    def handle(item: dict[str, Any]) -> list[dict[str, Any]]:
        ids = need(item, "ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise RequestFailed(ERR_BAD_VALUE, "ids must be a non-empty list of message ids", key=item)
        reason = one_of(item, "reasonType", REJECT_REASONS, required=False)
        missing = [i for i in ids if holds.find(i) is None]
        if missing:
            raise not_found(f"held message {missing[0]!r}", item, ERR_HOLD_MISSING)
        return [{"id": i, "reject": holds.reject(i, reason=reason or item.get("message"))} for i in ids]

    result = per_item(request, handle)
    result.data = [entry for group in result.data for entry in group]
    return result


@endpoint("/api/account/get-account")
def get_account(request: ApiRequest, world: World) -> ApiResult:
    profile = request.account.profile
    return ApiResult(
        data=[
            {
                "accountCode": f"C{derive_seed(profile.client_id, 'account') % 10**6:06d}",
                "accountName": profile.company.title(),
                "region": "uk",
                "mimecastId": f"01-{profile.company}",
                "supportCode": profile.company[:3].upper() + "123",
                "maxRetention": 2555,
                "type": "full",
                "gateway": True,
                "archive": True,
                "userCount": len(profile.users),
                "contactName": "IT Admin",
                "contactEmail": profile.admins[0],
                "telephone": "+44 20 7946 0000",
                "packages": ["Email Security Cloud Gateway", "Archive"],
                "databaseCode": "ukdb01",
                "adminSessionTimeout": 60,
            }
        ]
    )
