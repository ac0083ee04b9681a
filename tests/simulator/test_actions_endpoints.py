"""The simulator's stateful response-action endpoints, with plain HTTP (not our client)."""

from __future__ import annotations

from typing import Any

import aiohttp

from mimecast_siem.simulator import RunningSimulator
from mimecast_siem.simulator.actions_seed import LARGE_FILE_BYTES
from mimecast_siem.simulator.actions_support import state_of
from mimecast_siem.simulator.actions_threats import rewrite_url
from tests.simulator.helpers import Caller


def _state(sim: RunningSimulator) -> Any:
    return state_of(sim.world.account(), sim.world)


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["code"] for f in body["fail"] for e in f["errors"]]


async def test_groups_members_and_documented_errors(api: Caller, simulator: RunningSimulator) -> None:
    reply = await api.post("/api/directory/find-groups", [{"source": "cloud"}], page_size=2)
    assert reply.status == 200
    first_page = reply.body["data"][0]["folders"]
    assert len(first_page) == 2
    assert reply.body["meta"]["pagination"]["next"]
    gid = first_page[0]["id"]
    assert len(gid) >= 200  # long base64 ids, like Mimecast's
    add = await api.post("/api/directory/add-group-member", [{"id": gid, "emailAddress": "x@example.com"}])
    assert add.body["data"] == [{"folderId": gid, "emailAddress": "x@example.com"}]
    again = await api.post("/api/directory/add-group-member", [{"id": gid, "emailAddress": "x@example.com"}])
    assert _codes(again.body) == ["err_folder_group_member_already_exists"]
    bad = await api.post("/api/directory/add-group-member", [{"id": gid, "emailAddress": "not-an-address"}])
    assert _codes(bad.body) == ["err_validation_invalid_email_address"]
    remove = await api.post("/api/directory/remove-group-member", [{"id": gid, "emailAddress": "nobody@example.com"}])
    assert _codes(remove.body) == ["err_folder_email_address_not_found"]
    too_many = await api.post("/api/directory/remove-group-member", [{"id": gid, "domain": "example.com"}] * 11)
    assert _codes(too_many.body) == ["err_validation_too_many_items"]
    members = await api.post("/api/directory/get-group-members", [{"id": gid}], page_size=500)
    assert "x@example.com" in [m["emailAddress"] for m in members.body["data"][0]["groupMembers"]]
    missing = await api.post("/api/directory/create-group", [{"parentId": None}])
    assert _codes(missing.body) == ["err_validation_null"]


