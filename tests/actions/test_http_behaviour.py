"""HTTP behaviour beyond access control: held-message release/reject change the hold queue (and the
release log the collector reads), dry runs send nothing, downloads stream with a cap, the generic
action's path guard, and Mimecast refusals and transport failures as problem documents."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from mimecast_siem.actions.audit import AuditTrail
from mimecast_siem.actions.http import build_actions_app
from mimecast_siem.actions.service import ActionService, ClientPool
from mimecast_siem.checkpoints import StateStore
from mimecast_siem.config import load_settings
from mimecast_siem.mimecast import RetryPolicy, reset_limiters
from mimecast_siem.simulator.config import RequestQuota
from tests.actions.cases import World
from tests.actions.conftest import ActionEnv, bearer, write_config


async def _held(http: Any) -> set[str]:
    resp = await http.post(
        "/v1/actions/get-hold-message-list",
        json={"params": {"admin": True, "page_size": 100}, "limit": 10_000},
        headers=bearer("ops"),
    )
    doc = await resp.json()
    assert resp.status == 200, doc
    assert doc["result"]["truncated"] is False
    return {r["id"] for r in doc["result"]["records"]}


@pytest.mark.parametrize(
    ("action", "status"), [("release-held-message", "released"), ("reject-held-message", "rejected")]
)
async def test_release_and_reject_shrink_the_hold_list(
    action: str, status: str, action_env: ActionEnv, http: Any
) -> None:
    # The queue follows the clock (a message enters hold every ~20 s): frozen, only the action changes it.
    action_env.world.clock.freeze()
    before = await _held(http)
    assert len(before) >= 2
    victim = sorted(before)[0]
    params = (
        {"id": [victim]}
        if action == "release-held-message"
        else {"ids": [victim], "reason_type": "INAPPROPRIATE COMMUNICATION"}
    )
    resp = await http.post(f"/v1/actions/{action}", json={"params": params}, headers=bearer("writer"))
    assert resp.status == 200, await resp.text()
    after = await _held(http)
    assert victim not in after
    assert after <= before
    # the release log (what the collector's held-messages stream reports as "left hold") has it now
    now = action_env.world.clock.time()
    log = action_env.sim.ground_truth("held-release", now - 120, now + 1)
    entry = [r for r in log if r["id"] == victim]
    assert entry
    assert entry[0]["status"] == status
    # releasing it again finds it no longer held
    again = await http.post(
        "/v1/actions/release-held-message", json={"params": {"id": victim}}, headers=bearer("writer")
    )
    doc = await again.json()
    assert doc["result"] == [{"id": victim, "release": False}]


async def test_summary_counts_follow_the_queue(action_env: ActionEnv, http: Any) -> None:
    action_env.world.clock.freeze()  # no message enters or leaves hold between the two reads
    before = await (await http.post("/v1/actions/get-held-message-list", json={}, headers=bearer("reader"))).json()
    total = sum(p["numberOfItems"] for p in before["result"])
    assert total == len(await _held(http))


async def test_dry_run_over_http_sends_nothing(action_env: ActionEnv, http: Any) -> None:
    action_env.sim.reset_stats()
    resp = await http.post(
        "/v1/actions/nullify-blocked-sender-policy",
        json={"params": {"policy_id": "eNoPolicy1"}, "dry_run": True},
        headers=bearer("writer"),
    )
    doc = await resp.json()
    assert resp.status == 200
    assert [r["url"].rsplit("/", 1)[-1] for r in doc["requests"]] == ["get-policy", "create-policy"]
    assert doc["requests"][1]["body"]["data"][0]["option"] == "no_action"
    assert action_env.requests_seen() == 0


async def test_http_download_and_cap(action_env: ActionEnv, http: Any, store: StateStore) -> None:
    w = World(action_env.world)
    _mid, fid = w.message_with_file()
    resp = await http.post("/v1/actions/get-archive-file", json={"params": {"file_id": fid}}, headers=bearer("reader"))
    assert resp.status == 200
    data = await resp.read()
    assert data == w.state.files[fid][1]
    assert resp.headers["X-Content-SHA256"] == hashlib.sha256(data).hexdigest()
    assert "attachment; filename=" in resp.headers["Content-Disposition"]
    big = next(f for f, (_n, content) in w.state.files.items() if len(content) > 100_000)
    resp = await http.post("/v1/actions/get-archive-file", json={"params": {"file_id": big}}, headers=bearer("reader"))
    doc = await resp.json(content_type=None)
    assert resp.status == 502
    assert doc["type"].endswith(":download-too-large")
    assert (await store.list_audit(limit=1))[0].outcome == "download_too_large"


GUARD_ATTACKS = [
    "https://evil.example.com/api/account/get-account",
    "http://127.0.0.1:1/x",
    "//evil.example.com/api/x",
    "api/../oauth/token",
    "api/./account",
    "/api/%2e%2e/%2e%2e/etc/passwd",
    "api/%252e%252e/x",
    "api/account%2fget-account",
    "api\\..\\account",
    "api/account/get-account?x=1",
    "api/account#frag",
    "api//account",
    "api/acc ount",
    "api/account\r\nHost: evil",
    "api/account\x00",
    "user@evil.example.com/api",
    "evil.example.com:443/api",
    "oauth/token",
    "api/ãccount",
]


@pytest.mark.parametrize("endpoint", GUARD_ATTACKS)
async def test_generic_action_path_guard(endpoint: str, action_env: ActionEnv, http: Any) -> None:
    action_env.sim.reset_stats()
    params = {"method": "POST", "endpoint": endpoint, "payload": {"data": []}}
    resp = await http.post("/v1/actions/generic-action", json={"params": params}, headers=bearer("admin"))
    doc = await resp.json(content_type=None)
    assert resp.status == 400, doc
    assert doc["errors"][0]["key"] == "endpoint"
    assert action_env.requests_seen() == 0


async def test_generic_action_reaches_the_tenant_only(action_env: ActionEnv, http: Any) -> None:
    params = {"method": "POST", "endpoint": "/api/directory/find-groups", "payload": {"data": [{}]}}
    resp = await http.post("/v1/actions/generic-action", json={"params": params}, headers=bearer("admin"))
    doc = await resp.json()
    assert resp.status == 200
    assert doc["result"]["body"]["data"][0]["folders"]
    dry = await http.post(
        "/v1/actions/generic-action", json={"params": params, "dry_run": True}, headers=bearer("admin")
    )
    assert (await dry.json())["requests"][0]["url"] == f"{action_env.sim.url}/api/directory/find-groups"
    # write and read scopes do not grant the generic action
    assert (
        await http.post("/v1/actions/generic-action", json={"params": params}, headers=bearer("writer"))
    ).status == 403


async def test_refusals_carry_mimecast_fail_codes(http: Any) -> None:
    resp = await http.post(
        "/v1/actions/create-managed-url",
        json={"params": {"url_information": [{"url": "https://dup.example.net/", "action": "block"}]}},
        headers=bearer("writer"),
    )
    assert resp.status == 200
    dup = await http.post(
        "/v1/actions/create-managed-url",
        json={"params": {"url_information": [{"url": "https://dup.example.net/", "action": "block"}]}},
        headers=bearer("writer"),
    )
    doc = await dup.json(content_type=None)
    assert dup.status == 422
    assert dup.headers["Content-Type"].startswith("application/problem+json")
    assert doc["fail"][0]["code"] == "err_managed_url_exists_code"
    assert doc["mimecast_status"] == 200
    missing = await http.post(
        "/v1/actions/nullify-blocked-sender-policy",
        json={"params": {"policy_id": "eNoMissing"}},
        headers=bearer("writer"),
    )
    assert missing.status == 422
    unknown = await http.post(
        "/v1/actions/get-group-members", json={"params": {"group_id": "eNoUnknownGroup"}}, headers=bearer("reader")
    )
    assert unknown.status == 422
    assert (await unknown.json(content_type=None))["fail"][0]["code"] == "err_folder_not_found"


async def test_truncated_group_id_gets_the_empty_400(action_env: ActionEnv, http: Any) -> None:
    gid = World(action_env.world).group()
    resp = await http.post(
        "/v1/actions/get-group-members", json={"params": {"group_id": gid[:60]}}, headers=bearer("reader")
    )
    doc = await resp.json(content_type=None)
    assert resp.status == 422
    assert doc["mimecast_status"] == 400
    assert doc["fail"] == []


async def test_transport_failure_is_502(action_env: ActionEnv, store: StateStore, tmp_path: Any) -> None:
    dead = tmp_path / "dead"
    dead.mkdir()
    settings = load_settings(write_config(dead, "http://127.0.0.1:9"), env={})
    pool = ClientPool(retry=RetryPolicy(max_attempts=2, backoff_initial=0.05, backoff_max=0.1, jitter=0.0))
    service = ActionService(settings, audit=AuditTrail(store.record_audit), clients=pool)
    async with TestClient(TestServer(build_actions_app(service), host="127.0.0.1")) as client:
        resp = await client.post("/v1/actions/get-current-account-details", json={}, headers=bearer("reader"))
        doc = await resp.json(content_type=None)
    assert resp.status == 502
    assert doc["type"].endswith(":transport")
    assert (await store.list_audit(limit=1))[0].outcome == "transport"


async def test_exhausted_quota_is_503_with_retry_after(action_env: ActionEnv, store: StateStore) -> None:
    reset_limiters()
    action_env.sim.set_faults(quota=RequestQuota(limit=2, period=600.0))
    service = ActionService(action_env.settings, audit=AuditTrail(store.record_audit), max_wait=0.5)
    try:
        async with TestClient(TestServer(build_actions_app(service), host="127.0.0.1")) as client:
            statuses = []
            for _ in range(3):
                resp = await client.post("/v1/actions/get-current-account-details", json={}, headers=bearer("reader"))
                statuses.append(resp.status)
            doc = await resp.json(content_type=None)
        assert statuses[0] == 200
        assert statuses[-1] == 503
        assert doc["type"].endswith(":rate-limited")
        assert int(resp.headers["Retry-After"]) >= 1
        assert (await store.list_audit(limit=1))[0].outcome == "rate_limited"
    finally:
        action_env.sim.clear_faults()
        reset_limiters()  # the paused app must not leak into other tests of this process
