"""The ``/_sim`` control API: ground truth, statistics, faults, clock. No auth; loopback clients only."""

from __future__ import annotations

import ipaddress
from typing import Any

import orjson
from aiohttp import web

from mimecast_siem.simulator.config import FaultSettings
from mimecast_siem.simulator.responses import json_response, world_of
from mimecast_siem.simulator.stats import SimulatorStats
from mimecast_siem.simulator.wire import format_time, parse_time


def _bad_request(message: str) -> web.Response:
    return json_response({"error": message}, status=400)


def _time_param(value: str | None, name: str) -> float:
    if value is None:
        raise ValueError(f"{name} is required (YYYY-MM-DDTHH:MM:SS+0000 or epoch seconds)")
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if not -1e11 < number < 1e11:  # about year -1200 .. 5100: beyond that nothing formats
            raise ValueError(f"{name}={value!r} is out of range")
        return number
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ValueError(f"{name}={value!r} is invalid: {exc}") from None


async def sim_ground_truth(request: web.Request) -> web.Response:
    """``GET /_sim/ground-truth?stream=&from=&to=&client_id=&include_future_visible=1``."""
    world = world_of(request)
    q = request.query
    try:
        start, end = _time_param(q.get("from"), "from"), _time_param(q.get("to"), "to")
        stream = q.get("stream", "")
        future = q.get("include_future_visible", "0").lower() in ("1", "true", "yes")
        records = world.ground_truth(stream, start, end, client_id=q.get("client_id"), include_future_visible=future)
        extra: dict[str, Any] = {}
        if stream == "held-messages":
            lo, hi = int(-(-start // 1)), int(-(-end // 1))
            extra["lifecycle"] = world.account(q.get("client_id")).holds.lifecycles(lo, hi)
    except ValueError as exc:
        return _bad_request(str(exc))
    except (OverflowError, OSError):
        return _bad_request("from/to are out of range")
    body = {"stream": stream, "client_id": world.account(q.get("client_id")).client_id, "from": format_time(start),
            "to": format_time(end), "count": len(records), "records": records, **extra}  # fmt: skip
    return json_response(body)


async def sim_stats(request: web.Request) -> web.Response:
    """``GET /_sim/stats``."""
    return json_response(world_of(request).stats.as_dict())


async def sim_reset_stats(request: web.Request) -> web.Response:
    """``POST /_sim/reset-stats``."""
    world_of(request).stats = SimulatorStats()
    return json_response({"ok": True})


async def sim_faults(request: web.Request) -> web.Response:
    """``GET /_sim/faults`` shows the faults; ``POST`` replaces them (``{}`` clears all)."""
    world = world_of(request)
    if request.method == "POST":
        try:
            raw = orjson.loads(await request.read() or b"{}")
            if not isinstance(raw, dict):
                raise ValueError("the body must be a JSON object of fault settings")
            world.faults.configure(FaultSettings.from_dict(raw))
        except (ValueError, orjson.JSONDecodeError) as exc:
            return _bad_request(str(exc))
    body = world.faults.settings.as_dict()
    body["script_remaining"] = world.faults.script_remaining
    body["force_401_remaining"] = world.faults.force_401_remaining
    return json_response(body)


async def sim_clock(request: web.Request) -> web.Response:
    """``GET /_sim/clock``; ``POST {"advance": seconds}`` / ``{"freeze": true|false}``."""
    clock = world_of(request).clock
    if request.method == "POST":
        try:
            raw = orjson.loads(await request.read() or b"{}")
            if not isinstance(raw, dict):
                raise ValueError("the body must be a JSON object")
            if "freeze" in raw:
                clock.freeze() if raw["freeze"] else clock.unfreeze()
            if "advance" in raw:
                clock.advance(float(raw["advance"]))
        except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
            return _bad_request(str(exc))
    return json_response({"now": format_time(clock.time()), "epoch": clock.time(), "frozen": clock.frozen})


async def sim_info(request: web.Request) -> web.Response:
    """``GET /_sim/info``: apps (fake credentials of the simulator), origin, endpoints."""
    world = world_of(request)
    return json_response(
        {
            "apps": [{"client_id": c, "client_secret": s} for c, s in world.config.apps],
            "origin": format_time(world.origin),
            "seed": world.seed,
            "endpoints": sorted({r.resource.canonical for r in request.app.router.routes() if r.resource is not None}),
        }
    )


def is_loopback(remote: str | None) -> bool:
    """Whether ``remote`` is a loopback address (the control API answers only those)."""
    if remote is None:
        return False
    try:
        return ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def add_control_routes(app: web.Application) -> None:
    """Add the ``/_sim`` routes to ``app``."""
    app.router.add_get("/_sim/ground-truth", sim_ground_truth)
    app.router.add_get("/_sim/stats", sim_stats)
    app.router.add_post("/_sim/reset-stats", sim_reset_stats)
    app.router.add_route("*", "/_sim/faults", sim_faults)
    app.router.add_route("*", "/_sim/clock", sim_clock)
    app.router.add_get("/_sim/info", sim_info)
