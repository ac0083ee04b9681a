"""``Idempotency-Key`` on the HTTP action API (issue 17, item 2): a repeated key within 24 h
returns the stored answer without acting again (counted at the simulator), another body with the
same key is 422, concurrent requests with one key act once - on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from mimecast_siem.actions.access import FailedAuthThrottle
from mimecast_siem.actions.audit import AuditTrail
from mimecast_siem.actions.http import build_actions_app
from mimecast_siem.actions.service import ActionService, ClientPool
from mimecast_siem.checkpoints import StateStore
from mimecast_siem.simulator.config import ScriptedFault
from tests.actions.conftest import ActionEnv, bearer
from tests.actions.test_write_safety import FAST_RETRY, path_count

CREATE = "/api/ttp/url/create-managed-url"


def managed(url: str) -> dict[str, Any]:
    return {"params": {"url_information": [{"url": url, "action": "block"}]}}


def keyed(token: str, key: str) -> dict[str, str]:
    return {**bearer(token), "Idempotency-Key": key}


async def test_a_repeated_key_replays_the_stored_answer(action_env: ActionEnv, http: Any, store: StateStore) -> None:
    first = await http.post(
        "/v1/actions/create-managed-url", json=managed("https://k1.example.net/"), headers=keyed("ops", "k-1")
    )
    doc = await first.json()
    assert first.status == 200, doc
    again = await http.post(
        "/v1/actions/create-managed-url", json=managed("https://k1.example.net/"), headers=keyed("ops", "k-1")
    )
    assert again.status == 200
    assert await again.json() == doc
    assert again.headers["Idempotent-Replayed"] == "true"
    assert path_count(action_env, CREATE) == 1  # acted once
    outcomes = [r.outcome for r in await store.list_audit(limit=2, action="create-managed-url")]
    assert outcomes == ["replayed", "ok"]
    # without the key the same request acts again (and Mimecast refuses the duplicate)
    plain = await http.post(
        "/v1/actions/create-managed-url", json=managed("https://k1.example.net/"), headers=bearer("ops")
    )
    assert plain.status == 422
    assert path_count(action_env, CREATE) == 2


async def test_same_key_with_another_body_is_422(http: Any) -> None:
    await http.post(
        "/v1/actions/create-managed-url", json=managed("https://k2.example.net/"), headers=keyed("ops", "k-2")
    )
    other = await http.post(
        "/v1/actions/create-managed-url", json=managed("https://k3.example.net/"), headers=keyed("ops", "k-2")
    )
    doc = await other.json(content_type=None)
    assert other.status == 422
    assert doc["type"].endswith(":idempotency-mismatch")


async def test_keys_are_per_caller(action_env: ActionEnv, http: Any) -> None:
    a = await http.post(
        "/v1/actions/create-managed-url", json=managed("https://k4.example.net/"), headers=keyed("ops", "shared")
    )
    b = await http.post(
        "/v1/actions/create-managed-url", json=managed("https://k5.example.net/"), headers=keyed("writer", "shared")
    )
    assert (a.status, b.status) == (200, 200)


@pytest.mark.parametrize("key", ["", "with space", "x" * 256, "ünïcode"])
async def test_bad_keys_are_refused(key: str, action_env: ActionEnv, http: Any) -> None:
    before = action_env.requests_seen()
    resp = await http.post(
        "/v1/actions/create-managed-url", json=managed("https://k6.example.net/"), headers=keyed("ops", key)
    )
    assert resp.status == 400
    assert (await resp.json(content_type=None))["errors"][0]["key"] == "Idempotency-Key"
    assert action_env.requests_seen() == before


async def test_an_unknown_outcome_is_stored_and_never_resent(action_env: ActionEnv, store: StateStore) -> None:
    action_env.sim.set_faults(script=[ScriptedFault(path=CREATE, count=10, status=502)])
    service = ActionService(
        action_env.settings, audit=AuditTrail(store.record_audit), clients=ClientPool(retry=FAST_RETRY)
    )
    app = build_actions_app(service, idempotency=store)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            statuses = []
            for _ in range(3):
                resp = await client.post(
                    "/v1/actions/create-managed-url",
                    json=managed("https://k7.example.net/"),
                    headers=keyed("ops", "k-7"),
                )
                statuses.append(resp.status)
    finally:
        action_env.sim.clear_faults()
    assert statuses == [504, 504, 504]
    assert path_count(action_env, CREATE) == 1


async def _concurrent_same_key(env: ActionEnv, store: StateStore) -> list[int]:
    env.sim.set_faults(script=[ScriptedFault(path=CREATE, count=1, kind="delay", delay=1.0)])
    service = ActionService(env.settings, audit=AuditTrail(store.record_audit))
    app = build_actions_app(service, throttle=FailedAuthThrottle(max_failures=1000), idempotency=store)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:

            async def one() -> int:
                resp = await client.post(
                    "/v1/actions/create-managed-url",
                    json=managed("https://race.example.net/"),
                    headers=keyed("ops", "race"),
                )
                await resp.read()
                return resp.status

            statuses = await asyncio.gather(*(one() for _ in range(6)))
    finally:
        env.sim.clear_faults()
    return sorted(statuses)


async def test_concurrent_requests_with_one_key_act_once(action_env: ActionEnv, store: StateStore) -> None:
    statuses = await _concurrent_same_key(action_env, store)
    assert statuses == [200, 409, 409, 409, 409, 409]
    assert path_count(action_env, CREATE) == 1


@pytest.mark.postgres
async def test_concurrent_requests_with_one_key_act_once_on_postgresql(
    action_env: ActionEnv, postgres_url: str
) -> None:
    pg = await StateStore.open(postgres_url)
    try:
        assert pg.backend == "postgresql"
        statuses = await _concurrent_same_key(action_env, pg)
        replay = await _concurrent_same_key(action_env, pg)  # the stored answer, six times
    finally:
        await pg.close()
    assert statuses == [200, 409, 409, 409, 409, 409]
    assert replay == [200] * 6
    assert path_count(action_env, CREATE) == 1


async def test_expired_keys_are_pruned_now_and_then(
    action_env: ActionEnv, store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mimecast_siem.actions.http as http_module

    calls: list[int] = []
    original = store.prune_idempotency

    async def counting() -> int:
        calls.append(1)
        return await original()

    monkeypatch.setattr(http_module, "PRUNE_EVERY", 2)
    monkeypatch.setattr(store, "prune_idempotency", counting)
    service = ActionService(action_env.settings, audit=AuditTrail(store.record_audit))
    async with TestClient(TestServer(build_actions_app(service, idempotency=store), host="127.0.0.1")) as client:
        for i in range(4):
            await client.post("/v1/actions/get-managed-urls", json={}, headers=keyed("ops", f"p-{i}"))
    assert len(calls) == 2


async def test_an_unavailable_store_sends_nothing(
    action_env: ActionEnv, store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mimecast_siem.checkpoints import StateStoreUnavailable

    async def broken(*_a: Any, **_k: Any) -> Any:
        raise StateStoreUnavailable("down")

    monkeypatch.setattr(store, "claim_idempotency", broken)
    service = ActionService(action_env.settings, audit=AuditTrail(store.record_audit))
    before = path_count(action_env, CREATE)
    async with TestClient(TestServer(build_actions_app(service, idempotency=store), host="127.0.0.1")) as client:
        resp = await client.post(
            "/v1/actions/create-managed-url", json=managed("https://k8.example.net/"), headers=keyed("ops", "k-8")
        )
        doc = await resp.json(content_type=None)
    assert resp.status == 503, doc
    assert "nothing was sent" in doc["detail"]
    assert path_count(action_env, CREATE) == before


async def test_a_failed_store_write_after_the_action_still_answers(
    action_env: ActionEnv, store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mimecast_siem.checkpoints import StateStoreUnavailable

    async def broken(*_a: Any, **_k: Any) -> None:
        raise StateStoreUnavailable("down")

    monkeypatch.setattr(store, "complete_idempotency", broken)
    service = ActionService(action_env.settings, audit=AuditTrail(store.record_audit))
    async with TestClient(TestServer(build_actions_app(service, idempotency=store), host="127.0.0.1")) as client:
        first = await client.post(
            "/v1/actions/create-managed-url", json=managed("https://k9.example.net/"), headers=keyed("ops", "k-9")
        )
        again = await client.post(
            "/v1/actions/create-managed-url", json=managed("https://k9.example.net/"), headers=keyed("ops", "k-9")
        )
    assert first.status == 200
    assert again.status == 409  # the key stayed pending: never a second run
    assert path_count(action_env, CREATE) == 1
