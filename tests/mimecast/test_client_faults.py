"""Transport faults against the simulator: 5xx, timeouts, malformed bodies, dropped connections, refusals."""

from __future__ import annotations

from typing import Literal

import pytest

from mimecast_siem.errors import AuthError, PermanentError, ResponseFormatError, TransientError
from mimecast_siem.mimecast import MimecastClient, UnsafePathError
from mimecast_siem.observability.metrics import Metrics
from mimecast_siem.simulator import FaultSettings, RunningSimulator, ScriptedFault
from tests.mimecast.conftest import FAST_RETRY, tenant_for

SUMMARY = "/api/gateway/get-hold-summary-list"
ScriptedKind = Literal["status", "drop", "invalid_json", "truncated", "html", "delay"]


def script(sim: RunningSimulator, kind: ScriptedKind, count: int, status: int = 503, delay: float = 0.0) -> None:
    fault = ScriptedFault(path=SUMMARY, count=count, status=status, kind=kind, delay=delay)
    sim.set_faults(FaultSettings(script=[fault]))


def retries(m: Metrics, reason: str) -> float:
    return m.registry.get_sample_value("mimecast_siem_api_retries_total", {"tenant": "acme", "reason": reason}) or 0.0


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried(
    sim: RunningSimulator, client: MimecastClient, fresh_shared_state: Metrics, status: int
) -> None:
    script(sim, "status", 2, status=status)
    response = await client.request(SUMMARY, data=[])
    assert response.status == 200
    assert response.data  # the real answer arrived
    assert sim.stats().count(path=SUMMARY, status=status) == 2
    assert retries(fresh_shared_state, "server_error") == 2
    backoff = fresh_shared_state.registry.get_sample_value(
        "mimecast_siem_api_backoff_seconds_total", {"tenant": "acme", "reason": "retry"}
    )
    assert backoff is not None
    assert backoff > 0


async def test_server_errors_give_up_after_the_configured_attempts(
    sim: RunningSimulator, client: MimecastClient
) -> None:
    script(sim, "status", 50, status=500)
    with pytest.raises(TransientError) as info:
        await client.request(SUMMARY, data=[])
    assert info.value.status == 500
    assert info.value.endpoint == SUMMARY
    assert SUMMARY in str(info.value)
    assert sim.stats().count(path=SUMMARY) == FAST_RETRY.max_attempts


async def test_timeouts_are_retried(sim: RunningSimulator, fresh_shared_state: Metrics) -> None:
    script(sim, "delay", 1, delay=2.0)
    async with MimecastClient(tenant_for(sim.url, timeout=0.3), retry=FAST_RETRY) as client:
        response = await client.request(SUMMARY, data=[])
    assert response.status == 200
    assert retries(fresh_shared_state, "timeout") == 1


async def test_timeouts_give_up_with_a_typed_error(sim: RunningSimulator) -> None:
    script(sim, "delay", 50, delay=2.0)
    async with MimecastClient(tenant_for(sim.url, timeout=0.2), retry=FAST_RETRY) as client:
        await client.authenticate()
        with pytest.raises(TransientError) as info:
            await client.request(SUMMARY, data=[])
    assert "within 0.2 s" in str(info.value)
    assert info.value.endpoint == SUMMARY


@pytest.mark.parametrize("kind", ["invalid_json", "truncated", "html"])
async def test_malformed_bodies_are_retried(
    sim: RunningSimulator, client: MimecastClient, fresh_shared_state: Metrics, kind: ScriptedKind
) -> None:
    script(sim, kind, 1)
    response = await client.request(SUMMARY, data=[])
    assert response.status == 200
    assert retries(fresh_shared_state, "malformed") == 1


