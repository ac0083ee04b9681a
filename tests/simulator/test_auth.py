"""OAuth2 client credentials and bearer-token checks (mimecast-api.md section 1)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp

from mimecast_siem.simulator import RunningSimulator
from tests.simulator.conftest import FROZEN
from tests.simulator.helpers import Caller, caller_for

URL_LOGS = "/api/ttp/url/get-logs"


async def test_token_response_has_documented_shape(session: aiohttp.ClientSession, simulator: RunningSimulator) -> None:
    reply = await caller_for(session, simulator).oauth("client-1", "secret-1")
    assert reply.status == 200
    assert set(reply.body) == {"access_token", "token_type", "expires_in", "scope"}
    assert reply.body["token_type"] == "Bearer"
    assert reply.body["expires_in"] == 1800
    assert reply.body["scope"] == ""
    assert len(reply.body["access_token"]) >= 32


async def test_each_token_is_new(session: aiohttp.ClientSession, simulator: RunningSimulator) -> None:
    caller = caller_for(session, simulator)
    first, second = await caller.authenticate(), await caller.authenticate()
    assert first != second
    assert simulator.stats().tokens_issued["client-1"] == 2


async def test_wrong_secret_is_401_invalid_client(session: aiohttp.ClientSession, simulator: RunningSimulator) -> None:
    reply = await caller_for(session, simulator).oauth("client-1", "not-the-secret")
    assert reply.status == 401
    assert reply.body["error"] == "invalid_client"
    assert "not-the-secret" not in str(reply.body)


async def test_unknown_client_is_401(session: aiohttp.ClientSession, simulator: RunningSimulator) -> None:
    reply = await caller_for(session, simulator).oauth("client-9", "secret-1")
    assert reply.status == 401
    assert reply.body["error"] == "invalid_client"


async def test_wrong_grant_type_is_400(session: aiohttp.ClientSession, simulator: RunningSimulator) -> None:
    reply = await caller_for(session, simulator).oauth("client-1", "secret-1", grant_type="password")
    assert reply.status == 400
    assert reply.body["error"] == "unsupported_grant_type"


async def test_missing_form_fields_is_400(session: aiohttp.ClientSession, simulator: RunningSimulator) -> None:
    async with session.post(f"{simulator.url}/oauth/token", data={"grant_type": "client_credentials"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_request"


async def test_missing_authorization_is_401_with_fail(api: Caller) -> None:
    reply = await api.post(URL_LOGS, [{}], headers={})
    assert reply.status == 401
    assert reply.body["fail"][0]["errors"][0]["code"] == "err_xdk_client_unauthorized"
    assert reply.body["meta"]["status"] == 401


async def test_unknown_token_is_401(api: Caller) -> None:
    reply = await api.post(URL_LOGS, [{}], headers={"Authorization": "Bearer made-up"})
    assert reply.status == 401
    assert reply.body["fail"][0]["errors"][0]["message"] == "Access token is invalid"


async def test_token_expires_after_configured_lifetime(
    session: aiohttp.ClientSession, simulator_factory: Callable[..., Awaitable[RunningSimulator]]
) -> None:
    sim = await simulator_factory(token_lifetime=60.0, frozen_at=FROZEN)
    caller = caller_for(session, sim)
    token = await caller.authenticate()
    assert (await caller.post(URL_LOGS, [{}])).status == 200
    sim.world.clock.advance(59.0)
    assert (await caller.post(URL_LOGS, [{}])).status == 200
    sim.world.clock.advance(1.0)
    reply = await caller.post(URL_LOGS, [{}])
    assert reply.status == 401
    assert reply.body["fail"][0]["errors"][0]["message"] == "Access token has expired"
    assert token not in str(reply.body)
    await caller.authenticate()
    assert (await caller.post(URL_LOGS, [{}])).status == 200


async def test_tiny_lifetime_is_reported_in_expires_in(
    session: aiohttp.ClientSession, simulator_factory: Callable[..., Awaitable[RunningSimulator]]
) -> None:
    sim = await simulator_factory(token_lifetime=5.0)
    reply = await caller_for(session, sim).oauth("client-1", "secret-1")
    assert reply.body["expires_in"] == 5


async def test_tokens_of_one_app_read_only_that_tenant(
    session: aiohttp.ClientSession, simulator_factory: Callable[..., Awaitable[RunningSimulator]]
) -> None:
    sim = await simulator_factory(apps=[("alpha", "a-secret"), ("beta", "b-secret")], frozen_at=FROZEN)
    alpha, beta = caller_for(session, sim, 0), caller_for(session, sim, 1)
    item = {"from": "2026-11-25T11:50:00+0000", "to": "2026-11-25T11:55:00+0000"}
    records_a, _ = await alpha.walk(URL_LOGS, item, record_key="clickLogs")
    records_b, _ = await beta.walk(URL_LOGS, item, record_key="clickLogs")
    assert records_a
    assert records_b
    assert records_a != records_b
    assert (
        records_a
        == sim.ground_truth("ttp-url", FROZEN.timestamp() - 600, FROZEN.timestamp() - 299, client_id="alpha")[::-1]
    )
