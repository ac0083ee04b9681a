"""The DLP, archive search/view, search, rejection and release log endpoints (mimecast-api.md 4.9-4.13)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from mimecast_siem.simulator import HeldQueueSettings, RunningSimulator
from tests.simulator.conftest import FROZEN
from tests.simulator.helpers import Caller, caller_for

RATES = {"dlp": 2.0, "archive-search": 1.0, "archive-view": 1.0, "search": 1.0, "rejections": 2.0}
FROM_TO = {"from": "2026-11-25T11:40:00+0000", "to": "2026-11-25T11:59:59+0000"}
START_END = {"start": "2026-11-25T11:40:00+0000", "end": "2026-11-25T11:59:59+0000"}

#: path, record key, window item, time field, stream name, fields every record has.
ENDPOINTS = [
    ("/api/dlp/get-logs", "dlpLogs", FROM_TO, "eventTime", "dlp",
     {"senderAddress", "recipientAddress", "subject", "eventTime", "route", "policy", "action", "messageId"}),
    ("/api/archive/get-archive-search-logs", "logs", START_END, "createTime", "archive-search",
     {"createTime", "emailAddr", "source", "searchText", "searchReason", "description", "isAdmin", "searchPath"}),
    ("/api/archive/get-search-logs", "logs", START_END, "createTime", "search",
     {"createTime", "emailAddr", "source", "searchText", "museQuery", "isAdmin", "searchPath"}),
    ("/api/archive/get-view-logs", None, START_END, "viewed", "archive-view",
     {"viewer", "source", "viewed", "subject", "from", "to", "messageDate", "discoveryCase", "contentViewed"}),
    ("/api/gateway/get-rejections", None, {**START_END, "admin": True}, "created", "rejections",
     {"id", "created", "fromAddress", "toAddress", "info", "type", "ipAddress", "remoteName", "spamScore"}),
]  # fmt: skip


@pytest.fixture
async def sim(simulator_factory: Callable[..., Awaitable[RunningSimulator]]) -> RunningSimulator:
    return await simulator_factory(
        frozen_at=FROZEN, rates=RATES, holds=HeldQueueSettings(arrival_rate=0.5, min_hold=30, max_hold=600)
    )


@pytest.fixture
async def caller(session: aiohttp.ClientSession, sim: RunningSimulator) -> Caller:
    c = caller_for(session, sim)
    await c.authenticate()
    return c


@pytest.mark.parametrize(("path", "key", "item", "time_field", "stream", "fields"), ENDPOINTS)
async def test_walk_matches_ground_truth(
    caller: Caller, sim: RunningSimulator, path: str, key: str | None, item: dict[str, object], time_field: str,
    stream: str, fields: set[str],
) -> None:  # fmt: skip
    records, pages = await caller.walk(path, {**item, "oldestFirst": True}, record_key=key, page_size=7)
    assert pages > 1
    assert records, f"{stream} served nothing"
    for record in records:
        assert fields <= set(record), fields - set(record)
    times = [r[time_field] for r in records]
    assert times == sorted(times)
    truth = sim.ground_truth(stream, FROZEN.timestamp() - 1200, FROZEN.timestamp())
    assert records == truth


async def test_rejections_need_admin_for_every_mailbox(caller: Caller) -> None:
    own, _ = await caller.walk("/api/gateway/get-rejections", START_END, record_key=None)
    admin, _ = await caller.walk("/api/gateway/get-rejections", {**START_END, "admin": True}, record_key=None)
    assert own == []  # like held messages: admin defaults to false (only the app's own mailbox)
    assert admin
    one = admin[0]["toAddress"]
    mailbox, _ = await caller.walk(
        "/api/gateway/get-rejections", {**START_END, "admin": True, "mailbox": one}, record_key=None
    )
    assert mailbox
    assert {r["toAddress"] for r in mailbox} == {one}


async def test_dlp_filters(caller: Caller) -> None:
    held, _ = await caller.walk("/api/dlp/get-logs", {**FROM_TO, "actions": ["hold"]}, record_key="dlpLogs")
    assert held
    assert {r["action"] for r in held} == {"hold"}
    reply = await caller.post("/api/dlp/get-logs", [{**FROM_TO, "actions": ["explode"]}])
    assert reply.body["fail"][0]["errors"][0]["code"] == "err_validation_invalid_value"
    assert "explode" in reply.body["fail"][0]["errors"][0]["message"]


async def test_view_log_query_filters_viewer_from_to_subject(caller: Caller) -> None:
    everything, _ = await caller.walk("/api/archive/get-view-logs", START_END, record_key=None)
    viewer = everything[0]["viewer"]
    some, _ = await caller.walk("/api/archive/get-view-logs", {**START_END, "query": viewer}, record_key=None)
    assert some
    assert len(some) < len(everything)
    assert all(viewer in (r["viewer"], r["from"], r["to"]) or viewer in r["subject"] for r in some)


async def test_release_log_shares_the_held_message_id(caller: Caller, sim: RunningSimulator) -> None:
    releases, _ = await caller.walk(
        "/api/gateway/get-held-release-logs", START_END, record_key="heldReleaseLogs", page_size=50
    )
    assert releases
    truth = sim.ground_truth("message-release", FROZEN.timestamp() - 1200, FROZEN.timestamp())
    assert sorted(r["id"] for r in releases) == sorted(r["id"] for r in truth)
    lifecycle = {
        entry["id"]: entry
        for entry in sim.world.account().holds.lifecycles(int(FROZEN.timestamp()) - 3600, int(FROZEN.timestamp()))
    }
    outcomes = set()
    for record in releases:
        entry = lifecycle.get(record["id"])
        if entry is None:
            continue  # entered hold before the looked-at hour
        outcomes.add(entry["outcome"])
        assert record["operator"]["emailAddress"] == entry["operator"]
        if entry["outcome"] == "expired":
            assert record["operator"]["emailAddress"] == "housekeeping"
    assert {"released", "rejected"} <= outcomes
