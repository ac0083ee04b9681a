"""Partial outcomes and write safety against the simulator (issue 17, items 1, 2 and 5).

* a batch that partly succeeded answers HTTP 207 / CLI exit 5 with both lists and ``partial`` in
  the audit (release-held-message with a real and an unknown id; decode-url with one bad URL);
* a write that may have reached Mimecast (5xx, dropped connection, timeout) is sent exactly once
  and answers ``unknown`` (HTTP 504, exit 6) with what to check - counted at the simulator; reads
  are still retried;
* the wire: ``senderIP`` as given, the generic action's ``/api`` envelope, get-file's JSON answer
  with a download URL, URLs checked before create-managed-url.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from mimecast_siem.actions.audit import AuditTrail
from mimecast_siem.actions.http import build_actions_app
from mimecast_siem.actions.service import ActionService, ClientPool
from mimecast_siem.checkpoints import StateStore
from mimecast_siem.config.models import Settings
from mimecast_siem.mimecast import RetryPolicy
from mimecast_siem.simulator.actions_threats import rewrite_url
from mimecast_siem.simulator.config import ScriptedFault
from tests.actions.cases import World
from tests.actions.conftest import ActionEnv, CliRunner, bearer

FAST_RETRY = RetryPolicy(max_attempts=4, backoff_initial=0.01, backoff_max=0.02, jitter=0.0)


def path_count(env: ActionEnv, path: str) -> int:
    """Requests the simulator saw on ``path`` (any status)."""
    return sum(n for (p, _status, _client), n in env.sim.stats().requests.items() if p == path)


def with_timeout(settings: Settings, seconds: float) -> Settings:
    """The settings with a short tenant timeout (model_copy skips the 15 s minimum on purpose)."""
    tenants = [t.model_copy(update={"timeout": seconds}) for t in settings.tenants]
    return settings.model_copy(update={"tenants": tenants})


async def serve(settings: Settings, store: StateStore) -> TestClient[Any, Any]:
    service = ActionService(settings, audit=AuditTrail(store.record_audit), clients=ClientPool(retry=FAST_RETRY))
    return TestClient(TestServer(build_actions_app(service), host="127.0.0.1"))


# --- 1. partial outcomes -------------------------------------------------------------------------------


async def test_release_one_real_and_one_unknown_id_is_partial(
    action_env: ActionEnv, http: Any, store: StateStore
) -> None:
    w = World(action_env.world)
    real = w.held_id()
    resp = await http.post(
        "/v1/actions/release-held-message",
        json={"params": {"id": [real, "eNoNoSuchHeldMessage"]}},
        headers=bearer("ops"),
    )
    doc = await resp.json()
    assert resp.status == 207, doc
    assert doc["outcome"] == "partial"
    assert [r["id"] for r in doc["result"]] == [real]
    assert doc["failed"][0]["code"] == "err_held_message_not_found"
    assert doc["items"] == {"total": 2, "succeeded": 1, "failed": 1}
    assert real not in w.held_ids()  # the real one WAS released
    row = (await store.list_audit(limit=1, action="release-held-message"))[0]
    assert row.outcome == "partial"
    assert row.items == [
        {"item": 0, "outcome": "ok"},
        {"item": 1, "outcome": "failed", "code": "err_held_message_not_found"},
    ]
    assert row.channel == "http"
    assert row.client == "127.0.0.1"


async def test_decode_url_with_one_bad_url_returns_the_decoded_ones(action_env: ActionEnv, run_cli: CliRunner) -> None:
    good = rewrite_url("https://docs.example.org/a")
    params = {"encoded_urls": [{"url": good}, {"url": "https://protect-xx.mimecast.com/"}]}
    run = await run_cli("action", "run", "decode-url", "--params", json.dumps(params))
    assert run.code == 5, (run.out, run.err)
    assert run.out["outcome"] == "partial"
    assert [r["url"] for r in run.out["result"]] == ["https://docs.example.org/a"]
    assert run.out["failed"][0]["code"] == "err_url_decode_failed"
    assert "partly done" in run.err


async def test_a_whole_batch_failing_is_still_refused(http: Any) -> None:
    resp = await http.post(
        "/v1/actions/release-held-message",
        json={"params": {"id": ["eNoMissing1", "eNoMissing2"]}},
        headers=bearer("ops"),
    )
    assert resp.status == 422
    assert len((await resp.json(content_type=None))["fail"]) == 2


# --- 2. write safety -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["status", "drop", "delay"])
async def test_a_write_is_never_resent_after_it_may_have_arrived(
    kind: str, action_env: ActionEnv, store: StateStore
) -> None:
    path = "/api/ttp/url/create-managed-url"
    action_env.sim.set_faults(script=[ScriptedFault(path=path, count=10, status=500, kind=kind, delay=3.0)])  # type: ignore[arg-type]
    params = {"url_information": [{"url": "https://once.example.net/", "action": "block"}]}
    try:
        async with await serve(with_timeout(action_env.settings, 1.0), store) as client:
            resp = await client.post("/v1/actions/create-managed-url", json={"params": params}, headers=bearer("ops"))
            doc = await resp.json(content_type=None)
    finally:
        action_env.sim.clear_faults()
    if kind == "delay":  # the simulator counts a request when it answers: wait for the slow one
        for _ in range(100):
            if path_count(action_env, path):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
    assert path_count(action_env, path) == 1
    assert resp.status == 504, doc
    assert doc["type"].endswith(":unknown")
    assert "get-managed-urls" in doc["check"]
    assert (await store.list_audit(limit=1))[0].outcome == "unknown"


async def test_reads_are_still_retried_after_a_5xx(action_env: ActionEnv, store: StateStore) -> None:
    path = "/api/ttp/url/get-all-managed-urls"
    action_env.sim.set_faults(script=[ScriptedFault(path=path, count=2, status=503)])
    try:
        async with await serve(action_env.settings, store) as client:
            resp = await client.post("/v1/actions/get-managed-urls", json={}, headers=bearer("ops"))
    finally:
        action_env.sim.clear_faults()
    assert resp.status == 200
    assert path_count(action_env, path) == 3


async def test_a_write_that_could_not_connect_is_retried_and_reported_as_transport(
    action_env: ActionEnv, store: StateStore, tmp_path: Path
) -> None:
    settings = action_env.settings
    dead = [t.model_copy(update={"base_url": "http://127.0.0.1:9"}) for t in settings.tenants]
    service = ActionService(
        settings.model_copy(update={"tenants": dead}),
        audit=AuditTrail(store.record_audit),
        clients=ClientPool(retry=FAST_RETRY),
    )
    async with TestClient(TestServer(build_actions_app(service), host="127.0.0.1")) as client:
        resp = await client.post(
            "/v1/actions/release-held-message", json={"params": {"id": "eNoAnything"}}, headers=bearer("ops")
        )
        doc = await resp.json(content_type=None)
    assert resp.status == 502  # nothing can have arrived: transport, not unknown
    assert doc["type"].endswith(":transport")


async def test_a_429_before_execution_is_waited_out_and_sent_again(action_env: ActionEnv, store: StateStore) -> None:
    path = "/api/gateway/hold-release"
    held = World(action_env.world).held_id()
    action_env.sim.set_faults(script=[ScriptedFault(path=path, count=1, status=429)])
    try:
        async with await serve(action_env.settings, store) as client:
            resp = await client.post(
                "/v1/actions/release-held-message", json={"params": {"id": held}}, headers=bearer("ops")
            )
    finally:
        action_env.sim.clear_faults()
    assert resp.status == 200, await resp.text()
    assert path_count(action_env, path) == 2


# --- 5. fidelity -----------------------------------------------------------------------------------------


async def test_sender_ip_is_sent_as_given(run_cli: CliRunner) -> None:
    params = {"advanced_track_and_trace_options": {"senderIP": "192.0.2.1"}}
    run = await run_cli("action", "run", "search", "--params", json.dumps(params), "--dry-run")
    assert run.code == 0, run.err
    sent = run.out["requests"][0]["body"]["data"][0]["advancedTrackAndTraceOptions"]["senderIP"]
    assert sent == "192.0.2.1"
    network = await run_cli(
        "action",
        "run",
        "search",
        "--params",
        json.dumps({"advanced_track_and_trace_options": {"senderIP": "192.0.2.0/24"}}),
    )
    assert network.code == 2
    assert "one IP address" in network.err


async def test_generic_action_posts_the_api_envelope(action_env: ActionEnv, http: Any) -> None:
    params = {
        "method": "POST",
        "endpoint": "api/policy/blockedsenders/get-policy",
        "extra_fields": {},
        "query_params": {},
    }
    dry = await http.post(
        "/v1/actions/generic-action", json={"params": params, "dry_run": True}, headers=bearer("admin")
    )
    assert (await dry.json())["requests"][0]["body"] == {"data": []}
    real = await http.post("/v1/actions/generic-action", json={"params": params}, headers=bearer("admin"))
    doc = await real.json()
    assert real.status == 200, doc
    assert doc["result"]["status"] == 200


async def test_get_file_follows_a_json_answer_with_a_download_url(action_env: ActionEnv, http: Any) -> None:
    w = World(action_env.world)
    _mid, fid = w.message_with_file()
    w.state.file_link_base = action_env.sim.url
    try:
        resp = await http.post("/v1/actions/get-file", json={"params": {"file_id": fid}}, headers=bearer("ops"))
        data = await resp.read()
    finally:
        w.state.file_link_base = None
    assert resp.status == 200, data[:200]
    _name, content = w.state.files[fid]
    assert data == content
    assert resp.headers["X-Content-SHA256"] == hashlib.sha256(content).hexdigest()
    assert path_count(action_env, f"/api/gateway/message/file-link/{fid}") == 1


@pytest.mark.parametrize("url", ["a]b", "http://example.com:99999/", "ftp://example.com/", "https://nodot/"])
async def test_odd_urls_are_refused_before_create_managed_url(url: str, action_env: ActionEnv, http: Any) -> None:
    before = action_env.requests_seen()
    resp = await http.post(
        "/v1/actions/create-managed-url",
        json={"params": {"url_information": [{"url": url, "action": "block"}]}},
        headers=bearer("ops"),
    )
    doc = await resp.json(content_type=None)
    assert resp.status == 400, doc
    assert "http or https URL" in doc["detail"]
    assert action_env.requests_seen() == before


async def test_the_simulator_answers_odd_urls_without_a_500(action_env: ActionEnv, http: Any) -> None:
    params = {
        "method": "POST",
        "endpoint": "api/ttp/url/create-managed-url",
        "payload": {"url": "a]b", "action": "block"},
    }
    resp = await http.post("/v1/actions/generic-action", json={"params": params}, headers=bearer("admin"))
    doc = await resp.json(content_type=None)
    assert resp.status == 422, doc
    assert doc["mimecast_status"] == 200
    assert doc["fail"][0]["code"] == "err_validation_invalid_value" or doc["fail"][0]["code"].startswith("err_")
