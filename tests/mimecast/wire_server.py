"""A tiny scripted HTTP server for the few wire cases the simulator does not model.

Used only where the simulator has no equivalent: exact request headers and bytes, REST-style
families, mid-stream binary truncation, redirects, ``Retry-After`` and TLS. Binds 127.0.0.1 on a free
port; the context manager stops it.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from mimecast_siem.mimecast import MimecastClient, RateLimiter
from tests.mimecast.conftest import FAST_RETRY, tenant_for

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class WireServer:
    url: str
    seen: list[Seen] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


SERVER = web.AppKey("server", WireServer)


def calls_so_far(request: web.Request, path: str) -> int:
    """How many requests to ``path`` the server has received, this one included."""
    return sum(1 for s in request.app[SERVER].seen if s.path == path)


async def token_ok(request: web.Request) -> web.Response:
    n = calls_so_far(request, "/oauth/token")
    return web.json_response(
        {"access_token": f"wire-token-{n}-abcdefghijklmnop", "token_type": "Bearer", "expires_in": 1799}
    )


@contextlib.asynccontextmanager
async def wire_server(
    routes: Mapping[tuple[str, str], Handler], *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[WireServer]:
    """Serve ``routes`` ({(method, path): handler}); ``/oauth/token`` answers a token unless overridden."""
    app = web.Application()
    server = WireServer(url="")
    app[SERVER] = server

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        server.seen.append(Seen(request.method, request.path, dict(request.query), dict(request.headers), body))
        return await handler(request)

    app.middlewares.append(record)
    all_routes = {("POST", "/oauth/token"): token_ok, **routes}
    for (method, path), handler in all_routes.items():
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        host, port = runner.addresses[0][:2]
        server.url = f"{'https' if tls else 'http'}://{host}:{port}"
        yield server
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def served(
    routes: Mapping[tuple[str, str], Handler],
    *,
    tls: ssl.SSLContext | None = None,
    limiter: RateLimiter | None = None,
    **tenant: Any,
) -> AsyncIterator[tuple[WireServer, MimecastClient]]:
    """A wire server and an open client of tenant ``acme`` pointing at it."""
    async with (
        wire_server(routes, tls=tls) as server,
        MimecastClient(tenant_for(server.url, **tenant), limiter=limiter, retry=FAST_RETRY) as client,
    ):
        yield server, client
