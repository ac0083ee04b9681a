"""HealthState rules (liveness staleness, waiting reasons, readiness flags and checks) and the three endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CONTENT_TYPE_LATEST

from mimecast_siem.observability.health import DEFAULT_MAX_AGE, HealthState, build_health_app
from mimecast_siem.observability.metrics import reset_metrics


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_loop_is_alive_until_it_misses_its_max_age(clock: FakeClock) -> None:
    health = HealthState(clock=clock)
    health.register_loop("stream:acme:ttp-url", max_age=30)
    clock.now += 30
    assert health.liveness() == (True, {"stream:acme:ttp-url": "ok"})
    clock.now += 1
    ok, report = health.liveness()
    assert not ok
    assert report["stream:acme:ttp-url"] == "stale: last tick 31s ago (limit 30s)"
    health.tick("stream:acme:ttp-url")
    assert health.liveness()[0]


def test_one_stale_loop_fails_liveness_and_others_are_still_reported(clock: FakeClock) -> None:
    health = HealthState(clock=clock)
    health.register_loop("supervisor", max_age=60)
    health.register_loop("stream:acme:audit", max_age=10)
    clock.now += 20
    health.tick("supervisor")
    ok, report = health.liveness()
    assert not ok
    assert report["supervisor"] == "ok"
    assert report["stream:acme:audit"].startswith("stale")


def test_a_waiting_reason_keeps_an_overdue_loop_alive(clock: FakeClock) -> None:
    reason: list[str | None] = ["sink splunk is failing; delivery is being retried"]
    health = HealthState(clock=clock)
    health.register_loop("stream:acme:ttp-url", max_age=5, waiting=lambda: reason[0])
    clock.now += 50
    ok, report = health.liveness()
    assert ok
    assert (
        report["stream:acme:ttp-url"]
        == "waiting: sink splunk is failing; delivery is being retried (last tick 50s ago)"
    )
    reason[0] = None  # the sink came back but the loop still does not tick: now it is stuck
    ok, report = health.liveness()
    assert not ok
    assert report["stream:acme:ttp-url"].startswith("stale")


def test_a_broken_waiting_callable_is_no_excuse(clock: FakeClock) -> None:
    def broken() -> str | None:
        raise RuntimeError("router gone")

    health = HealthState(clock=clock)
    health.register_loop("stream:acme:ttp-url", max_age=5, waiting=broken)
    clock.now += 6
    assert health.liveness()[0] is False


def test_unregistered_loops_no_longer_count(clock: FakeClock) -> None:
    health = HealthState(clock=clock)
    health.register_loop("stream:acme:ttp-url", max_age=5)
    clock.now += 60
    health.unregister_loop("stream:acme:ttp-url")
    assert health.liveness() == (True, {})
    assert health.loops == []


def test_ticking_an_unknown_loop_registers_it_with_the_default_age(clock: FakeClock) -> None:
    health = HealthState(clock=clock)
    health.tick("adhoc")
    clock.now += DEFAULT_MAX_AGE
    assert health.liveness()[0]
    clock.now += 1
    assert not health.liveness()[0]


@given(
    max_age=st.floats(min_value=0.1, max_value=1e6, allow_nan=False),
    gap=st.floats(min_value=0, max_value=2e6, allow_nan=False),
)
def test_liveness_is_exactly_age_within_max_age(max_age: float, gap: float) -> None:
    clock = FakeClock()
    health = HealthState(clock=clock)
    health.register_loop("loop", max_age=max_age)
    clock.now += gap
    assert health.liveness()[0] == (clock.now - 1000.0 <= max_age)


async def test_readiness_needs_every_flag_and_every_check() -> None:
    health = HealthState()
    health.set_flag("config", True)
    health.set_flag("auth:acme", False, "not authenticated yet")
    store_up = [True]

    async def state_store() -> tuple[bool, str]:
        return (True, "") if store_up[0] else (False, "state store unreachable (OperationalError)")

    health.add_check("state_store", state_store)
    ok, report = await health.readiness()
    assert not ok
    assert report == {"config": "ok", "auth:acme": "not authenticated yet", "state_store": "ok"}
    health.set_flag("auth:acme", True)
    assert (await health.readiness())[0]
    store_up[0] = False
    ok, report = await health.readiness()
    assert not ok
    assert report["state_store"] == "state store unreachable (OperationalError)"


async def test_a_raising_check_means_not_ready_and_names_only_the_error_class() -> None:
    health = HealthState()

    async def leaky() -> tuple[bool, str]:
        raise ConnectionError("postgresql://mimecast:hunter2-secret@db:5432/state refused")

    health.add_check("state_store", leaky)
    ok, report = await health.readiness()
    assert not ok
    assert report["state_store"] == "check failed: ConnectionError"


@pytest.fixture
async def served() -> AsyncIterator[tuple[HealthState, TestClient[web.Request, web.Application]]]:
    m = reset_metrics()
    m.build_info.info({"version": "9.9.9"})
    health = HealthState()
    client: TestClient[web.Request, web.Application] = TestClient(
        TestServer(build_health_app(health, m), host="127.0.0.1")
    )
    await client.start_server()
    try:
        yield health, client
    finally:
        await client.close()


async def test_endpoints_answer_200_when_healthy_and_503_with_reasons_when_not(
    served: tuple[HealthState, TestClient[web.Request, web.Application]],
) -> None:
    health, client = served
    health.register_loop("supervisor", max_age=0.05)
    health.set_flag("auth:acme", True)
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert orjson.loads(await resp.read()) == {"status": "ok", "loops": {"supervisor": "ok"}}
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert orjson.loads(await resp.read()) == {"status": "ready", "checks": {"auth:acme": "ok"}}

    await asyncio.sleep(0.1)  # longer than max_age: the supervisor loop is now stale
    health.set_flag("auth:acme", False, "authentication failed (AuthError)")
    resp = await client.get("/healthz")
    assert resp.status == 503
    body = orjson.loads(await resp.read())
    assert body["status"] == "unhealthy"
    assert body["loops"]["supervisor"].startswith("stale")
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert orjson.loads(await resp.read())["checks"]["auth:acme"] == "authentication failed (AuthError)"


async def test_metrics_endpoint_serves_the_registry_in_prometheus_text_format(
    served: tuple[HealthState, TestClient[web.Request, web.Application]],
) -> None:
    _, client = served
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == CONTENT_TYPE_LATEST  # Prometheus text exposition format
    text = await resp.text()
    assert 'mimecast_siem_build_info{version="9.9.9"} 1.0' in text
    assert "# TYPE mimecast_siem_checkpoint_lag_seconds gauge" in text
