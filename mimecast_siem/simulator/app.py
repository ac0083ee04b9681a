"""The aiohttp application: OAuth, the registered API endpoints with auth and faults, and running it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

# Importing these modules registers their endpoints.
import mimecast_siem.simulator.log_endpoints
import mimecast_siem.simulator.streams
import mimecast_siem.simulator.threat_feed  # noqa: F401
from mimecast_siem.simulator import (
    actions_directory,
    actions_messages,
    actions_policies,
    actions_seed,
    actions_support,
    actions_threats,
    siem,
)
from mimecast_siem.simulator.auth import TokenRejected
from mimecast_siem.simulator.config import FaultSettings, ScriptedFault, SimulatorConfig
from mimecast_siem.simulator.control import add_control_routes, is_loopback
from mimecast_siem.simulator.registry import ENDPOINTS, ApiRequest, ApiResult, Endpoint, EndpointRegistry, RequestFailed
from mimecast_siem.simulator.responses import (
    WORLD_KEY,
    drop_connection,
    error_status,
    json_response,
    malformed,
    quota_headers,
    rate_limited,
    unauthorized,
    world_of,
)
from mimecast_siem.simulator.stats import SimulatorStats
from mimecast_siem.simulator.wire import (
    ERR_BAD_BODY,
    ERR_INTERNAL,
    ERR_METHOD,
    ERR_NOT_FOUND,
    envelope,
    error_envelope,
)
from mimecast_siem.simulator.world import World

logger = logging.getLogger("mimecast_siem.simulator")

_NO_CLIENT = "-"
# Where the authenticated client id is kept on a request (for statistics); typed keys when aiohttp has them.
_CLIENT_KEY: Any = web.RequestKey("client_id", str) if hasattr(web, "RequestKey") else "client_id"


#: The modules whose import registers the action endpoints (``@endpoint``); a new ``actions_*`` module
#: is added here.
EXTENSIONS = (actions_directory, actions_messages, actions_policies, actions_seed, actions_support, actions_threats)


def load_extensions() -> list[str]:
    """The names of the action endpoint modules (imported with this module, so their endpoints are registered)."""
    return [module.__name__ for module in EXTENSIONS]


# -- handlers ----------------------------------------------------------------------------------------


async def oauth_token(request: web.Request) -> web.Response:
    """``POST /oauth/token`` (client credentials, form encoded): mimecast-api.md section 1.1."""
    world = world_of(request)
    form = await request.post()
    grant, client_id, secret = form.get("grant_type"), form.get("client_id"), form.get("client_secret")
    if not isinstance(client_id, str) or not isinstance(secret, str) or not client_id or not secret:
        body = {"error": "invalid_request", "error_description": "client_id and client_secret are required form fields"}
        return json_response(body, status=400)
    if grant != "client_credentials":
        body = {"error": "unsupported_grant_type", "error_description": "grant_type must be client_credentials"}
        return json_response(body, status=400)
    if not world.tokens.check_credentials(client_id, secret):
        return json_response(
            {"error": "invalid_client", "error_description": "Client authentication failed"}, status=401
        )
    request[_CLIENT_KEY] = client_id
    token, expires_in = world.tokens.issue(client_id)
    world.stats.tokens_issued[client_id] += 1
    return json_response({"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": ""})


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def api_handler(ep: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a registered endpoint: auth, faults, body parsing, envelope, statistics."""

    async def handle(request: web.Request) -> web.StreamResponse:
        world = world_of(request)
        faults = world.faults
        delay = faults.latency()
        if delay > 0:
            await asyncio.sleep(delay)
        token = _bearer(request)
        if token is None:
            return unauthorized("Authorization header missing or invalid")
        try:
            client_id = world.tokens.client_for(token)
        except TokenRejected as exc:
            return unauthorized(str(exc))
        request[_CLIENT_KEY] = client_id
        if faults.take_force_401():
            world.tokens.expire(token)
            world.stats.faults["force_401"] += 1
            return unauthorized("Access token has expired")
        verdict = faults.charge_quota(client_id, world.clock.time())
        if verdict is not None and not verdict.allowed:
            world.stats.rate_limited[client_id] += 1
            return rate_limited(verdict.limit, verdict.remaining, verdict.reset_ms)
        outcome = faults.draw_random()
        if outcome is not None:
            world.stats.faults[str(outcome)] += 1
        if outcome == "drop":
            return await drop_connection(request)
        if isinstance(outcome, int):
            return error_status(outcome)
        parsed = await _parse_body(request)
        if isinstance(parsed, web.Response):
            return parsed
        api_request = ApiRequest(
            path=request.path,
            method=request.method,
            account=world.account(client_id),
            body=parsed,
            items=(parsed.get("data") or []) if isinstance(parsed, dict) else [],
            meta=(parsed.get("meta") or {}) if isinstance(parsed, dict) else {},
            query=dict(request.query),
            path_params=dict(request.match_info),
            now=world.clock.time(),
            config_max_page_size=world.config.max_page_size,
            config_default_page_size=world.config.default_page_size,
            base_url=str(request.url.origin()),
        )
        try:
            result = await ep.call(api_request, world)
        except RequestFailed as exc:
            result = ApiResult.failed(exc, api_request)
        except Exception:
            logger.exception("Simulator endpoint %s failed.", request.path)
            return json_response(error_envelope(500, ERR_INTERNAL, "Internal error in the simulator"), status=500)
        if result.raw is not None:
            response: web.Response = web.Response(
                body=result.raw, status=result.status, content_type=result.content_type, headers=result.headers
            )
        else:
            body = orjson.dumps(envelope(result.data, result.fail, status=result.status, pagination=result.pagination))
            if isinstance(outcome, str):
                return await malformed(request, outcome, body)
            response = web.Response(
                body=body, status=result.status, content_type="application/json", headers=result.headers
            )
        if result.stream and not result.fail:
            world.stats.records_served[(result.stream, client_id)] += result.records
        if verdict is not None and faults.settings.quota is not None and faults.settings.quota.headers == "always":
            response.headers.update(quota_headers(verdict.limit, verdict.remaining, verdict.reset_ms))
        return response

    return handle


