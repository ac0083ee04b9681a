"""HTTP answers the simulator gives on the wire: JSON envelopes, 401/429 bodies, and broken responses."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from mimecast_siem.simulator.wire import ERR_INTERNAL, ERR_RATE_LIMIT, ERR_UNAUTHORIZED, error_envelope
from mimecast_siem.simulator.world import World

WORLD_KEY = web.AppKey("world", World)
_HTML_PAGES = {
    200: "<html><head><title>Service maintenance</title></head><body><h1>We'll be right back</h1></body></html>",
    502: "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>",
    503: "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service "
    "Temporarily Unavailable</h1></center></body></html>",
}


def world_of(request: web.Request) -> World:
    """The world an app serves."""
    return request.app[WORLD_KEY]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer serialised with orjson."""
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def unauthorized(message: str) -> web.Response:
    """401 with a ``fail[]`` body (the exact real code is unknown: mimecast-api.md section 1.3)."""
    return json_response(error_envelope(401, ERR_UNAUTHORIZED, message), status=401)


def quota_headers(limit: int, remaining: int, reset_ms: int) -> dict[str, str]:
    """The ``X-RateLimit-*`` headers (mimecast-api.md section 3; ``Reset`` in milliseconds)."""
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset_ms),
    }


def rate_limited(limit: int, remaining: int, reset_ms: int) -> web.Response:
    """429 with the ``X-RateLimit-*`` headers Mimecast sends only once the quota is exceeded."""
    headers = quota_headers(limit, remaining, reset_ms)
    body = error_envelope(
        429, ERR_RATE_LIMIT, "Rate limit exceeded; retry after X-RateLimit-Reset milliseconds", retryable=True
    )
    return json_response(body, status=429, headers=headers)


def error_status(status: int) -> web.Response:
    """An injected HTTP error: gateway errors as HTML pages, others as JSON ``fail[]``."""
    if status == 401:
        return unauthorized("Access token has expired")
    if status == 429:
        return rate_limited(0, 0, 1000)
    if status in _HTML_PAGES and status != 200:
        return web.Response(text=_HTML_PAGES[status], status=status, content_type="text/html")
    body = error_envelope(
        status,
        ERR_INTERNAL if status >= 500 else "err_simulated_status",
        f"Simulated HTTP {status}",
        retryable=status >= 500,
    )
    return json_response(body, status=status)


async def drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the connection without sending a byte of response."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    # aiohttp writes nothing to an aborted transport; the client sees a disconnect.
    raise asyncio.CancelledError


async def malformed(request: web.Request, kind: str, body: bytes) -> web.StreamResponse:
    """A 200 that breaks the client's parser: invalid JSON, a truncated body, or an HTML page."""
    if kind == "html":
        return web.Response(text=_HTML_PAGES[200], status=200, content_type="text/html")
    if kind == "invalid_json":
        return web.Response(
            body=body[: max(1, len(body) // 2)] + b"\x00}{", status=200, content_type="application/json"
        )
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    transport = request.transport
    if transport is not None:
        transport.close()
    raise asyncio.CancelledError
