"""The extension point: endpoints registered from outside the core, with per-tenant state."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from mimecast_siem.simulator import (
    ENDPOINTS,
    ApiRequest,
    ApiResult,
    EndpointRegistry,
    RequestFailed,
    SimulatorConfig,
    World,
    run_simulator,
)
from mimecast_siem.simulator.app import load_extensions
from tests.simulator.conftest import FROZEN
from tests.simulator.helpers import caller_for


def _registry() -> EndpointRegistry:
    registry = EndpointRegistry()

    @registry.endpoint("/api/test/remember")
    def remember(request: ApiRequest, world: World) -> ApiResult:
        notes: list[Any] = request.account.extension("notes", list)
        for item in request.items:
            if not isinstance(item, dict) or "note" not in item:
                raise RequestFailed("err_validation_null", "note is required", key=item)
            notes.append(item["note"])
        return ApiResult(data=list(notes))

    @registry.endpoint("/api/test/release")
    async def release(request: ApiRequest, world: World) -> ApiResult:
        message_id = request.item.get("id", "")
        return ApiResult(data=[{"id": message_id, "release": request.account.holds.release(message_id)}])

    @registry.endpoint("/rest/v1/things/{thing_id}", methods=("GET", "DELETE"))
    def thing(request: ApiRequest, world: World) -> ApiResult:
        return ApiResult(
            data=[{"id": request.path_params["thing_id"], "method": request.method, "q": dict(request.query)}]
        )

    @registry.endpoint("/api/test/download")
    def download(request: ApiRequest, world: World) -> ApiResult:
        return ApiResult(raw=b"\x00binary", content_type="application/octet-stream")

    @registry.endpoint("/api/test/crash")
    def crash(request: ApiRequest, world: World) -> ApiResult:
        raise RuntimeError("boom")

    return registry


async def test_registered_endpoints_work_with_auth_state_and_holds(session: aiohttp.ClientSession) -> None:
    config = SimulatorConfig(frozen_at=FROZEN, apps=[("a", "1"), ("b", "2")])
    async with run_simulator(config, registry=_registry()) as sim:
        a, b = caller_for(session, sim, 0), caller_for(session, sim, 1)
        assert (await a.post("/api/test/remember", [{"note": "x"}])).body["data"] == ["x"]
        assert (await a.post("/api/test/remember", [{"note": "y"}])).body["data"] == ["x", "y"]
        assert (await b.post("/api/test/remember", [{"note": "z"}])).body["data"] == ["z"]  # per tenant
        failed = await a.post("/api/test/remember", [{"other": 1}])
        assert failed.status == 200
        assert failed.body["fail"] == [
            {
                "key": {"other": 1},
                "errors": [{"code": "err_validation_null", "message": "note is required", "retryable": False}],
            }
        ]
        sim.world.clock.advance(1)
        held_id = sim.world.account("a").holds.held_at(sim.world.clock.time())[0][0]["id"]
        released = await a.post("/api/test/release", [{"id": held_id}])
        assert released.body["data"] == [{"id": held_id, "release": True}]
        assert held_id not in {r["id"] for r, _ in sim.world.account("a").holds.held_at(sim.world.clock.time())}
        unauth = await a.post("/api/test/remember", [{"note": "q"}], headers={})
        assert unauth.status == 401


async def test_rest_style_paths_and_methods(session: aiohttp.ClientSession) -> None:
    async with run_simulator(SimulatorConfig(), registry=_registry()) as sim:
        caller = caller_for(session, sim)
        token = await caller.authenticate()
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(f"{sim.url}/rest/v1/things/42", params={"pageSize": "5"}, headers=headers) as resp:
            body = await resp.json()
        assert body["data"] == [{"id": "42", "method": "GET", "q": {"pageSize": "5"}}]
        async with session.get(f"{sim.url}/rest/v1/things/42") as resp:
            assert resp.status == 401


async def test_raw_bodies_and_handler_crashes(session: aiohttp.ClientSession) -> None:
    async with run_simulator(SimulatorConfig(), registry=_registry()) as sim:
        caller = caller_for(session, sim)
        token = await caller.authenticate()
        headers = {"Authorization": f"Bearer {token}"}
        async with session.post(f"{sim.url}/api/test/download", json={}, headers=headers) as resp:
            assert resp.content_type == "application/octet-stream"
            assert await resp.read() == b"\x00binary"
        async with session.post(f"{sim.url}/api/test/crash", json={}, headers=headers) as resp:
            assert resp.status == 500
            assert (await resp.json())["fail"][0]["errors"][0]["code"] == "err_internal_server_error"
        # The stream endpoints are not part of a custom registry.
        async with session.post(f"{sim.url}/api/ttp/url/get-logs", json={}, headers=headers) as resp:
            assert resp.status == 404


def test_registry_refuses_control_paths() -> None:
    registry = EndpointRegistry()
    with pytest.raises(ValueError, match="not under /_sim"):
        registry.add("/_sim/evil", lambda request, world: ApiResult())
    with pytest.raises(ValueError, match="starting with '/'"):
        registry.add("api/x", lambda request, world: ApiResult())


def test_default_registry_has_the_streams_and_extensions_load() -> None:
    loaded = load_extensions()
    assert all(name.startswith("mimecast_siem.simulator.actions_") for name in loaded)
    paths = {ep.path for ep in ENDPOINTS}
    for path in (
        "/api/ttp/url/get-logs", "/api/ttp/attachment/get-logs", "/api/ttp/impersonation/get-logs",
        "/api/gateway/get-hold-message-list", "/api/gateway/get-hold-summary-list", "/api/email/get-email-queues",
        "/api/audit/get-audit-events", "/api/gateway/get-held-release-logs",
    ):  # fmt: skip
        assert path in paths