async def _parse_body(request: web.Request) -> Any:
    if request.method in ("GET", "HEAD", "DELETE") and not request.can_read_body:
        return None
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json_response(error_envelope(400, ERR_BAD_BODY, "The request body is not valid JSON"), status=400)
    if request.path.startswith("/api/"):
        if not isinstance(parsed, dict):
            return json_response(
                error_envelope(400, ERR_BAD_BODY, "The request body must be a JSON object"), status=400
            )
        if "data" in parsed and not isinstance(parsed["data"], list):
            return json_response(error_envelope(400, ERR_BAD_BODY, "data must be a JSON array"), status=400)
        if "meta" in parsed and not isinstance(parsed["meta"], dict):
            return json_response(error_envelope(400, ERR_BAD_BODY, "meta must be a JSON object"), status=400)
    return parsed


@web.middleware
async def _outer(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Loopback guard for ``/_sim``; scripted faults, and request statistics for everything else."""
    if request.path.startswith("/_sim/"):
        if not is_loopback(request.remote):
            return json_response({"error": "the control API only answers loopback clients"}, status=403)
        return await handler(request)
    world = world_of(request)
    status = 0
    try:
        scripted = world.faults.take_scripted(request.path)
        if scripted is not None:
            world.stats.faults[f"script:{scripted.kind}"] += 1
            response = await _scripted(request, scripted, handler)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = _http_error(request, exc)
        status = response.status
        return response
    finally:
        client = request.get(_CLIENT_KEY, _NO_CLIENT)
        world.stats.requests[(request.path, status, client)] += 1


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    if exc.status == 404:
        return json_response(
            error_envelope(404, ERR_NOT_FOUND, f"The resource {request.path} does not exist"), status=404
        )
    if exc.status == 405:
        return json_response(
            error_envelope(405, ERR_METHOD, f"{request.method} is not allowed on {request.path}"), status=405
        )
    return json_response(error_envelope(exc.status, ERR_INTERNAL, exc.reason), status=exc.status)


async def _scripted(
    request: web.Request, fault: ScriptedFault, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if fault.kind == "delay":
        await asyncio.sleep(fault.delay)
        return await handler(request)
    if fault.kind == "drop":
        return await drop_connection(request)
    if fault.kind == "status":
        return error_status(fault.status)
    body = orjson.dumps(envelope([{"clickLogs": []}], pagination={"pageSize": 100}))
    return await malformed(request, fault.kind, body)


def build_app(world: World, registry: EndpointRegistry | None = None) -> web.Application:
    """The aiohttp app serving ``world``; ``registry`` defaults to :data:`ENDPOINTS` plus extensions."""
    if registry is None:
        load_extensions()
        registry = ENDPOINTS
    app = web.Application(middlewares=[_outer], client_max_size=16 * 1024 * 1024)
    app[WORLD_KEY] = world
    app.router.add_post("/oauth/token", oauth_token)
    for ep in registry:
        for method in ep.methods:
            app.router.add_route(method, ep.path, api_handler(ep))
    siem.add_file_routes(app)
    add_control_routes(app)
    return app


# -- running it ---------------------------------------------------------------------------------------


@dataclass
class RunningSimulator:
    """A simulator serving on ``url``.

    Attributes:
        url: ``http://127.0.0.1:PORT`` (no trailing slash).
        world: The live world: clock, accounts (data, hold queues), tokens, faults, stats.
        apps: ``(client_id, client_secret)`` pairs it accepts.
    """

    url: str
    world: World
    apps: list[tuple[str, str]] = field(default_factory=list)

    @property
    def port(self) -> int:
        """The TCP port."""
        return int(self.url.rsplit(":", 1)[1])

    @property
    def config(self) -> SimulatorConfig:
        """The configuration it was started with."""
        return self.world.config

    @property
    def client_id(self) -> str:
        """The first app's client id."""
        return self.apps[0][0]

    @property
    def client_secret(self) -> str:
        """The first app's client secret (a fake credential of the simulator)."""
        return self.apps[0][1]

    def set_faults(self, faults: FaultSettings | None = None, **changes: Any) -> FaultSettings:
        """Replace the active faults: pass a :class:`FaultSettings`, or its fields as keywords.

        ``set_faults()`` with nothing clears every fault. Quotas and scripts restart; the random
        faults' PRNG is reseeded, so the same call gives the same failure sequence.
        """
        if faults is None:
            faults = FaultSettings.from_dict(changes)
        elif changes:
            raise TypeError("pass either a FaultSettings or keyword fields, not both")
        self.world.faults.configure(faults)
        return faults

    def clear_faults(self) -> None:
        """Remove every fault."""
        self.world.faults.configure(FaultSettings())

    def ground_truth(
        self,
        stream: str,
        start: datetime | float,
        end: datetime | float,
        *,
        client_id: str | None = None,
        include_future_visible: bool = False,
    ) -> list[dict[str, Any]]:
        """Every record of ``stream`` with timestamp in ``[start, end)`` that the API serves (see World)."""
        lo = start.timestamp() if isinstance(start, datetime) else float(start)
        hi = end.timestamp() if isinstance(end, datetime) else float(end)
        return self.world.ground_truth(
            stream, lo, hi, client_id=client_id, include_future_visible=include_future_visible
        )

    def stats(self) -> SimulatorStats:
        """A snapshot of the request statistics."""
        return self.world.stats.copy()

    def reset_stats(self) -> None:
        """Zero the request statistics."""
        self.world.stats = SimulatorStats()


@contextlib.asynccontextmanager
async def run_simulator(
    config: SimulatorConfig | None = None,
    *,
    registry: EndpointRegistry | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[RunningSimulator]:
    """Serve a simulator for the duration of the ``async with`` block.

    Args:
        config: Settings; defaults to :class:`SimulatorConfig()`.
        registry: Endpoints to serve; defaults to the stream endpoints plus ``actions_*`` modules.
        ssl_context: serve HTTPS with this server context (the URL is then ``https://``).
    """
    config = config or SimulatorConfig()
    world = World(config)
    app = build_app(world, registry)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port, ssl_context=ssl_context)
        await site.start()
        host, port = runner.addresses[0][:2]
        display = f"[{host}]" if ":" in host else host
        scheme = "https" if ssl_context is not None else "http"
        sim = RunningSimulator(url=f"{scheme}://{display}:{port}", world=world, apps=list(config.apps))
        logger.info("Mimecast API simulator is listening on %s.", sim.url)
        yield sim
    finally:
        await runner.cleanup()
