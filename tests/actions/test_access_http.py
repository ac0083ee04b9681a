"""Access control of the HTTP API: the scope matrix, 401 vs 403, tenant restrictions, the failed-auth
throttle, body limits, the disabled API, and an audit record for every call with no secret in it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from mimecast_siem.actions.access import FailedAuthThrottle
from mimecast_siem.actions.audit import AuditTrail
from mimecast_siem.actions.http import build_actions_app
from mimecast_siem.actions.service import ActionService
from mimecast_siem.checkpoints import StateStore
from mimecast_siem.observability.metrics import metrics
from tests.actions.conftest import CLIENT_SECRET_MARK, TOKENS, ActionEnv, bearer

#: One action per scope, called as a dry run (nothing is sent; access is decided first).
BY_SCOPE = {
    "read": ("get-current-account-details", {}),
    "write": ("create-group", {"groups_information": [{"description": "g"}]}),
    "admin": ("generic-action", {"method": "GET", "endpoint": "api/account/get-account"}),
}
MATRIX = [(token, scope) for token in ("reader", "writer", "admin", "ops") for scope in BY_SCOPE]


@pytest.mark.parametrize(("token", "scope"), MATRIX, ids=[f"{t}->{s}" for t, s in MATRIX])
async def test_scope_matrix(token: str, scope: str, http: Any, store: StateStore, action_env: ActionEnv) -> None:
    name, params = BY_SCOPE[scope]
    resp = await http.post(f"/v1/actions/{name}", json={"params": params, "dry_run": True}, headers=bearer(token))
    doc = await resp.json(content_type=None)
    allowed = scope in TOKENS[token][1]
    if allowed:
        assert resp.status == 200, doc
        assert doc["dry_run"] is True
    else:
        assert resp.status == 403, doc
        assert doc["type"].endswith(":forbidden")
        assert f"lacks the {scope} scope" in doc["detail"]
        assert "WWW-Authenticate" not in resp.headers
    rows = await store.list_audit(limit=1)
    assert rows[0].actor == token
    assert rows[0].outcome == ("dry_run" if allowed else "forbidden")
    assert rows[0].dry_run is True
    assert action_env.requests_seen() == 0  # dry runs and refusals send nothing


@pytest.mark.parametrize(
    ("header", "invalid_token"),
    [
        (None, False),
        ("Basic dXNlcjpwYXNz", True),
        ("Bearer not-a-configured-token", True),
        ("Bearer ", True),
        ("Bearer a b", True),
    ],
)
async def test_missing_or_invalid_token_is_401(
    header: str | None, invalid_token: bool, http: Any, store: StateStore
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    resp = await http.post("/v1/actions/get-current-account-details", json={}, headers=headers)
    doc = await resp.json(content_type=None)
    assert resp.status == 401
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="mimecast-siem"')
    assert ('error="invalid_token"' in challenge) == invalid_token
    assert doc["type"].endswith(":unauthorized")
    rows = await store.list_audit(limit=1)
    assert (rows[0].actor, rows[0].outcome, rows[0].action) == (
        "anonymous",
        "unauthorized",
        "get-current-account-details",
    )


async def test_tenant_restriction(http: Any, store: StateStore) -> None:
    ok = await http.post(
        "/v1/actions/get-current-account-details", json={"tenant": "acme"}, headers=bearer("acme-only")
    )
    assert ok.status == 200
    refused = await http.post(
        "/v1/actions/get-current-account-details", json={"tenant": "beta"}, headers=bearer("acme-only")
    )
    doc = await refused.json(content_type=None)
    assert refused.status == 403
    assert "tenant beta" in doc["detail"]
    rows = await store.list_audit(limit=2)
    assert [(r.outcome, r.tenant) for r in rows] == [("forbidden", "beta"), ("ok", "acme")]
    # a restricted token does not learn the other tenants' names
    unknown = await http.post(
        "/v1/actions/get-current-account-details", json={"tenant": "zeta"}, headers=bearer("acme-only")
    )
    detail = (await unknown.json(content_type=None))["detail"]
    assert "acme" in detail
    assert "beta" not in detail
    # a token for every tenant may use beta
    assert (
        await http.post("/v1/actions/get-current-account-details", json={"tenant": "beta"}, headers=bearer("reader"))
    ).status == 200


async def test_unknown_action_is_404_after_authentication(http: Any, store: StateStore) -> None:
    anonymous = await http.post("/v1/actions/no-such-action", json={})
    assert anonymous.status == 401  # nothing is revealed before authentication
    resp = await http.post("/v1/actions/no-such-action", json={}, headers=bearer("reader"))
    assert resp.status == 404
    rows = await store.list_audit(limit=1)
    assert (rows[0].action, rows[0].outcome) == ("no-such-action", "unknown_action")


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        (b"{not json", "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "must be a JSON object"),
        (b'{"params": {}, "extra": 1}', "application/json", "extra: is not a known field"),
        (b'{"params": "x"}', "application/json", "params: must be a JSON object"),
        (b'{"dry_run": "yes"}', "application/json", "dry_run: must be true or false"),
        (b'{"limit": 5}', "application/json", "not a paginated read"),
        (b"params=1", "application/x-www-form-urlencoded", "Content-Type application/json"),
    ],
)
async def test_malformed_bodies_are_400(
    body: bytes, content_type: str, fragment: str, http: Any, action_env: ActionEnv
) -> None:
    resp = await http.post(
        "/v1/actions/get-current-account-details",
        data=body,
        headers={**bearer("ops"), "Content-Type": content_type},
    )
    doc = await resp.json(content_type=None)
    assert resp.status == 400, doc
    assert fragment in doc["detail"]
    assert action_env.requests_seen() == 0


async def test_body_over_the_limit_is_413(http: Any, store: StateStore) -> None:
    big = {"params": {"comment": "x" * 300_000}}
    resp = await http.post("/v1/actions/get-current-account-details", json=big, headers=bearer("ops"))
    assert resp.status == 413
    rows = await store.list_audit(limit=1)
    assert rows[0].outcome == "too_large"


async def test_failed_auth_is_throttled_per_address(action_env: ActionEnv, store: StateStore) -> None:
    now = [1000.0]
    throttle = FailedAuthThrottle(max_failures=3, window=60.0, clock=lambda: now[0])
    service = ActionService(action_env.settings, audit=AuditTrail(store.record_audit))
    async with TestClient(TestServer(build_actions_app(service, throttle=throttle), host="127.0.0.1")) as client:
        for i in range(3):
            assert (
                await client.post("/v1/actions/get-current-account-details", headers={"Authorization": f"Bearer g{i}"})
            ).status == 401
        blocked = await client.post("/v1/actions/get-current-account-details", headers={"Authorization": "Bearer g9"})
        assert blocked.status == 429  # a new wrong token from the same address waits
        assert 1 <= int(blocked.headers["Retry-After"]) <= 60
        # ... but a valid token from that address is never refused because of those failures
        assert (await client.post("/v1/actions/get-current-account-details", headers=bearer("ops"))).status == 200
        now[0] += 61
        assert (
            await client.post("/v1/actions/get-current-account-details", headers={"Authorization": "Bearer g9"})
        ).status == 401
    outcomes = [r.outcome for r in await store.list_audit(limit=10)]
    assert outcomes == ["unauthorized", "ok", "throttled", "unauthorized", "unauthorized", "unauthorized"]


def test_throttle_memory_is_bounded() -> None:
    throttle = FailedAuthThrottle(max_failures=2, window=60.0, max_clients=100, clock=lambda: 0.0)
    for i in range(10_000):
        throttle.record_failure(f"10.0.{i // 256}.{i % 256}")
    assert throttle.tracked() == 100
    assert throttle.retry_after("10.0.39.15") is None  # long forgotten (least recently seen)


async def test_api_is_disabled_without_tokens(action_env: ActionEnv, store: StateStore) -> None:
    settings = action_env.settings.model_copy(deep=True)
    settings.actions.tokens = []
    service = ActionService(settings, audit=AuditTrail(store.record_audit))
    async with TestClient(TestServer(build_actions_app(service), host="127.0.0.1")) as client:
        for resp in (
            await client.post("/v1/actions/get-current-account-details", json={}),
            await client.get("/v1/actions"),
        ):
            doc = await resp.json(content_type=None)
            assert resp.status == 404
            assert "no tokens are configured" in doc["detail"]
    assert action_env.requests_seen() == 0


async def test_catalogue_and_openapi_need_a_token(http: Any) -> None:
    for path in ("/v1/actions", "/v1/openapi.json"):
        assert (await http.get(path)).status == 401
    listing = await (await http.get("/v1/actions", headers=bearer("reader"))).json()
    assert listing["count"] == 50
    entry = next(a for a in listing["actions"] if a["name"] == "release-held-message")
    assert entry["scope"] == "write"
    assert entry["parameters"]["properties"]["id"]["maxItems"] == 25
    doc = await (await http.get("/v1/openapi.json", headers=bearer("reader"))).json()
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert len([p for p in doc["paths"] if p.startswith("/v1/actions/")]) == 50


async def test_audit_is_complete_and_free_of_secrets(
    http: Any, store: StateStore, action_env: ActionEnv, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    calls = [
        ("get-current-account-details", {}, bearer("reader"), 200, "ok"),
        ("decode-url", {"encoded_urls": ["x"] * 30}, bearer("reader"), 400, "invalid"),
        ("decode-url", {"encoded_urls": ["https://not-rewritten.example.com/"]}, bearer("reader"), 422, "refused"),
        ("create-group", {"groups_information": [{"description": "g"}]}, bearer("reader"), 403, "forbidden"),
        ("create-group", {}, {"Authorization": "Bearer " + TOKENS["ops"][0] + "x"}, 401, "unauthorized"),
        ("get-current-account-details", {}, {}, 401, "unauthorized"),
    ]
    for name, params, headers, status, _outcome in calls:
        resp = await http.post(f"/v1/actions/{name}", json={"params": params}, headers=headers)
        assert resp.status == status, await resp.text()
    rows = list(reversed(await store.list_audit(limit=len(calls))))
    assert [(r.action, r.outcome) for r in rows] == [(c[0], c[4]) for c in calls]
    refused = rows[2]
    assert refused.mimecast_status == 200
    assert refused.error_code == "err_url_decode_failed"
    assert all(r.param_digest and len(r.param_digest) == 64 for r in rows)
    assert all(r.duration_ms >= 0 for r in rows)
    secrets = [token for token, _s, _t in TOKENS.values()] + [CLIENT_SECRET_MARK]
    for row in rows:
        text = repr(row)
        assert not any(s in text for s in secrets)
    log_text = "\n".join(r.getMessage() + repr(getattr(r, "audit", "")) for r in caplog.records)
    assert "finished with outcome refused" in log_text
    assert not any(s in log_text for s in secrets)
    calls_metric = metrics().action_calls
    assert calls_metric.labels(action="decode-url", outcome="invalid")._value.get() == 1
    assert calls_metric.labels(action="create-group", outcome="forbidden")._value.get() == 1
