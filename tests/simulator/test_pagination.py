"""Page walks against ground truth: ordering, inclusive boundaries, opaque tokens bound to filters, stability."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from mimecast_siem.simulator import LateArrivals, RunningSimulator
from tests.simulator.conftest import FROZEN
from tests.simulator.helpers import Caller, caller_for

URL_LOGS = "/api/ttp/url/get-logs"
T0 = FROZEN.timestamp()


def _at(offset: float) -> str:
    """Wire date ``offset`` seconds from the frozen instant."""
    from mimecast_siem.simulator import format_time

    return format_time(T0 + offset)


@pytest.fixture
async def sim(simulator_factory: Callable[..., Awaitable[RunningSimulator]]) -> RunningSimulator:
    return await simulator_factory(frozen_at=FROZEN, rates={"ttp-url": 8.0, "audit": 1.0})


@pytest.fixture
async def caller(session: aiohttp.ClientSession, sim: RunningSimulator) -> Caller:
    c = caller_for(session, sim)
    await c.authenticate()
    return c


@pytest.mark.parametrize("page_size", [7, 100, 500])
async def test_newest_first_walk_equals_ground_truth(sim: RunningSimulator, caller: Caller, page_size: int) -> None:
    item = {"from": _at(-600), "to": _at(-60)}
    records, pages = await caller.walk(URL_LOGS, item, record_key="clickLogs", page_size=page_size)
    truth = sim.ground_truth("ttp-url", T0 - 600, T0 - 59)  # "to" is inclusive: [from, to + 1s)
    assert len(truth) > 3000
    assert records == truth[::-1]
    assert pages == -(-len(truth) // page_size)
    dates = [r["date"] for r in records]
    assert dates == sorted(dates, reverse=True)


async def test_oldest_first_walk_equals_ground_truth(sim: RunningSimulator, caller: Caller) -> None:
    item = {"from": _at(-600), "to": _at(-60), "oldestFirst": True}
    records, _ = await caller.walk(URL_LOGS, item, record_key="clickLogs", page_size=333)
    assert records == sim.ground_truth("ttp-url", T0 - 600, T0 - 59)


async def test_audit_walk_equals_ground_truth(sim: RunningSimulator, caller: Caller) -> None:
    item = {"startDateTime": _at(-900), "endDateTime": _at(0)}
    records, _ = await caller.walk("/api/audit/get-audit-events", item, record_key=None, page_size=50)
    assert records == sim.ground_truth("audit", T0 - 900, T0 + 1)[::-1]


async def test_from_and_to_are_both_inclusive(sim: RunningSimulator, caller: Caller) -> None:
    boundary = next(r for r in sim.ground_truth("ttp-url", T0 - 300, T0 - 200))["date"]
    first, _ = await caller.walk(URL_LOGS, {"from": _at(-400), "to": boundary}, record_key="clickLogs")
    second, _ = await caller.walk(URL_LOGS, {"from": boundary, "to": _at(-100)}, record_key="clickLogs")
    at_boundary = [r for r in first if r["date"] == boundary]
    assert at_boundary
    assert at_boundary == [r for r in second if r["date"] == boundary][: len(at_boundary)]
    # Peers that chain windows by "from = last to" see boundary records twice (quirk 3).
    assert len(first) + len(second) == len(sim.ground_truth("ttp-url", T0 - 400, T0 - 99)) + len(at_boundary)


async def test_many_records_in_one_second_page_cleanly(
    session: aiohttp.ClientSession, simulator_factory: Callable[..., Awaitable[RunningSimulator]]
) -> None:
    sim = await simulator_factory(frozen_at=FROZEN, rates={"ttp-url": 200.0}, history=300.0)
    caller = caller_for(session, sim)
    second = _at(-120)
    records, pages = await caller.walk(URL_LOGS, {"from": second, "to": second}, record_key="clickLogs", page_size=9)
    assert len(records) > 100
    assert pages > 10
    assert {r["date"] for r in records} == {second}
    assert records == sim.ground_truth("ttp-url", T0 - 120, T0 - 119)[::-1]


async def test_next_is_absent_on_the_last_page(caller: Caller) -> None:
    reply = await caller.post(URL_LOGS, [{"from": _at(-30), "to": _at(-29)}], page_size=500)
    assert reply.body["meta"]["pagination"] == {"pageSize": 500}


async def test_page_tokens_are_opaque(caller: Caller) -> None:
    reply = await caller.post(URL_LOGS, [{"from": _at(-600)}], page_size=10)
    token = reply.body["meta"]["pagination"]["next"]
    assert not token.isdigit()
    assert len(token) > 20
    assert token != "10"


@pytest.mark.parametrize(
    ("second_item", "path"),
    [
        ({"from": "FROM", "route": "inbound"}, URL_LOGS),
        ({"from": "FROM", "oldestFirst": True}, URL_LOGS),
        ({"from": "FROM"}, "/api/ttp/attachment/get-logs"),
    ],
)
async def test_token_replayed_with_other_filters_is_refused(
    caller: Caller, second_item: dict[str, object], path: str
) -> None:
    item = {"from": _at(-600)}
    token = (await caller.post(URL_LOGS, [item], page_size=10)).body["meta"]["pagination"]["next"]
    changed = {k: (item["from"] if v == "FROM" else v) for k, v in second_item.items()}
    reply = await caller.post(path, [changed], page_size=10, page_token=token)
    assert reply.status == 200
    assert reply.body["fail"][0]["errors"][0]["code"] == "err_invalid_page_token"
    assert reply.body["data"] == []


async def test_forged_token_is_refused(caller: Caller) -> None:
    reply = await caller.post(URL_LOGS, [{}], page_token="eyJvZmZzZXQiOjEwMH0")
    assert reply.body["fail"][0]["errors"][0]["code"] == "err_invalid_page_token"


async def test_token_of_another_app_is_refused(
    session: aiohttp.ClientSession, simulator_factory: Callable[..., Awaitable[RunningSimulator]]
) -> None:
    sim = await simulator_factory(frozen_at=FROZEN, apps=[("a", "s1"), ("b", "s2")])
    first, second = caller_for(session, sim, 0), caller_for(session, sim, 1)
    item = {"from": _at(-600)}
    token = (await first.post(URL_LOGS, [item], page_size=5)).body["meta"]["pagination"]["next"]
    reply = await second.post(URL_LOGS, [item], page_size=5, page_token=token)
    assert reply.body["fail"][0]["errors"][0]["code"] == "err_invalid_page_token"


async def test_token_survives_a_new_access_token(sim: RunningSimulator, caller: Caller) -> None:
    item = {"from": _at(-300), "to": _at(-200)}
    page1 = await caller.post(URL_LOGS, [item], page_size=50)
    await caller.authenticate()  # quirk 7: refresh mid-walk, replay the same page token
    page2 = await caller.post(URL_LOGS, [item], page_size=50, page_token=page1.body["meta"]["pagination"]["next"])
    got = page1.body["data"][0]["clickLogs"] + page2.body["data"][0]["clickLogs"]
    assert got == sim.ground_truth("ttp-url", T0 - 300, T0 - 199)[::-1][:100]


async def test_walk_is_stable_while_new_records_arrive(sim: RunningSimulator, caller: Caller) -> None:
    # No "to": the window ends "now", and late records inside it become visible during the walk.
    item = {"from": _at(-400)}
    before = sim.ground_truth("ttp-url", T0 - 400, T0 + 1)
    reply = await caller.post(URL_LOGS, [item], page_size=100)
    records = list(reply.body["data"][0]["clickLogs"])
    token = reply.body["meta"]["pagination"]["next"]
    sim.world.clock.advance(300)
    while token:
        reply = await caller.post(URL_LOGS, [item], page_size=100, page_token=token)
        records.extend(reply.body["data"][0]["clickLogs"])
        token = reply.body["meta"]["pagination"].get("next")
    assert records == before[::-1]
    assert len(sim.ground_truth("ttp-url", T0 - 400, T0 + 1)) > len(before)


async def test_late_arrivals_appear_later(
    session: aiohttp.ClientSession, simulator_factory: Callable[..., Awaitable[RunningSimulator]]
) -> None:
    late = LateArrivals(fraction=0.2, min_delay=60.0, max_delay=240.0)
    sim = await simulator_factory(frozen_at=FROZEN, rates={"ttp-url": 5.0}, late=late)
    caller = caller_for(session, sim)
    item = {"from": _at(-200), "to": _at(-100), "oldestFirst": True}
    now_visible, _ = await caller.walk(URL_LOGS, item, record_key="clickLogs")
    eventually = sim.ground_truth("ttp-url", T0 - 200, T0 - 99, include_future_visible=True)
    pending = [r for r in eventually if r not in now_visible]
    assert pending, "some records in the window are still to arrive"
    assert all(r["date"] <= _at(-100) for r in pending)  # already in the past when they arrive
    sim.world.clock.advance(240)
    later, _ = await caller.walk(URL_LOGS, item, record_key="clickLogs")
    assert later == eventually
    assert [r for r in later if r in now_visible] == now_visible


async def test_hold_list_walk_is_a_stable_snapshot(
    session: aiohttp.ClientSession, simulator_factory: Callable[..., Awaitable[RunningSimulator]]
) -> None:
    sim = await simulator_factory(frozen_at=FROZEN)
    caller = caller_for(session, sim)
    item = {"admin": True}
    snapshot = [r for r, _ in sim.world.account().holds.held_at(T0)]
    assert len(snapshot) > 10
    reply = await caller.post("/api/gateway/get-hold-message-list", [item], page_size=5)
    records = list(reply.body["data"])
    token = reply.body["meta"]["pagination"]["next"]
    assert reply.body["meta"]["pagination"]["totalCount"] == len(snapshot)
    sim.world.clock.advance(1)
    assert sim.world.account().holds.release(snapshot[-1]["id"])  # one of the not-yet-served members leaves
    sim.world.clock.advance(30)
    while token:
        reply = await caller.post("/api/gateway/get-hold-message-list", [item], page_size=5, page_token=token)
        records.extend(reply.body["data"])
        token = reply.body["meta"]["pagination"].get("next")
    assert records == snapshot
    fresh, _ = await caller.walk("/api/gateway/get-hold-message-list", item, record_key=None)
    assert snapshot[-1]["id"] not in {r["id"] for r in fresh}


async def test_walk_on_the_wall_clock_equals_ground_truth(
    session: aiohttp.ClientSession, simulator_factory: Callable[..., Awaitable[RunningSimulator]]
) -> None:
    import time

    from mimecast_siem.simulator import format_time

    sim = await simulator_factory(late=LateArrivals(fraction=0.0), rates={"ttp-url": 20.0})
    caller = caller_for(session, sim)
    end = int(time.time()) - 5  # every record up to here is visible (no late arrivals configured)
    start = end - 300
    records, _ = await caller.walk(
        URL_LOGS, {"from": format_time(start), "to": format_time(end)}, record_key="clickLogs", page_size=250
    )
    assert len(records) > 1000
    assert records == sim.ground_truth("ttp-url", start, end + 1)[::-1]
