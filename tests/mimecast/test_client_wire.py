"""Exact wire behaviour the simulator cannot show: headers, replayed bytes, REST families, redirects, TLS."""

from __future__ import annotations

import asyncio
import io
import ssl
from pathlib import Path

import orjson
import pytest
import trustme
from aiohttp import web

from mimecast_siem import __version__
from mimecast_siem.errors import ConfigError, PermanentError, ResponseFormatError
from mimecast_siem.mimecast import MimecastClient, RateLimiter
from tests.mimecast.conftest import CLIENT_ID, CLIENT_SECRET, FAST_RETRY, tenant_for
from tests.mimecast.wire_server import calls_so_far, served

API = "/api/account/get-account"
GET_FILE = "/api/archive/get-file"


async def ok_envelope(request: web.Request) -> web.Response:
    return web.json_response({"meta": {"status": 200}, "data": [{"accountName": "Acme"}], "fail": []})


async def test_request_headers_and_bodies() -> None:
    async with served({("POST", API): ok_envelope}) as (server, client):
        response = await client.request(API, data=[{"accountCode": "C1"}])
    assert response.data == [{"accountName": "Acme"}]
    token_call, api_call = server.seen
    assert token_call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(pair.split("=", 1) for pair in token_call.body.decode().split("&"))
    assert form == {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials"}
    assert api_call.method == "POST"
    assert api_call.headers["Authorization"] == "Bearer wire-token-1-abcdefghijklmnop"
    assert api_call.headers["Content-Type"] == "application/json"
    assert api_call.headers["Accept"] == "application/json"
    assert api_call.headers["User-Agent"] == f"mimecast-siem/{__version__}"
    assert orjson.loads(api_call.body) == {"data": [{"accountCode": "C1"}]}
    assert CLIENT_SECRET not in api_call.body.decode()


async def test_a_401_replays_the_same_bytes_with_a_new_token() -> None:
    async def first_401(request: web.Request) -> web.Response:
        if calls_so_far(request, API) == 1:
            body = {"fail": [{"code": "err_xdk_client_unauthorized", "message": "expired"}]}
            return web.json_response(body, status=401)
        return await ok_envelope(request)

    async with served({("POST", API): first_401}) as (server, client):
        await client.request(API, data=[{"x": 1}], meta={"pagination": {"pageSize": 5, "pageToken": "P2"}})
    calls = [s for s in server.seen if s.path == API]
    assert len(calls) == 2
    assert calls[0].body == calls[1].body
    assert orjson.loads(calls[1].body)["meta"]["pagination"]["pageToken"] == "P2"
    assert calls[0].headers["Authorization"] != calls[1].headers["Authorization"]


async def test_retry_after_wins_over_the_reset_header() -> None:
    async def limited_once(request: web.Request) -> web.Response:
        if calls_so_far(request, API) == 1:
            headers = {"Retry-After": "0.2", "X-RateLimit-Reset": "600000"}
            body = {"fail": [{"code": "err_rate_limit_exceeded", "message": "slow down"}]}
            return web.json_response(body, status=429, headers=headers)
        return await ok_envelope(request)

    async with served({("POST", API): limited_once}) as (_, client), asyncio.timeout(10):  # 600 s would blow this
        response = await client.request(API, data=[])
    assert response.status == 200


async def test_a_429_without_headers_backs_off_exponentially() -> None:
    async def limited_twice(request: web.Request) -> web.Response:
        if calls_so_far(request, API) <= 2:
            return web.json_response({"fail": []}, status=429)
        return await ok_envelope(request)

    limiter = RateLimiter(backoff_initial=0.05, backoff_max=0.2)
    async with served({("POST", API): limited_twice}, limiter=limiter) as (server, client), asyncio.timeout(10):
        response = await client.request(API, data=[])
    assert response.status == 200
    assert server.paths().count(API) == 3


async def test_redirects_are_not_followed() -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("https://elsewhere.invalid/steal")

    async with served({("POST", API): moved}) as (server, client):
        with pytest.raises(PermanentError) as info:
            await client.request(API, data=[])
    assert info.value.status == 302
    assert server.paths().count(API) == 1


# --- REST families -------------------------------------------------------------------------------


async def test_rest_get_with_query_parameters() -> None:
    async def batch(request: web.Request) -> web.Response:
        return web.json_response({"value": [{"url": "https://blob/1"}], "@nextPage": "n2"})

    async with served({("GET", "/siem/v1/batch/events/cg"): batch}) as (server, client):
        response = await client.request_rest(
            "get", "/siem/v1/batch/events/cg", params={"type": "receipt", "pageSize": 10, "skip": None}
        )
    assert response.data == [{"url": "https://blob/1"}]
    assert response.body == {"value": [{"url": "https://blob/1"}], "@nextPage": "n2"}
    call = server.seen[-1]
    assert call.method == "GET"
    assert call.query == {"type": "receipt", "pageSize": "10"}
    assert call.body == b""


async def test_rest_post_json_and_delete_without_body() -> None:
    async def create(request: web.Request) -> web.Response:
        return web.json_response({"id": "p1", **(await request.json())}, status=201)

    async def delete(request: web.Request) -> web.Response:
        return web.Response(status=204)

    routes = {
        ("POST", "/policy-management/v1/policies"): create,
        ("DELETE", "/policy-management/v1/policies/p1"): delete,
    }
    async with served(routes) as (server, client):
        created = await client.request_rest("POST", "/policy-management/v1/policies", json={"name": "x"})
        deleted = await client.request_rest("DELETE", "/policy-management/v1/policies/p1")
    assert created.status == 201
    assert created.body == {"id": "p1", "name": "x"}
    assert (deleted.status, deleted.body, deleted.data) == (204, None, [])
    assert server.seen[1].headers["Content-Type"] == "application/json"


async def test_rest_siem_style_error_is_parsed() -> None:
    async def refuse(request: web.Request) -> web.Response:
        body = {"error": {"code": "invalid_date_range", "message": "dates outside 24 h"}}
        return web.json_response(body, status=400)

    async with served({("GET", "/siem/v1/events/cg"): refuse}) as (server, client):
        with pytest.raises(PermanentError) as info:
            await client.request_rest("GET", "/siem/v1/events/cg")
    assert "invalid_date_range" in str(info.value)
    assert [f.code for f in info.value.failures] == ["invalid_date_range"]
    assert server.paths().count("/siem/v1/events/cg") == 1


async def test_rest_get_with_an_empty_200_is_a_format_error() -> None:
    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=200, body=b"", content_type="application/json")

    async with served({("GET", "/identity/whoami"): empty}) as (server, client):
        with pytest.raises(ResponseFormatError, match="empty body"):
            await client.request_rest("GET", "/identity/whoami")
    assert server.paths().count("/identity/whoami") == FAST_RETRY.max_attempts