@pytest.mark.parametrize(
    ("kind", "says"),
    [("invalid_json", "not valid JSON"), ("truncated", "ended early"), ("html", "text/html")],
)
async def test_malformed_bodies_end_in_a_response_format_error(
    sim: RunningSimulator, client: MimecastClient, kind: ScriptedKind, says: str
) -> None:
    script(sim, kind, 50)
    with pytest.raises(ResponseFormatError) as info:
        await client.request(SUMMARY, data=[])
    error = info.value
    assert isinstance(error, TransientError)
    assert error.endpoint == SUMMARY
    assert error.status == 200
    assert says in str(error)
    # The body is described, never quoted.
    assert "maintenance" not in str(error).lower()
    assert "clickLogs" not in str(error)


async def test_dropped_connections_are_retried(
    sim: RunningSimulator, client: MimecastClient, fresh_shared_state: Metrics
) -> None:
    script(sim, "drop", 2)
    response = await client.request(SUMMARY, data=[])
    assert response.status == 200
    assert retries(fresh_shared_state, "connection") == 2


async def test_dropped_connections_give_up_with_a_typed_error(sim: RunningSimulator, client: MimecastClient) -> None:
    script(sim, "drop", 50)
    with pytest.raises(TransientError) as info:
        await client.request(SUMMARY, data=[])
    assert info.value.status is None
    assert "Connection to Mimecast failed" in str(info.value)


async def test_random_faults_never_escape_as_anything_but_api_errors(sim: RunningSimulator) -> None:
    sim.set_faults(
        error_rates={500: 0.1, 503: 0.1}, drop_rate=0.1, invalid_json_rate=0.1, truncated_rate=0.1, html_rate=0.1
    )
    ok = failed = 0
    async with MimecastClient(tenant_for(sim.url), retry=FAST_RETRY) as client:
        for _ in range(40):
            try:
                await client.request(SUMMARY, data=[])
                ok += 1
            except TransientError:
                failed += 1
    assert ok + failed == 40
    assert ok > failed


async def test_403_is_a_permanent_auth_error_with_advice(sim: RunningSimulator, client: MimecastClient) -> None:
    script(sim, "status", 1, status=403)
    with pytest.raises(AuthError) as info:
        await client.request(SUMMARY, data=[])
    assert info.value.status == 403
    assert "role" in str(info.value)
    assert sim.stats().count(path=SUMMARY) == 1


async def test_unknown_endpoint_is_permanent(sim: RunningSimulator, client: MimecastClient) -> None:
    with pytest.raises(PermanentError) as info:
        await client.request("/api/no/such-endpoint", data=[])
    assert info.value.status == 404
    assert sim.stats().count(path="/api/no/such-endpoint") == 1


@pytest.mark.parametrize("path", ["https://evil.example/api/x", "/api/../oauth/token", "api/x", "/api/x?a=1"])
async def test_unsafe_paths_never_reach_the_network(sim: RunningSimulator, client: MimecastClient, path: str) -> None:
    with pytest.raises(UnsafePathError):
        await client.request(path, data=[])
    assert sim.stats().count() == 0


async def test_a_closed_client_refuses_calls(sim: RunningSimulator) -> None:
    client = MimecastClient(tenant_for(sim.url))
    with pytest.raises(RuntimeError, match="async with"):
        await client.request(SUMMARY, data=[])


async def test_request_metrics_are_labelled_by_endpoint_path_and_status_class(
    sim: RunningSimulator, client: MimecastClient, fresh_shared_state: Metrics
) -> None:
    script(sim, "status", 1, status=503)
    await client.request(SUMMARY, data=[])

    def requests(endpoint: str, status_class: str) -> float:
        labels = {"tenant": "acme", "endpoint": endpoint, "status_class": status_class}
        return fresh_shared_state.registry.get_sample_value("mimecast_siem_api_requests_total", labels) or 0.0

    assert requests(SUMMARY, "5xx") == 1
    assert requests(SUMMARY, "2xx") == 1
    assert requests("/oauth/token", "2xx") == 1
    count = fresh_shared_state.registry.get_sample_value(
        "mimecast_siem_api_request_duration_seconds_count", {"tenant": "acme", "endpoint": SUMMARY}
    )
    assert count == 2
    refreshes = fresh_shared_state.registry.get_sample_value("mimecast_siem_token_refreshes_total", {"tenant": "acme"})
    assert refreshes == 1
