"""OAuth against the simulator: wrong credentials, expiry mid-walk, one refresh for many, 401 twice (quirk 7)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import orjson
import pytest

from mimecast_siem.errors import AuthError, TransientError
from mimecast_siem.mimecast import MimecastClient, format_mimecast_time
from mimecast_siem.observability.metrics import Metrics
from mimecast_siem.simulator import FaultSettings, RunningSimulator, ScriptedFault, run_simulator
from tests.mimecast.conftest import CLIENT_ID, CLIENT_SECRET, FAST_RETRY, FROZEN_AT, sim_config, tenant_for

URL_LOGS = "/api/ttp/url/get-logs"
ACCOUNT = "/api/gateway/get-hold-summary-list"
START = FROZEN_AT - timedelta(minutes=10)
END = FROZEN_AT - timedelta(minutes=1)
ITEM = {"from": format_mimecast_time(START), "to": format_mimecast_time(END), "oldestFirst": True}


def canonical(records: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records)


def metric(m: Metrics, name: str, **labels: str) -> float:
    value = m.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_wrong_credentials_raise_auth_error_with_the_reason(
    sim: RunningSimulator, fresh_shared_state: Metrics
) -> None:
    wrong = "wrong-secret-0123456789-abcdef"
    async with MimecastClient(tenant_for(sim.url, secret=wrong), retry=FAST_RETRY) as client:
        with pytest.raises(AuthError) as info:
            await client.request(ACCOUNT, data=[])
    text = str(info.value)
    assert "invalid_client" in text
    assert "Client authentication failed" in text
    assert "acme" in text
    assert "client_secret" in text  # tells the operator what to check ...
    assert wrong not in text  # ... without showing it
    assert info.value.status == 401
    assert info.value.endpoint == "/oauth/token"
    # A refusal is final: one token request, no retries, no API call.
    assert sim.stats().count(path="/oauth/token") == 1
    assert sim.stats().count(path=ACCOUNT) == 0
    assert metric(fresh_shared_state, "mimecast_siem_auth_failures_total", tenant="acme") == 1


async def test_authenticate_caches_the_token(sim: RunningSimulator, client: MimecastClient) -> None:
    await client.authenticate()
    await client.authenticate()
    await client.request(ACCOUNT, data=[])
    assert sim.stats().tokens_issued[CLIENT_ID] == 1


async def test_token_expiry_in_the_middle_of_a_walk_replays_the_same_page(
    sim: RunningSimulator, client: MimecastClient, fresh_shared_state: Metrics
) -> None:
    """Quirk 7: page tokens outlive access tokens; refresh and replay the same pageToken, lose nothing."""
    expected = sim.ground_truth("ttp-url", START, END + timedelta(seconds=1))
    records: list[dict[str, Any]] = []
    pages = 0
    async for page in client.pages(URL_LOGS, item=ITEM, page_size=50, record_key="clickLogs"):
        records.extend(page.records)
        pages += 1
        if pages in (2, 5):
            # The server forgets the token: simulated time jumps past its lifetime.
            sim.world.clock.advance(sim.config.token_lifetime + 1)
    # Ground truth: nothing lost, nothing duplicated (a restarted walk would duplicate page 1).
    assert canonical(records) == canonical(expected)
    stats = sim.stats()
    assert stats.count(path=URL_LOGS, status=401) == 2
    assert stats.tokens_issued[CLIENT_ID] == 3
    assert stats.count(path=URL_LOGS, status=200) == pages
    assert metric(fresh_shared_state, "mimecast_siem_token_refreshes_total", tenant="acme") == 3
    assert metric(fresh_shared_state, "mimecast_siem_api_retries_total", tenant="acme", reason="reauth") == 2


async def test_fifty_concurrent_callers_get_one_token(sim: RunningSimulator) -> None:
    async with MimecastClient(tenant_for(sim.url, max_concurrency=16), retry=FAST_RETRY) as client:
        async with asyncio.timeout(30):
            await asyncio.gather(*(client.request(ACCOUNT, data=[]) for _ in range(50)))
    assert sim.stats().tokens_issued[CLIENT_ID] == 1
    assert sim.stats().count(path=ACCOUNT, status=200) == 50


async def test_fifty_callers_hitting_an_expired_token_cause_one_refresh(sim: RunningSimulator) -> None:
    async with MimecastClient(tenant_for(sim.url, max_concurrency=16), retry=FAST_RETRY) as client:
        await client.authenticate()
        sim.world.clock.advance(sim.config.token_lifetime + 1)  # server-side expiry; our cache still trusts it
        async with asyncio.timeout(30):
            await asyncio.gather(*(client.request(ACCOUNT, data=[]) for _ in range(50)))
    stats = sim.stats()
    assert stats.tokens_issued[CLIENT_ID] == 2
    assert stats.count(path=ACCOUNT, status=200) == 50
    assert 1 <= stats.count(path=ACCOUNT, status=401) <= 16  # only requests already in flight saw the old token


async def test_401_twice_is_an_auth_error(
    sim: RunningSimulator, client: MimecastClient, fresh_shared_state: Metrics
) -> None:
    sim.set_faults(force_401=2)
    with pytest.raises(AuthError) as info:
        await client.request(ACCOUNT, data=[])
    assert info.value.status == 401
    assert "freshly issued" in str(info.value)
    stats = sim.stats()
    assert stats.count(path=ACCOUNT, status=401) == 2
    assert stats.tokens_issued[CLIENT_ID] == 2  # exactly one refresh between the two 401s
    assert metric(fresh_shared_state, "mimecast_siem_auth_failures_total", tenant="acme") == 1


async def test_one_401_is_absorbed(sim: RunningSimulator, client: MimecastClient) -> None:
    sim.set_faults(force_401=1)
    response = await client.request(ACCOUNT, data=[])
    assert response.status == 200
    assert sim.stats().tokens_issued[CLIENT_ID] == 2


async def test_proactive_refresh_before_expiry(sim: RunningSimulator) -> None:
    """A token is renewed before expires_in (here: half of a 2-second lifetime), so no 401 is ever seen."""
    async with run_simulator(sim_config(token_lifetime=2.0, frozen_at=None)) as short:
        async with MimecastClient(tenant_for(short.url), retry=FAST_RETRY) as client:
            await client.request(ACCOUNT, data=[])
            await asyncio.sleep(1.2)
            await client.request(ACCOUNT, data=[])
        stats = short.stats()
    assert stats.tokens_issued[CLIENT_ID] == 2
    assert stats.count(path=ACCOUNT, status=401) == 0


async def test_token_endpoint_outage_is_retried(sim: RunningSimulator, client: MimecastClient) -> None:
    sim.set_faults(FaultSettings(script=[ScriptedFault(path="/oauth/token", count=2, status=503)]))
    response = await client.request(ACCOUNT, data=[])
    assert response.status == 200
    assert sim.stats().count(path="/oauth/token", status=503) == 2
    assert sim.stats().tokens_issued[CLIENT_ID] == 1


async def test_the_secret_is_sent_form_encoded_only_to_the_token_endpoint(sim: RunningSimulator) -> None:
    """The simulator accepts the credentials only form-encoded; a JSON or query-string secret would fail."""
    async with MimecastClient(tenant_for(sim.url), retry=FAST_RETRY) as client:
        await client.authenticate()
    assert sim.stats().count(path="/oauth/token", status=200) == 1
    assert CLIENT_SECRET not in repr(client.tokens.current)


async def test_a_token_endpoint_outage_is_not_retried_twice_over(sim: RunningSimulator, client: MimecastClient) -> None:
    """The API call waiting for a token must not multiply the token request's own attempts."""
    sim.set_faults(FaultSettings(script=[ScriptedFault(path="/oauth/token", count=100, status=503)]))
    with pytest.raises(TransientError) as info:
        await client.request(ACCOUNT, data=[])
    assert info.value.endpoint == "/oauth/token"
    assert sim.stats().count(path="/oauth/token") == FAST_RETRY.max_attempts
    assert sim.stats().count(path=ACCOUNT) == 0