async def test_rest_refuses_unknown_methods() -> None:
    async with served({}) as (server, client):
        with pytest.raises(ValueError, match="HTTP method"):
            await client.request_rest("TRACE", "/identity/whoami")
    assert server.seen == []


# --- downloads ------------------------------------------------------------------------------------


async def test_a_binary_cut_mid_stream_is_retried_and_written_once() -> None:
    payload = bytes(range(256)) * 40

    async def flaky_file(request: web.Request) -> web.StreamResponse:
        if calls_so_far(request, GET_FILE) == 1:
            response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
            response.content_length = len(payload)
            await response.prepare(request)
            await response.write(payload[:3000])
            assert request.transport is not None
            request.transport.close()
            return response
        return web.Response(body=payload, content_type="application/octet-stream")

    dest = io.BytesIO()
    async with served({("POST", GET_FILE): flaky_file}) as (server, client):
        result = await client.download(GET_FILE, [{"id": "f"}], dest, max_bytes=10**6)
    assert dest.getvalue() == payload
    assert result.bytes_written == len(payload)
    assert server.paths().count(GET_FILE) == 2
    assert server.seen[-1].headers["Accept"] == "*/*"


async def test_a_json_envelope_without_fail_is_not_a_file() -> None:
    dest = io.BytesIO()
    async with served({("POST", GET_FILE): ok_envelope}) as (_, client):
        with pytest.raises(PermanentError, match="instead of a file"):
            await client.download(GET_FILE, [{"id": "f"}], dest, max_bytes=10**6)
    assert dest.getvalue() == b""


async def test_a_declared_oversize_file_is_refused_before_reading() -> None:
    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000, content_type="application/octet-stream")

    async with served({("POST", GET_FILE): big}) as (_, client):
        with pytest.raises(PermanentError, match="5000 bytes"):
            await client.download(GET_FILE, [{"id": "f"}], io.BytesIO(), max_bytes=4999)


# --- TLS --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


async def test_tls_is_verified_by_default(tls_ca: trustme.CA) -> None:
    async with served({("POST", API): ok_envelope}, tls=server_context(tls_ca)) as (server, client):
        with pytest.raises(PermanentError) as info:
            await client.authenticate()
    assert "ca_file" in str(info.value)
    assert server.seen == []  # nothing was sent to an unverified host


async def test_a_custom_ca_bundle_is_trusted(tls_ca: trustme.CA, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    async with served({("POST", API): ok_envelope}, tls=server_context(tls_ca), ca_bundle=bundle) as (_, client):
        response = await client.request(API, data=[])
    assert response.status == 200


async def test_an_unreadable_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    client = MimecastClient(tenant_for("https://127.0.0.1:9", ca_bundle=tmp_path / "missing.pem"))
    with pytest.raises(ConfigError) as info:
        await client.open()
    assert info.value.problems[0].key == "tenants.acme.ca_file"
    assert "missing.pem" in str(info.value)


async def test_requests_go_through_the_configured_proxy() -> None:
    """The base URL is unreachable; only the proxy answers, and it sees absolute-form requests for that host."""
    async with served({("POST", API): ok_envelope}) as (proxy, _):
        tenant = tenant_for("http://127.0.0.1:9", proxy=proxy.url)
        async with MimecastClient(tenant, retry=FAST_RETRY) as client:
            response = await client.request(API, data=[])
    assert response.data == [{"accountName": "Acme"}]
    assert [s.path for s in proxy.seen] == ["/oauth/token", API]
    assert all(s.headers["Host"] == "127.0.0.1:9" for s in proxy.seen)
