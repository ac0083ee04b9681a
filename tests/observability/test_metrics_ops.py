"""Operator metrics: process and Python collectors on our registry, OpenMetrics content negotiation on
``/metrics``, and each tenant's request-budget use read from its real rate limiter at scrape time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import generate_latest

from mimecast_siem.mimecast.ratelimit import RateLimiter
from mimecast_siem.observability.health import HealthState, build_health_app
from mimecast_siem.observability.metrics import Metrics, reset_metrics


def test_process_and_python_collectors_are_on_the_registry() -> None:
    text = generate_latest(Metrics().registry).decode()
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                 "process_start_time_seconds", "python_info", "python_gc_collections_total"):  # fmt: skip
        assert f"\n{name}" in text or text.startswith(name), name


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    m = reset_metrics()
    m.build_info.info({"version": "9.9.9"})
    m.events_fetched.labels(tenant="acme", stream="ttp-url").inc(3)
    served: TestClient[web.Request, web.Application] = TestClient(
        TestServer(build_health_app(HealthState(), m), host="127.0.0.1")
    )
    await served.start_server()
    try:
        yield served
    finally:
        await served.close()


async def test_openmetrics_when_asked_and_the_text_format_otherwise(
    client: TestClient[web.Request, web.Application],
) -> None:
    prometheus_accept = (
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
        "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    )
    resp = await client.get("/metrics", headers={"Accept": prometheus_accept})
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    body = await resp.text()
    assert body.rstrip().endswith("# EOF")
    assert 'mimecast_siem_events_fetched_total{stream="ttp-url",tenant="acme"} 3.0' in body
    assert "mimecast_siem_events_fetched_created" not in body
    plain = await client.get("/metrics")
    assert plain.headers["Content-Type"].startswith("text/plain; version=")
    assert "# EOF" not in await plain.text()


async def test_request_budget_use_per_tenant_from_the_rate_limiters() -> None:
    m = Metrics()
    busy = RateLimiter("busy", max_concurrency=4)
    idle = RateLimiter("idle", max_concurrency=2)
    m.set_budget_source(lambda: {"acme": busy, "globex": idle})
    await busy.acquire()
    await busy.acquire()
    await busy.acquire()
    try:
        text = generate_latest(m.registry).decode()
        assert 'mimecast_siem_api_requests_in_flight{tenant="acme"} 3.0' in text
        assert 'mimecast_siem_api_concurrency_limit{tenant="acme"} 4.0' in text
        assert 'mimecast_siem_api_budget_used_ratio{tenant="acme"} 0.75' in text
        assert 'mimecast_siem_api_budget_used_ratio{tenant="globex"} 0.0' in text
        assert 'mimecast_siem_api_rate_limit_episode{tenant="acme"} 0.0' in text
    finally:
        for _ in range(3):
            busy.release()
    assert 'mimecast_siem_api_requests_in_flight{tenant="acme"} 0.0' in generate_latest(m.registry).decode()

    def broken() -> dict[str, RateLimiter]:
        raise RuntimeError("broken")

    m.set_budget_source(broken)
    assert "mimecast_siem_api_budget_used_ratio{" not in generate_latest(m.registry).decode()
