"""The /_sim control API, unknown paths and malformed request bodies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from mimecast_siem.simulator import RunningSimulator
from mimecast_siem.simulator.control import is_loopback
from tests.simulator.conftest import FROZEN
from tests.simulator.helpers import Caller, caller_for

URL_LOGS = "/api/ttp/url/get-logs"
T0 = FROZEN.timestamp()


@pytest.fixture
async def sim(simulator_factory: Callable[..., Awaitable[RunningSimulator]]) -> RunningSimulator:
    return await simulator_factory(frozen_at=FROZEN)


@pytest.fixture
async def caller(session: aiohttp.ClientSession, sim: RunningSimulator) -> Caller:
    c = caller_for(session, sim)
    await c.authenticate()
    return c


async def _get(session: aiohttp.ClientSession, url: str, **params: str) -> tuple[int, dict[str, Any]]:
    async with session.get(url, params=params) as resp:
        return resp.status, await resp.json()


async def test_ground_truth_endpoint_matches_the_walk(
    sim: RunningSimulator, caller: Caller, session: aiohttp.ClientSession
) -> None:
    records, _ = await caller.walk(
        URL_LOGS, {"from": "2026-11-25T11:50:00+0000", "to": "2026-11-25T11:54:59+0000"}, record_key="clickLogs"
    )
    status, body = await _get(
        session,
        f"{sim.url}/_sim/ground-truth",
        stream="ttp-url",
        **{"from": "2026-11-25T11:50:00Z", "to": "2026-11-25T11:55:00Z"},
    )
    assert status == 200
    assert body["count"] == len(records) > 0
    assert body["records"] == records[::-1]
    assert body["client_id"] == "client-1"
    assert body["from"] == "2026-11-25T11:50:00+0000"


async def test_ground_truth_with_future_visible(sim: RunningSimulator, session: aiohttp.ClientSession) -> None:
    span = {"from": str(T0 - 120), "to": str(T0)}
    _, now = await _get(session, f"{sim.url}/_sim/ground-truth", stream="ttp-url", **span)
    _, future = await _get(
        session, f"{sim.url}/_sim/ground-truth", stream="ttp-url", include_future_visible="1", **span
    )
    assert isinstance(now["count"], int)
    assert isinstance(future["count"], int)
    assert future["count"] > now["count"]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"stream": "ttp-url", "from": "x", "to": "2026-11-25T11:55:00Z"}, "from="),
        ({"stream": "ttp-url", "to": "2026-11-25T11:55:00Z"}, "from is required"),
        ({"stream": "phishing", "from": "0", "to": "1"}, "stream='phishing'"),
        ({"stream": "ttp-url", "from": "0", "to": "1", "client_id": "nobody"}, "client_id='nobody'"),
    ],
)
async def test_ground_truth_bad_params(
    sim: RunningSimulator, session: aiohttp.ClientSession, params: dict[str, str], needle: str
) -> None:
    status, body = await _get(session, f"{sim.url}/_sim/ground-truth", **params)
    assert status == 400
    assert needle in str(body["error"])


async def test_stats_count_requests_records_and_tokens(
    sim: RunningSimulator, caller: Caller, session: aiohttp.ClientSession
) -> None:
    records, pages = await caller.walk(
        URL_LOGS, {"from": "2026-11-25T11:50:00+0000"}, record_key="clickLogs", page_size=200
    )
    await caller.post("/api/ttp/url/nope", [{}])
    status, body = await _get(session, f"{sim.url}/_sim/stats")
    assert status == 200
    assert body["records_served_total"] == len(records)
    assert body["tokens_issued"] == {"client-1": 1}
    rows = {(r["endpoint"], r["status"], r["client_id"]): r["count"] for r in body["requests"]}
    assert rows[(URL_LOGS, 200, "client-1")] == pages
    assert rows[("/oauth/token", 200, "client-1")] == 1
    assert rows[("/api/ttp/url/nope", 404, "-")] == 1
    assert sim.stats().served("ttp-url", "client-1") == len(records)
    async with session.post(f"{sim.url}/_sim/reset-stats") as resp:
        assert resp.status == 200
    assert sim.stats().count() == 0
    sim.reset_stats()
    assert sim.stats().served() == 0


async def test_clock_control(sim: RunningSimulator, session: aiohttp.ClientSession) -> None:
    _, body = await _get(session, f"{sim.url}/_sim/clock")
    assert body == {"now": "2026-11-25T12:00:00+0000", "epoch": T0, "frozen": True}
    async with session.post(f"{sim.url}/_sim/clock", json={"advance": 90}) as resp:
        assert (await resp.json())["now"] == "2026-11-25T12:01:30+0000"
    async with session.post(f"{sim.url}/_sim/clock", json={"advance": -5}) as resp:
        assert resp.status == 400
    async with session.post(f"{sim.url}/_sim/clock", json={"freeze": False}) as resp:
        assert (await resp.json())["frozen"] is False


async def test_info_lists_apps_and_endpoints(sim: RunningSimulator, session: aiohttp.ClientSession) -> None:
    _, body = await _get(session, f"{sim.url}/_sim/info")
    assert body["apps"] == [{"client_id": "client-1", "client_secret": "secret-1"}]
    endpoints = body["endpoints"]
    assert isinstance(endpoints, list)
    for path in (URL_LOGS, "/api/gateway/get-hold-message-list", "/api/audit/get-audit-events", "/oauth/token"):
        assert path in endpoints


def test_control_api_only_answers_loopback() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert not is_loopback("10.0.0.5")
    assert not is_loopback(None)
    assert not is_loopback("not-an-ip")


async def test_unknown_path_is_404_with_fail(caller: Caller) -> None:
    reply = await caller.post("/api/does/not-exist", [{}])
    assert reply.status == 404
    assert reply.body["meta"]["status"] == 404
    assert reply.body["fail"][0]["errors"][0]["code"] == "err_resource_not_found"


async def test_get_on_a_post_endpoint_is_405(caller: Caller, session: aiohttp.ClientSession) -> None:
    async with session.get(f"{caller.url}{URL_LOGS}", headers={"Authorization": f"Bearer {caller.token}"}) as resp:
        assert resp.status == 405
        assert (await resp.json())["fail"][0]["errors"][0]["code"] == "err_method_not_allowed"


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'{"data": {"from": 1}}', b'{"meta": []}'])
async def test_malformed_request_bodies_are_400(caller: Caller, session: aiohttp.ClientSession, raw: bytes) -> None:
    headers = {"Authorization": f"Bearer {caller.token}", "Content-Type": "application/json"}
    async with session.post(f"{caller.url}{URL_LOGS}", data=raw, headers=headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["fail"][0]["errors"][0]["code"] == "err_invalid_request_body"


async def test_non_object_item_is_200_with_fail(caller: Caller) -> None:
    reply = await caller.post(URL_LOGS, ["from"])
    assert reply.status == 200
    assert reply.body["fail"][0]["errors"][0]["code"] == "err_validation_invalid_value"


async def test_empty_body_means_defaults(caller: Caller, session: aiohttp.ClientSession) -> None:
    async with session.post(f"{caller.url}{URL_LOGS}", headers={"Authorization": f"Bearer {caller.token}"}) as resp:
        body = await resp.json()
    assert resp.status == 200
    assert body["fail"] == []
    assert body["data"][0]["clickLogs"]


@pytest.mark.parametrize("bad", ["1e300", "-1e13", "9" * 30])
async def test_ground_truth_refuses_absurd_times(
    sim: RunningSimulator, session: aiohttp.ClientSession, bad: str
) -> None:
    status, body = await _get(session, f"{sim.url}/_sim/ground-truth", stream="ttp-url", **{"from": "0", "to": bad})
    assert status == 400
    assert "out of range" in str(body["error"])


async def test_ground_truth_of_a_huge_range_is_what_exists(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    status, body = await _get(
        session, f"{sim.url}/_sim/ground-truth", stream="ttp-url", **{"from": "0", "to": "9000000000"}
    )
    assert status == 200
    assert body["count"] == len(sim.ground_truth("ttp-url", sim.world.origin, T0 + 1)) > 0
