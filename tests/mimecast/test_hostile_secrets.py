"""Secrets in every encoding, echoed back by hostile servers, never reach an error, a log line or a file.

A broken or malicious server (Mimecast, a proxy in front of it, a HEC endpoint) may echo what it was
sent: the form-encoded client secret, the bearer token, the HEC token, in raw, URL-encoded or base64
form. Every message built from such an answer - exception text, ``failures``, a traceback, a log line,
a dead-letter reason - must mask them. So must every message about a state URL whose password has
characters that move it into the host name.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
import traceback
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import yaml
from aiohttp import web

from mimecast_siem.checkpoints.engine import parse_state_url
from mimecast_siem.errors import ApiError, AuthError, ConfigError
from mimecast_siem.observability.logging import register_secret
from tests.mimecast.conftest import CLIENT_ID
from tests.mimecast.wire_server import served

API = "/api/account/get-account"
SECRET = "s3cr3t+/=&?%-HOSTILE-client-9c2f"
ACCESS = "hostile-access-token-5e6f7a8b9c0d"
ROOT = Path(__file__).resolve().parents[2]


def variants(value: str) -> list[str]:
    raw = value.encode()
    return [
        value,
        quote(value, safe=""),
        quote_plus(value),
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
    ]


def assert_masked(text: str, *secrets: str) -> None:
    for secret in secrets:
        for form in variants(secret):
            assert form not in text, f"a form of {secret[:6]}... leaked: {form[:12]}..."


def everything_about(exc: BaseException) -> str:
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    if isinstance(exc, ApiError):
        parts += [repr(f) for f in exc.failures]
    return "\n".join(parts)


async def test_a_token_endpoint_echoing_the_form_leaks_no_form_of_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    async def echo_form(request: web.Request) -> web.Response:
        form = (await request.read()).decode()
        basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
        body = {
            "error": "invalid_client",
            "error_description": f"rejected {form}; b64 {base64.b64encode(SECRET.encode()).decode()}; basic {basic}",
            "fail": [{"key": {"sent": form}, "errors": [{"code": "err_echo", "message": form}]}],
        }
        return web.json_response(body, status=401)

    caplog.set_level(logging.DEBUG)
    async with served({("POST", "/oauth/token"): echo_form}, secret=SECRET) as (_server, client):
        with pytest.raises(AuthError) as info:
            await client.request(API, [{}])
    assert info.value.failures, "Mimecast's codes are kept"
    assert_masked(everything_about(info.value) + caplog.text, SECRET)


async def test_an_api_echoing_the_bearer_token_leaks_no_form_of_it(caplog: pytest.LogCaptureFixture) -> None:
    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": ACCESS, "token_type": "Bearer", "expires_in": 1800})

    async def echo_auth(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        b64 = base64.b64encode(ACCESS.encode()).decode()
        fail = [{"key": {"auth": auth}, "errors": [{"code": f"err_{ACCESS}", "message": f"{auth} / {b64}"}]}]
        return web.json_response({"meta": {"status": 400}, "data": [], "fail": fail}, status=400)

    caplog.set_level(logging.DEBUG)
    async with served({("POST", "/oauth/token"): token, ("POST", API): echo_auth}, secret=SECRET) as (_s, client):
        with pytest.raises(ApiError) as info:
            await client.request(API, [{}])
    assert info.value.status == 400
    assert_masked(everything_about(info.value) + caplog.text, ACCESS, SECRET)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://siem:pa@ss-HOSTILE-w0rd-77@127.0.0.1:1/state",  # '@' moves the rest into the host
        "postgresql://siem:pa?ss-HOSTILE@w0rd-77@127.0.0.1:1/state",  # '?' moves it into the query
    ],
)
def test_a_state_password_with_unescaped_characters_is_refused_unshown(url: str) -> None:
    register_secret(url)
    with pytest.raises(ConfigError) as info:
        parse_state_url(url)
    text = everything_about(info.value) + "".join(p.render() for p in info.value.problems)
    assert "%40" in text
    assert "HOSTILE" not in text
    assert "w0rd" not in text


def test_the_cli_never_prints_a_state_password_fragment(tmp_path: Path) -> None:
    config = {
        "data_dir": str(tmp_path / "data"),
        "state": {"url": "postgresql://siem:pa@ss-HOSTILE-w0rd-77@127.0.0.1:1/state"},
        "tenants": [{"name": "acme", "base_url": "http://127.0.0.1:9", "client_id": "cid", "client_secret": SECRET}],
        "sinks": [{"name": "out", "type": "file", "path": str(tmp_path / "out")}],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    for command in (["checkpoints", "list"], ["run"], ["backfill", "list"], ["action", "audit"]):
        done = subprocess.run(
            [sys.executable, "-m", "mimecast_siem", *command, "--config", str(path)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 2, (command, output[-1500:])
        assert "state.url" in output
        assert "HOSTILE" not in output
        assert "w0rd" not in output
        assert "Traceback" not in output
        assert_masked(output, SECRET)
