"""Faults on demand: quota 429s, error rates, latency, malformed bodies, drops, pagination quirks, scripts."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import aiohttp
import orjson
import pytest

from mimecast_siem.simulator import FaultSettings, RequestQuota, RunningSimulator, ScriptedFault
from tests.simulator.conftest import FROZEN
from tests.simulator.helpers import Caller, caller_for

URL_LOGS = "/api/ttp/url/get-logs"
WINDOW = {"from": "2026-11-25T11:50:00+0000", "to": "2026-11-25T11:52:00+0000"}


@pytest.fixture
async def sim(simulator_factory: Callable[..., Awaitable[RunningSimulator]]) -> RunningSimulator:
    return await simulator_factory(frozen_at=FROZEN, apps=[("client-1", "secret-1"), ("client-2", "secret-2")])


@pytest.fixture
async def caller(session: aiohttp.ClientSession, sim: RunningSimulator) -> Caller:
    c = caller_for(session, sim)
    await c.authenticate()
    return c


async def _raw(session: aiohttp.ClientSession, caller: Caller, path: str = URL_LOGS) -> aiohttp.ClientResponse:
    resp = await session.post(
        f"{caller.url}{path}", json={"data": [WINDOW]}, headers={"Authorization": f"Bearer {caller.token}"}
    )
    await resp.read()
    return resp


async def test_quota_answers_429_with_rate_limit_headers(
    sim: RunningSimulator, caller: Caller, session: aiohttp.ClientSession
) -> None:
    sim.set_faults(quota=RequestQuota(limit=3, period=60.0))
    for _ in range(3):
        ok = await caller.post(URL_LOGS, [WINDOW])
        assert ok.status == 200
        assert "X-RateLimit-Limit" not in ok.headers  # only sent once exceeded (quirk 8)
    limited = await caller.post(URL_LOGS, [WINDOW])
    assert limited.status == 429
    assert limited.headers["X-RateLimit-Limit"] == "3"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["X-RateLimit-Reset"] == "20000"  # ms until one request comes back
    assert limited.body["fail"][0]["message"]
    other = caller_for(session, sim, 1)
    assert (await other.post(URL_LOGS, [WINDOW])).status == 200  # quotas are per client id
    sim.world.clock.advance(15)
    again = await caller.post(URL_LOGS, [WINDOW])
    assert again.status == 429
    assert again.headers["X-RateLimit-Reset"] == "5000"
    sim.world.clock.advance(5)
    assert (await caller.post(URL_LOGS, [WINDOW])).status == 200
    stats = sim.stats()
    assert stats.rate_limited["client-1"] == 2
    assert stats.count(path=URL_LOGS, status=429, client_id="client-1") == 2


@pytest.mark.parametrize(
    ("status", "content_type"), [(500, "application/json"), (502, "text/html"), (503, "text/html")]
)
async def test_error_rate_one_always_fails(
    sim: RunningSimulator, caller: Caller, status: int, content_type: str
) -> None:
    sim.set_faults(error_rates={status: 1.0})
    reply = await caller.post(URL_LOGS, [WINDOW])
    assert reply.status == status
    assert reply.content_type == content_type
    assert sim.stats().faults[str(status)] == 1


async def test_random_faults_are_reproducible(sim: RunningSimulator, caller: Caller) -> None:
    faults = FaultSettings(error_rates={500: 0.2, 503: 0.2}, seed=42)

    async def statuses() -> list[int]:
        sim.set_faults(faults)
        return [(await caller.post(URL_LOGS, [WINDOW])).status for _ in range(30)]

    first = await statuses()
    assert first == await statuses()
    assert {200, 500, 503} == set(first)
    sim.set_faults(FaultSettings(error_rates={500: 0.2, 503: 0.2}, seed=43))
    assert [(await caller.post(URL_LOGS, [WINDOW])).status for _ in range(30)] != first


async def test_latency_delays_each_request(sim: RunningSimulator, caller: Caller) -> None:
    sim.set_faults(latency=0.2, latency_jitter=0.05)
    started = time.monotonic()
    assert (await caller.post(URL_LOGS, [WINDOW])).status == 200
    assert time.monotonic() - started >= 0.2


async def test_invalid_json(sim: RunningSimulator, caller: Caller, session: aiohttp.ClientSession) -> None:
    sim.set_faults(invalid_json_rate=1.0)
    resp = await _raw(session, caller)
    assert resp.status == 200
    assert resp.content_type == "application/json"
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(await resp.read())


async def test_truncated_body(sim: RunningSimulator, caller: Caller, session: aiohttp.ClientSession) -> None:
    sim.set_faults(truncated_rate=1.0)
    with pytest.raises(aiohttp.ClientPayloadError):
        await _raw(session, caller)
    assert sim.stats().served() == 0


async def test_html_instead_of_json(sim: RunningSimulator, caller: Caller) -> None:
    sim.set_faults(html_rate=1.0)
    reply = await caller.post(URL_LOGS, [WINDOW])
    assert reply.status == 200
    assert reply.content_type == "text/html"
    assert "<html>" in reply.body


async def test_dropped_connection(sim: RunningSimulator, caller: Caller, session: aiohttp.ClientSession) -> None:
    sim.set_faults(drop_rate=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await _raw(session, caller)
    sim.clear_faults()
    assert (await caller.post(URL_LOGS, [WINDOW])).status == 200


async def test_next_on_the_final_empty_page(sim: RunningSimulator, caller: Caller) -> None:
    sim.set_faults(next_on_last_page=True)
    reply = await caller.post(URL_LOGS, [WINDOW], page_size=500)
    records = reply.body["data"][0]["clickLogs"]
    assert 0 < len(records) < 500
    token = reply.body["meta"]["pagination"]["next"]
    empty = await caller.post(URL_LOGS, [WINDOW], page_size=500, page_token=token)
    assert empty.body["data"][0]["clickLogs"] == []
    assert empty.body["meta"]["pagination"]["next"]  # still there: clients must stop on empty data
    assert sim.stats().faults["next_on_last_page"] == 2


async def test_repeating_page_token(sim: RunningSimulator, caller: Caller) -> None:
    sim.set_faults(repeat_page_token=True)
    first = await caller.post(URL_LOGS, [WINDOW], page_size=10)
    token = first.body["meta"]["pagination"]["next"]
    second = await caller.post(URL_LOGS, [WINDOW], page_size=10, page_token=token)
    assert second.body["meta"]["pagination"]["next"] == token


async def test_forced_401_expires_the_presented_token(sim: RunningSimulator, caller: Caller) -> None:
    sim.set_faults(force_401=1)
    first = await caller.post(URL_LOGS, [WINDOW])
    assert first.status == 401
    assert first.body["fail"][0]["errors"][0]["code"] == "err_xdk_client_unauthorized"
    assert (await caller.post(URL_LOGS, [WINDOW])).status == 401  # that token is now expired
    await caller.authenticate()
    assert (await caller.post(URL_LOGS, [WINDOW])).status == 200


async def test_forced_401_mid_walk_then_replay_same_page_token(sim: RunningSimulator, caller: Caller) -> None:
    page1 = await caller.post(URL_LOGS, [WINDOW], page_size=50)
    token = page1.body["meta"]["pagination"]["next"]
    sim.set_faults(force_401=1)
    assert (await caller.post(URL_LOGS, [WINDOW], page_size=50, page_token=token)).status == 401
    await caller.authenticate()
    page2 = await caller.post(URL_LOGS, [WINDOW], page_size=50, page_token=token)
    assert page2.status == 200
    truth = sim.ground_truth("ttp-url", FROZEN.timestamp() - 600, FROZEN.timestamp() - 479)[::-1]
    assert page1.body["data"][0]["clickLogs"] + page2.body["data"][0]["clickLogs"] == truth[:100]


async def test_script_answers_exactly_n_requests(sim: RunningSimulator, caller: Caller) -> None:
    sim.set_faults(
        script=[ScriptedFault(path=URL_LOGS, count=2, status=503), ScriptedFault(path="/oauth/token", status=500)]
    )
    assert (await caller.post("/api/ttp/attachment/get-logs", [WINDOW])).status == 200  # other endpoints untouched
    assert [(await caller.post(URL_LOGS, [WINDOW])).status for _ in range(3)] == [503, 503, 200]
    assert (await caller.oauth("client-1", "secret-1")).status == 500
    assert (await caller.oauth("client-1", "secret-1")).status == 200


@pytest.mark.parametrize("status", [401, 429, 400])
async def test_script_statuses_have_mimecast_bodies(sim: RunningSimulator, caller: Caller, status: int) -> None:
    sim.set_faults(script=[ScriptedFault(path="*", status=status)])
    reply = await caller.post(URL_LOGS, [WINDOW])
    assert reply.status == status
    assert reply.body["meta"]["status"] == status
    assert reply.body["fail"][0]["errors"][0]["code"]
    if status == 429:
        assert "X-RateLimit-Reset" in reply.headers


async def test_script_kinds(sim: RunningSimulator, caller: Caller, session: aiohttp.ClientSession) -> None:
    sim.set_faults(script=[ScriptedFault(path=URL_LOGS, kind="drop"), ScriptedFault(path=URL_LOGS, kind="html")])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await _raw(session, caller)
    assert (await _raw(session, caller)).content_type == "text/html"
    assert (await _raw(session, caller)).status == 200


async def test_script_delay(sim: RunningSimulator, caller: Caller) -> None:
    sim.set_faults(script=[ScriptedFault(path=URL_LOGS, kind="delay", delay=0.3)])
    started = time.monotonic()
    assert (await caller.post(URL_LOGS, [WINDOW])).status == 200
    assert time.monotonic() - started >= 0.3


async def test_faults_over_http(sim: RunningSimulator, caller: Caller, session: aiohttp.ClientSession) -> None:
    body = {
        "error_rates": {"503": 1.0},
        "script": [{"path": URL_LOGS, "status": 500}],
        "quota": {"limit": 100, "period": 1},
    }
    async with session.post(f"{sim.url}/_sim/faults", json=body) as resp:
        assert resp.status == 200
        shown = await resp.json()
    assert shown["error_rates"] == {"503": 1.0}
    assert shown["script_remaining"] == 1
    assert (await caller.post(URL_LOGS, [WINDOW])).status == 500
    assert (await caller.post(URL_LOGS, [WINDOW])).status == 503
    async with session.post(f"{sim.url}/_sim/faults", json={}) as resp:
        assert resp.status == 200
    assert (await caller.post(URL_LOGS, [WINDOW])).status == 200


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"error_rates": {"404": 0.5}}, "faults.error_rates"),
        ({"drop_rate": 2}, "faults.drop_rate"),
        ({"script": [{"path": "nope"}]}, "faults.script.path"),
        ({"colour": "red"}, "faults.colour"),
        ({"quota": {"limit": 0}}, "faults.quota.limit"),
    ],
)
async def test_bad_faults_are_refused_with_the_key(
    sim: RunningSimulator, session: aiohttp.ClientSession, body: object, needle: str
) -> None:
    async with session.post(f"{sim.url}/_sim/faults", json=body) as resp:
        assert resp.status == 400
        assert needle in (await resp.json())["error"]


def test_fault_settings_validate() -> None:
    with pytest.raises(ValueError, match=r"faults\.error_rates"):
        FaultSettings(error_rates={500: 0.7, 503: 0.7}).validate()
    with pytest.raises(ValueError, match=r"faults\.latency"):
        FaultSettings(latency=-1).validate()
