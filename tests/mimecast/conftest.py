"""Fixtures of the client tests: a real simulator per test, tenants pointing at it, clean shared state."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from mimecast_siem.config.models import RateLimitSettings, TenantSettings
from mimecast_siem.mimecast import MimecastClient, RetryPolicy, reset_limiters
from mimecast_siem.observability.metrics import Metrics, reset_metrics
from mimecast_siem.simulator import RunningSimulator, SimulatorConfig, run_simulator

#: A secret long enough for the log redactor, and unmistakable in captured text.
CLIENT_ID = "client-under-test"
CLIENT_SECRET = "csec-7f3a9b2e-NEVER-IN-LOGS-41d8"
#: Frozen simulated time so windows and ground truth are exact.
FROZEN_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
#: Retries fast enough for tests.
FAST_RETRY = RetryPolicy(max_attempts=4, backoff_initial=0.01, backoff_max=0.05, jitter=0.01)


@pytest.fixture(autouse=True)
def fresh_shared_state() -> Iterator[Metrics]:
    """Each test gets its own metrics registry and its own per-app limiters."""
    reset_limiters()
    m = reset_metrics()
    yield m
    reset_limiters()


def sim_config(**overrides: Any) -> SimulatorConfig:
    values: dict[str, Any] = {
        "seed": 11,
        "apps": [(CLIENT_ID, CLIENT_SECRET)],
        "rates": {"ttp-url": 1.0, "audit": 0.2},
        "history": 3600.0,
        "frozen_at": FROZEN_AT,
    }
    values.update(overrides)
    return SimulatorConfig(**values)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(sim_config()) as running:
        yield running


def tenant_for(
    url: str,
    *,
    secret: str = CLIENT_SECRET,
    max_concurrency: int = 4,
    timeout: float | None = None,
    **overrides: Any,
) -> TenantSettings:
    tenant = TenantSettings(
        name="acme",
        base_url=url,
        client_id=CLIENT_ID,
        client_secret=secret,
        rate_limit=RateLimitSettings(max_concurrency=max_concurrency),
        **overrides,
    )
    if timeout is not None:
        # The settings model enforces 15-120 s; tests need shorter timeouts, so bypass validation.
        tenant = tenant.model_copy(update={"timeout": timeout})
    return tenant


@pytest.fixture
async def client(sim: RunningSimulator) -> AsyncIterator[MimecastClient]:
    async with MimecastClient(tenant_for(sim.url), retry=FAST_RETRY) as c:
        yield c


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every log line of the package, DEBUG and up."""
    caplog.set_level(logging.DEBUG, logger="mimecast_siem")
    return caplog
