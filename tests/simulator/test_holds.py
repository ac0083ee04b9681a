"""The held queue: members come and go on schedule, actions release/reject, summary and release log agree."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from mimecast_siem.simulator import HeldQueueSettings, RunningSimulator, format_time
from tests.simulator.conftest import FROZEN
from tests.simulator.helpers import Caller, caller_for

HOLD_LIST = "/api/gateway/get-hold-message-list"
RELEASE_LOGS = "/api/gateway/get-held-release-logs"
T0 = FROZEN.timestamp()


@pytest.fixture
async def sim(simulator_factory: Callable[..., Awaitable[RunningSimulator]]) -> RunningSimulator:
    holds = HeldQueueSettings(arrival_rate=0.3, min_hold=30.0, max_hold=300.0, own_share=0.2)
    return await simulator_factory(frozen_at=FROZEN, holds=holds, history=1800.0)


@pytest.fixture
async def caller(session: aiohttp.ClientSession, sim: RunningSimulator) -> Caller:
    c = caller_for(session, sim)
    await c.authenticate()
    return c


async def _held(caller: Caller, **filters: object) -> list[dict[str, Any]]:
    records, _ = await caller.walk(HOLD_LIST, {"admin": True, **filters}, record_key=None, page_size=50)
    return records


async def test_members_enter_and_leave_over_time(sim: RunningSimulator, caller: Caller) -> None:
    before = {r["id"] for r in await _held(caller)}
    assert len(before) > 20
    sim.world.clock.advance(301)  # longer than max_hold: every earlier member has left
    after = {r["id"] for r in await _held(caller)}
    assert after
    assert before.isdisjoint(after)


async def test_leaving_is_recorded_in_the_release_log(sim: RunningSimulator, caller: Caller) -> None:
    before = {r["id"]: r for r in await _held(caller)}
    sim.world.clock.advance(301)
    logs, _ = await caller.walk(
        RELEASE_LOGS, {"start": format_time(T0), "end": format_time(T0 + 301)}, record_key="heldReleaseLogs"
    )
    by_id = {r["id"]: r for r in logs}
    assert set(before) <= set(by_id)
    truth = {x["id"]: x for x in sim.world.account().holds.lifecycles(int(T0) - 400, int(T0) + 1)}
    for message_id, held in before.items():
        entry = by_id[message_id]
        assert format_time(T0) <= entry["released"] <= format_time(T0 + 301)
        assert entry["subject"] == held["subject"]
        outcome = truth[message_id]["outcome"]
        assert entry["status"] == ("released" if outcome == "released" else "rejected")
        if outcome == "expired":
            assert entry["rejectReason"] == "Expired by housekeeping"
    assert {r["status"] for r in logs} == {"released", "rejected"}


async def test_release_log_walk_equals_ground_truth(sim: RunningSimulator, caller: Caller) -> None:
    logs, _ = await caller.walk(
        RELEASE_LOGS,
        {"start": format_time(T0 - 1200), "end": format_time(T0)},
        record_key="heldReleaseLogs",
        page_size=20,
    )
    assert logs == sim.ground_truth("held-release", T0 - 1200, T0 + 1)[::-1]


async def test_summary_matches_the_list(caller: Caller) -> None:
    held = await _held(caller)
    summary = (await caller.post("/api/gateway/get-hold-summary-list", [])).body["data"]
    assert {row["policyInfo"]: row["numberOfItems"] for row in summary} == Counter(r["policyInfo"] for r in held)
    counts = [row["numberOfItems"] for row in summary]
    assert counts == sorted(counts, reverse=True)


async def test_admin_false_lists_only_own_holds(sim: RunningSimulator, caller: Caller) -> None:
    everything = await _held(caller)
    default, _ = await caller.walk(HOLD_LIST, {}, record_key=None)
    explicit, _ = await caller.walk(HOLD_LIST, {"admin": False}, record_key=None)
    own = sim.world.account().profile.own_mailbox
    assert default == explicit
    assert 0 < len(default) < len(everything)
    assert default == [r for r in everything if r["to"]["emailAddress"] == own]


async def test_release_removes_the_message_and_logs_it(sim: RunningSimulator, caller: Caller) -> None:
    held = await _held(caller)
    target = held[len(held) // 2]["id"]
    sim.world.clock.advance(1)
    holds = sim.world.account().holds
    assert holds.release(target, operator="analyst@example.com") is True
    assert holds.release(target) is False  # no longer held
    assert target not in {r["id"] for r in await _held(caller)}
    logs, _ = await caller.walk(RELEASE_LOGS, {"start": format_time(T0)}, record_key="heldReleaseLogs")
    (entry,) = [r for r in logs if r["id"] == target]
    assert entry["status"] == "released"
    assert entry["operator"] == {"emailAddress": "analyst@example.com"}
    assert entry["released"] == format_time(T0 + 1)
    lifecycle = [x for x in holds.lifecycles(int(T0) - 400, int(T0) + 1) if x["id"] == target]
    assert lifecycle[0]["outcome"] == "released"
    # The scheduled exit no longer appears later.
    sim.world.clock.advance(400)
    later, _ = await caller.walk(RELEASE_LOGS, {"start": format_time(T0)}, record_key="heldReleaseLogs")
    assert [r["id"] for r in later].count(target) == 1


async def test_reject_records_the_reason(sim: RunningSimulator, caller: Caller) -> None:
    target = (await _held(caller))[0]["id"]
    sim.world.clock.advance(1)
    assert sim.world.account().holds.reject(target, reason="INAPPROPRIATE COMMUNICATION") is True
    logs, _ = await caller.walk(RELEASE_LOGS, {"start": format_time(T0)}, record_key="heldReleaseLogs")
    (entry,) = [r for r in logs if r["id"] == target]
    assert entry["status"] == "rejected"
    assert entry["rejectReason"] == "INAPPROPRIATE COMMUNICATION"


async def test_release_of_unknown_or_foreign_ids_is_refused(
    sim: RunningSimulator, simulator_factory: Callable[..., Awaitable[RunningSimulator]]
) -> None:
    holds = sim.world.account().holds
    assert holds.release("not-an-id") is False
    gone = next(x for x in holds.lifecycles(int(T0) - 1200, int(T0)) if x["left_epoch"] < T0)
    assert holds.find(gone["id"]) is not None
    assert holds.release(gone["id"]) is False  # it already left the queue
    assert holds.reject(gone["id"]) is False
    other = await simulator_factory(frozen_at=FROZEN, apps=[("x", "y")])
    foreign = other.world.account().holds.held_at(T0)[0][0]["id"]
    assert holds.find(foreign) is None
    assert holds.release(foreign) is False


async def test_hold_list_filters(sim: RunningSimulator, caller: Caller) -> None:
    everything = await _held(caller)
    inbound = await _held(caller, filterBy=[{"fieldName": "route", "value": "inbound"}])
    assert inbound == [r for r in everything if r["route"] == "INBOUND"]
    subject = str(everything[0]["subject"])
    found = await _held(caller, searchBy={"fieldName": "subject", "value": subject.upper()})
    assert found == [r for r in everything if subject.lower() in str(r["subject"]).lower()]
    middle = str(everything[len(everything) // 2]["dateReceived"])
    newer = await _held(caller, start=middle)
    assert newer == [r for r in everything if str(r["dateReceived"]) >= middle]
    groups = Counter(lc.held_group for _, lc in sim.world.account().holds.held_at(T0))
    moderated = await _held(caller, filterBy=[{"fieldName": "heldGroup", "value": "moderator"}])
    assert len(moderated) == groups["moderator"]


async def test_bad_hold_filters_fail(caller: Caller) -> None:
    reply = await caller.post(HOLD_LIST, [{"admin": True, "filterBy": [{"fieldName": "route", "value": "sideways"}]}])
    assert reply.body["fail"][0]["errors"][0]["code"] == "err_validation_invalid_value"
    reply = await caller.post(HOLD_LIST, [{"admin": True, "searchBy": {"fieldName": "colour", "value": "x"}}])
    assert reply.body["fail"][0]["errors"][0]["code"] == "err_validation_invalid_value"


async def test_ground_truth_of_held_messages_has_lifecycles(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    params = {"stream": "held-messages", "from": str(T0 - 600), "to": str(T0)}
    async with session.get(f"{sim.url}/_sim/ground-truth", params=params) as resp:
        body = await resp.json()
    assert body["count"] == len(body["records"]) == len(body["lifecycle"]) > 0
    assert [r["id"] for r in body["records"]] == [x["id"] for x in body["lifecycle"]]
    assert {x["outcome"] for x in body["lifecycle"]} <= {"released", "rejected", "expired"}
    for x in body["lifecycle"]:
        assert x["entered"] < x["left"]


async def test_every_exit_has_exactly_one_release_log_record(sim: RunningSimulator, caller: Caller) -> None:
    sim.world.clock.advance(1)
    holds = sim.world.account().holds
    for record, _ in holds.held_at(T0 + 1)[:3]:
        holds.release(str(record["id"]))
    now = sim.world.clock.time()
    lifecycles = holds.lifecycles(int(T0) - 1800, int(now) + 1)
    exited = {x["id"]: x for x in lifecycles if x["left_epoch"] <= now}
    logs, _ = await caller.walk(
        RELEASE_LOGS, {"start": format_time(T0 - 1800), "end": format_time(now)}, record_key="heldReleaseLogs"
    )
    assert Counter(r["id"] for r in logs if r["id"] in exited) == dict.fromkeys(exited, 1)
    assert {r["id"] for r in logs} == set(exited)  # history starts at T0 - 1800: every exit is in range
    for entry in logs:
        if entry["id"] in exited:
            assert entry["released"] == format_time(exited[entry["id"]]["left_epoch"])