async def test_truncated_group_id_is_400_with_an_empty_body(
    api: Caller, simulator: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    gid = next(iter(_state(simulator).groups))
    async with session.post(
        f"{simulator.url}/api/directory/get-group-members",
        json={"data": [{"id": gid[:100]}]},
        headers={"Authorization": f"Bearer {api.token}"},
    ) as resp:
        assert resp.status == 400
        assert await resp.read() == b""


async def test_page_tokens_are_bound_to_the_query(api: Caller) -> None:
    first = await api.post("/api/directory/find-groups", [{"source": "cloud"}], page_size=1)
    token = first.body["meta"]["pagination"]["next"]
    replay = await api.post("/api/directory/find-groups", [{"query": "vip"}], page_size=1, page_token=token)
    assert _codes(replay.body) == ["err_invalid_page_token"]
    groups, pages = await api.walk("/api/directory/find-groups", {"source": "cloud"}, record_key="folders", page_size=1)
    assert pages == len(groups) == 3


async def test_managed_urls_and_decode(api: Caller) -> None:
    item = {"url": "https://bad.example.net/x", "action": "block", "matchType": "explicit"}
    created = await api.post("/api/ttp/url/create-managed-url", [item])
    assert created.body["data"][0]["domain"] == "bad.example.net"
    dup = await api.post("/api/ttp/url/create-managed-url", [item])
    assert _codes(dup.body) == ["err_managed_url_exists_code"]
    listed = await api.post(
        "/api/ttp/url/get-all-managed-urls", [{"filterBy": [{"fieldName": "action", "value": "blocked"}]}]
    )
    assert {u["action"] for u in listed.body["data"]} == {"block"}
    decoded = await api.post(
        "/api/ttp/url/decode-url",
        [{"url": rewrite_url("https://a.example.org/p?q=1")}, {"url": "https://plain.example/"}],
    )
    assert decoded.body["data"] == [{"url": "https://a.example.org/p?q=1", "success": True}]
    assert _codes(decoded.body) == ["err_url_decode_failed"]


async def test_policies_lifecycle(api: Caller) -> None:
    policy = {"description": "p", "from": {"type": "everyone"}, "to": {"type": "everyone"}}
    created = await api.post(
        "/api/policy/antispoofing-bypass/create-policy", [{"option": "enable_bypass", "policy": policy}]
    )
    pid = created.body["data"][0]["id"]
    bad = await api.post("/api/policy/antispoofing-bypass/create-policy", [{"option": "sometimes", "policy": policy}])
    assert _codes(bad.body) == ["err_validation_invalid_value"]
    blank = await api.post(
        "/api/policy/blockedsenders/create-policy", [{"option": "block_sender", "policy": {"description": " "}}]
    )
    assert _codes(blank.body) == ["err_validation_blank"]
    got = await api.post("/api/policy/antispoofing-bypass/get-policy", [{"id": pid}])
    assert got.body["data"][0]["option"] == "enable_bypass"
    deleted = await api.post("/api/policy/antispoofing-bypass/delete-policy", [{"id": pid}])
    assert deleted.body["data"] == [{"id": pid, "deleted": True}]
    gone = await api.post("/api/policy/antispoofing-bypass/get-policy", [{"id": pid}])
    assert _codes(gone.body) == ["err_object_not_found"]


async def test_archive_files_are_binary(
    api: Caller, simulator: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    state = _state(simulator)
    fid, (name, content) = next((f, v) for f, v in state.files.items() if len(v[1]) == LARGE_FILE_BYTES)
    async with session.post(
        f"{simulator.url}/api/archive/get-file",
        json={"data": [{"id": fid}]},
        headers={"Authorization": f"Bearer {api.token}"},
    ) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/octet-stream"
        assert name in resp.headers["Content-Disposition"]
        assert await resp.read() == content
    missing = await api.post("/api/gateway/message/get-file", [{"id": "eNoNothing"}])
    assert _codes(missing.body) == ["err_file_not_found"]


async def test_release_goes_through_the_hold_queue(api: Caller, simulator: RunningSimulator) -> None:
    held, _pages = await api.walk("/api/gateway/get-hold-message-list", {"admin": True}, record_key=None, page_size=500)
    assert held
    victim = held[0]["id"]
    released = await api.post("/api/gateway/hold-release", [{"id": victim}])
    assert released.body["data"] == [{"id": victim, "release": True}]
    after, _ = await api.walk("/api/gateway/get-hold-message-list", {"admin": True}, record_key=None, page_size=500)
    assert victim not in {r["id"] for r in after}
    now = simulator.world.clock.time()
    assert [r["status"] for r in simulator.ground_truth("held-release", now - 60, now + 1) if r["id"] == victim] == [
        "released"
    ]
    twice = await api.post("/api/gateway/hold-release", [{"id": victim}])
    assert twice.body["data"] == [{"id": victim, "release": False}]
    unknown = await api.post("/api/gateway/hold-release", [{"id": "eNoUnknown"}])
    assert _codes(unknown.body) == ["err_held_message_not_found"]
    reason = await api.post("/api/gateway/hold-reject", [{"ids": [after[0]["id"]], "reasonType": "BECAUSE"}])
    assert _codes(reason.body) == ["err_validation_invalid_value"]


async def test_message_tracking_window(api: Caller, simulator: RunningSimulator) -> None:
    message = next(iter(_state(simulator).messages.values()))
    found = await api.post("/api/message-finder/search", [{"messageId": message["messageId"]}])
    assert [t["id"] for t in found.body["data"][0]["trackedEmails"]] == [message["id"]]
    old = await api.post(
        "/api/message-finder/search", [{"messageId": message["messageId"], "start": "2020-01-01T00:00:00+0000"}]
    )
    assert _codes(old.body) == ["err_track_and_trace_invalid_start_date"]
    neither = await api.post("/api/message-finder/search", [{}])
    assert _codes(neither.body) == ["err_validation_null"]


async def test_remediation(api: Caller, simulator: RunningSimulator) -> None:
    sha = next(a["sha256"] for m in _state(simulator).messages.values() for a in m["attachments"])
    created = await api.post(
        "/api/ttp/remediation/create", [{"hashOrMessageId": sha, "searchBy": "hash", "reason": "r"}]
    )
    incident = created.body["data"][0]
    assert incident["identified"] >= 1
    got = await api.post("/api/ttp/remediation/get-incident", [{"id": incident["code"]}])
    assert got.body["data"][0]["id"] == incident["id"]
    found = await api.post("/api/ttp/remediation/search-hash", [{"hashes": [sha, "nothex"]}])
    assert found.body["data"][0]["hashStatus"] == [{"hash": sha, "detected": True}]
    assert found.body["data"][0]["failedHashes"][0]["hash"] == "nothex"
    empty = await api.post("/api/ttp/remediation/find-incidents", [{}])
    assert _codes(empty.body) == ["err_validation_null"]
