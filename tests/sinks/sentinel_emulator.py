"""A strict HTTPS emulation of Entra ID's token endpoint and the Azure Monitor Logs Ingestion API.

Behaviour follows Microsoft's documentation (shared/docs/sinks.md section 4.2):

* ``POST /{tenant}/oauth2/v2.0/token`` (form): ``grant_type=client_credentials``, the registered
  ``client_id`` / ``client_secret`` and the scope ``https://monitor.azure.com//.default`` (the single-slash
  form is accepted too); answers ``{"token_type": "Bearer", "expires_in", "access_token"}`` or a 400/401
  with ``error`` / ``error_description`` (``AADSTS...`` codes).
* ``POST /dataCollectionRules/{dcr}/streams/{stream}?api-version=2023-01-01``: bearer token required and
  not expired (401), the app must hold the publisher role (403), the DCR must exist (404) and declare the
  stream (400 ``InvalidStream``), ``Content-Type: application/json``, optional ``Content-Encoding: gzip``,
  at most 1 MB per call compressed and uncompressed (413), the body must be a JSON array of objects
  (400), ``TimeGenerated`` must be an ISO 8601 time (400). Success is ``204`` with no body. Scripted
  failures: 429 with ``Retry-After``, 503.
"""

from __future__ import annotations

import gzip
import secrets
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

SCOPES = ("https://monitor.azure.com//.default", "https://monitor.azure.com/.default")
LIMIT = 1_048_576


@dataclass
class SentinelEmulator:
    tenant_id: str = "11111111-2222-3333-4444-555555555555"
    client_id: str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    client_secret: str = "emulator-secret-value"
    dcr: str = "dcr-0123456789abcdef0123456789abcdef"
    streams: set[str] = field(default_factory=lambda: {"Custom-MimecastTtpUrl_CL", "Custom-MimecastAudit_CL"})
    has_role: bool = True
    token_lifetime: int = 3600
    url: str = ""
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    scripted: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    #: Scripted: a call whose body contains this text is refused whole with 400 InvalidPayload.
    refuse_marker: str | None = None
    _tokens: dict[str, float] = field(default_factory=dict)

    def fail_next(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.scripted.append((status, headers or {}))

    def expire_tokens(self) -> None:
        self._tokens = dict.fromkeys(self._tokens, 0.0)

    def app(self) -> web.Application:
        application = web.Application(client_max_size=8 * LIMIT)
        application.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        application.router.add_post("/dataCollectionRules/{dcr}/streams/{stream}", self._ingest)
        return application

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        if request.match_info["tenant"] != self.tenant_id:
            return _aad(400, "invalid_request", f"AADSTS90002: Tenant '{request.match_info['tenant']}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _aad(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
        if form.get("client_id") != self.client_id:
            return _aad(400, "unauthorized_client", "AADSTS700016: Application not found in the directory.")
        if form.get("client_secret") != self.client_secret:
            return _aad(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        if form.get("scope") not in SCOPES:
            return _aad(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.")
        token = secrets.token_urlsafe(32)
        self._tokens[token] = time.monotonic() + self.token_lifetime
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            }
        )

    async def _ingest(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("api-version") != "2023-01-01":
            return _api(400, "InvalidApiVersion", "The api-version query parameter is missing or not supported.")
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or self._tokens.get(token, 0.0) < time.monotonic():
            return _api(401, "InvalidToken", "The access token is missing, invalid or expired.")
        if not self.has_role:
            return _api(
                403, "OperationFailed", "The authentication token provided does not have access to ingest data."
            )
        if request.match_info["dcr"] != self.dcr:
            return _api(404, "NotFound", "Data collection rule with immutable id was not found.")
        stream = request.match_info["stream"]
        if stream not in self.streams:
            return _api(400, "InvalidStream", f"Stream {stream} is not declared in the data collection rule.")
        if request.content_type != "application/json":
            return _api(415, "UnsupportedMediaType", "Content-Type must be application/json.")
        body = await request.read()
        if len(body) > LIMIT:
            return _api(413, "ContentLengthLimitExceeded", "The request body is larger than 1 MB.")
        if request.headers.get("Content-Encoding") == "gzip":
            try:
                body = gzip.decompress(body)
            except OSError:
                return _api(400, "InvalidContentEncoding", "The body is not valid gzip.")
        if len(body) > LIMIT:
            return _api(413, "ContentLengthLimitExceeded", "The uncompressed body is larger than 1 MB.")
        if self.scripted:
            status, headers = self.scripted.pop(0)
            return web.json_response(
                {"error": {"code": "Scripted", "message": f"scripted {status}"}}, status=status, headers=headers
            )
        if self.refuse_marker is not None and self.refuse_marker.encode() in body:
            return _api(400, "InvalidPayload", "A record does not match the stream declaration.")
        try:
            rows = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _api(400, "InvalidPayload", "The body is not valid JSON.")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            return _api(400, "InvalidPayload", "The body must be a JSON array of objects.")
        for row in rows:
            try:
                datetime.fromisoformat(str(row.get("TimeGenerated")))
            except ValueError:
                return _api(400, "InvalidPayload", "TimeGenerated is not a valid datetime.")
        self.calls.append({"stream": stream, "rows": len(rows), "bytes": request.content_length})
        self.rows.setdefault(stream, []).extend(rows)
        return web.Response(status=204)


def _aad(status: int, error: str, description: str) -> web.Response:
    return web.json_response(
        {
            "error": error,
            "error_description": description,
            "error_codes": [int(description[6:].split(":", maxsplit=1)[0])],
        },
        status=status,
    )


def _api(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@asynccontextmanager
async def run_emulator(
    emulator: SentinelEmulator, context: ssl.SSLContext, port: int = 0
) -> AsyncIterator[SentinelEmulator]:
    """Serve the emulator over HTTPS on 127.0.0.1 for the block."""
    runner = web.AppRunner(emulator.app(), auto_decompress=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=context)
    await site.start()
    server = site._server
    assert server is not None
    emulator.url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"  # type: ignore[attr-defined]
    try:
        yield emulator
    finally:
        await runner.cleanup()
