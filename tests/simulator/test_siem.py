"""The simulator's SIEM endpoints: batch file listing, expiring gzip NDJSON files, the event stream."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest

from mimecast_siem.simulator import RunningSimulator, SimulatorConfig, run_simulator
from mimecast_siem.simulator.siem_records import SIEM_TYPES

FROZEN = datetime(2026, 11, 25, 12, 7, 30, tzinfo=UTC)
BATCH = "/siem/v1/batch/events/cg"
STREAM = "/siem/v1/events/cg"


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    config = SimulatorConfig(frozen_at=FROZEN, history=3 * 3600, siem_rate=2.0, rates={})
    async with run_simulator(config) as running:
        yield running


@pytest.fixture
async def http(sim: RunningSimulator) -> AsyncIterator[tuple[aiohttp.ClientSession, dict[str, str]]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        form = {"client_id": sim.client_id, "client_secret": sim.client_secret, "grant_type": "client_credentials"}
        async with session.post(sim.url + "/oauth/token", data=form) as resp:
            token = (await resp.json())["access_token"]
        yield session, {"Authorization": f"Bearer {token}"}


async def get(http: tuple[aiohttp.ClientSession, dict[str, str]], url: str, **params: Any) -> tuple[int, Any]:
    session, headers = http
    async with session.get(url, params={k: str(v) for k, v in params.items()}, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def list_all(http: Any, sim: RunningSimulator, siem_type: str, day: str, page_size: int = 3) -> list[str]:
    urls: list[str] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"type": siem_type, "dateRangeStartsAt": day, "dateRangeEndsAt": day}
        params["pageSize"] = page_size
        if token:
            params["nextPage"] = token
        status, body = await get(http, sim.url + BATCH, **params)
        assert status == 200, body
        assert "@nextPage" in body
        urls.extend(v["url"] for v in body["value"])
        token = body["@nextPage"]
        if not body["value"]:
            return urls


async def download(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with session.get(url) as resp:  # pre-signed: no bearer token
        return resp.status, await resp.read()


async def test_batch_lists_one_file_per_slot_and_files_hold_every_record(http: Any, sim: RunningSimulator) -> None:
    urls = await list_all(http, sim, "receipt", "2026-11-25")
    # History starts at 09:07:30 -> slots from 09:00; a slot's file appears 60 s after it ends (12:00 slot: not yet).
    assert len(urls) == 12
    assert all(url.startswith(sim.url + "/siem-files/") for url in urls)
    records: list[dict[str, Any]] = []
    for url in urls:
        status, payload = await download(http[0], url)
        assert status == 200
        records.extend(orjson.loads(line) for line in gzip.decompress(payload).splitlines())
    truth = sim.ground_truth("siem-receipt", datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 25, 12, tzinfo=UTC))
    assert records == truth
    first = records[0]
    assert isinstance(first["timestamp"], int)
    assert first["timestamp"] > 1e12
    assert isinstance(first["spamScore"], str)  # numbers as strings
    assert isinstance(orjson.loads(first["spamProcessingDetail"]), dict)  # JSON inside a string
    assert "id" not in first


async def test_batch_next_page_keeps_position_while_files_appear(http: Any, sim: RunningSimulator) -> None:
    params = {"type": "process", "dateRangeStartsAt": "2026-11-25", "dateRangeEndsAt": "2026-11-25", "pageSize": 50}
    status, body = await get(http, sim.url + BATCH, **params)
    assert status == 200
    assert len(body["value"]) == 12
    assert body["isCaughtUp"] is True
    status, again = await get(http, sim.url + BATCH, **params, nextPage=body["@nextPage"])
    assert again["value"] == []
    sim.world.clock.advance(15 * 60)  # the 12:00 slot's file appears
    status, later = await get(http, sim.url + BATCH, **params, nextPage=body["@nextPage"])
    assert [v["url"].split("?")[0].rsplit("/", 1)[1] for v in later["value"]] == ["email_process_20261125T1200_900"]


async def test_batch_validation_and_retention(http: Any, sim: RunningSimulator) -> None:
    status, body = await get(
        http, sim.url + BATCH, type="nope", dateRangeStartsAt="2026-11-25", dateRangeEndsAt="2026-11-25"
    )
    assert status == 400
    assert body["error"]["code"] == "err_validation_invalid_value"
    status, body = await get(
        http, sim.url + BATCH, type="av", dateRangeStartsAt="2026-11-10", dateRangeEndsAt="2026-11-25"
    )
    assert status == 400
    assert "7 days" in body["error"]["message"]
    # The day 7 days back: listed by calendar days (the default); refused when the 7 days are counted
    # from now (it began 7 days and 12 hours ago), when the day after it is still listed.
    edge = {"type": "av", "dateRangeStartsAt": "2026-11-18", "dateRangeEndsAt": "2026-11-25"}
    assert (await get(http, sim.url + BATCH, **edge))[0] == 200
    sim.world.config.siem_retention = "rolling"
    status, body = await get(http, sim.url + BATCH, **edge)
    assert (status, body["error"]["code"]) == (400, "err_validation_date_range")
    assert (await get(http, sim.url + BATCH, **{**edge, "dateRangeStartsAt": "2026-11-19"}))[0] == 200
    sim.world.config.siem_retention = "calendar"
    with pytest.raises(ValueError, match="siem_retention"):
        SimulatorConfig(siem_retention="weekly")
    status, body = await get(
        http, sim.url + BATCH, type="av", dateRangeStartsAt="25/11/2026", dateRangeEndsAt="2026-11-25"
    )
    assert status == 400
    assert body["error"]["code"] == "err_validation_invalid_date"
    status, body = await get(http, sim.url + "/siem/v1/batch/events/ci", type="av", dateRangeStartsAt="2026-11-25",
                             dateRangeEndsAt="2026-11-25", nextPage="garbage")  # fmt: skip
    assert status == 400
    assert body["error"]["code"] == "err_invalid_next_page"


async def test_urls_expire_and_faults_mark_files(http: Any, sim: RunningSimulator) -> None:
    session = http[0]
    sim.set_faults(siem_expired_urls=1, siem_corrupt_files=1, siem_duplicate_lines=1)
    urls = await list_all(http, sim, "receipt", "2026-11-25", page_size=50)
    status, body = await download(session, urls[0])
    assert status == 403
    assert b"expired" in body
    assert (await download(session, urls[0].replace("signature=", "signature=x")))[0] == 403
    status, corrupt = await download(session, urls[1])
    lines = gzip.decompress(corrupt).splitlines()
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(lines[1])
    assert (await download(session, urls[1]))[1] == corrupt  # for good: a re-download is identical
    status, dup = await download(session, urls[2])
    dup_lines = gzip.decompress(dup).splitlines()
    assert dup_lines[2] == dup_lines[0]
    sim.world.clock.advance(sim.config.siem_url_ttl + 1)
    assert (await download(session, urls[3]))[0] == 403
    assert (await download(session, sim.url + "/siem-files/client-1/nothing?expires=9999999999&signature=x"))[0] == 403


async def test_stream_walk_with_cursor_returns_every_record_once(http: Any, sim: RunningSimulator) -> None:
    start = FROZEN - timedelta(hours=1)
    params = {
        "types": "receipt,delivery",
        "pageSize": 97,
        "dateRangeStartsAt": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    seen: list[dict[str, Any]] = []
    status, body = await get(http, sim.url + STREAM, **params)
    while True:
        assert status == 200, body
        seen.extend(body["value"])
        if body["isCaughtUp"]:
            break
        status, body = await get(
            http, sim.url + STREAM, types="receipt,delivery", pageSize=97, nextPage=body["@nextPage"]
        )
    truth = [*sim.ground_truth("siem-receipt", start, FROZEN), *sim.ground_truth("siem-delivery", start, FROZEN)]

    def key(r: dict[str, Any]) -> tuple[str, int, int]:
        return (r["type"], r["_offset"], r["timestamp"])

    assert sorted(map(key, seen)) == sorted(map(key, truth))
    assert len(seen) == len({key(r) for r in seen})
    cursor = body["@nextPage"]
    sim.world.clock.advance(120)
    status, more = await get(http, sim.url + STREAM, types="receipt,delivery", nextPage=cursor)
    assert more["value"]
    assert all(r["timestamp"] >= (FROZEN.timestamp() - 1) * 1000 for r in more["value"])


async def test_stream_24h_window_errors_and_stalled_cursor(http: Any, sim: RunningSimulator) -> None:
    old = (FROZEN - timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    status, body = await get(http, sim.url + STREAM, dateRangeStartsAt=old)
    assert status == 400
    assert "24 hours" in body["error"]["message"]
    assert "fail" not in body
    status, body = await get(http, sim.url + STREAM, dateRangeStartsAt="2026-11-25T11:00:00+0000")
    assert status == 400
    assert body["error"]["code"] == "err_validation_invalid_date"
    status, body = await get(http, sim.url + STREAM, types="bogus", nextPage="x")
    assert status == 400
    start = (FROZEN - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    status, body = await get(http, sim.url + STREAM, dateRangeStartsAt=start, pageSize=10)
    cursor = body["@nextPage"]
    sim.set_faults(siem_stall_cursor=True)
    status, stalled = await get(http, sim.url + STREAM, nextPage=cursor, pageSize=10)
    assert stalled == {"value": [], "@nextPage": cursor, "isCaughtUp": True}
    sim.clear_faults()
    sim.world.clock.advance(24 * 3600)
    session = http[0]
    form = {"client_id": sim.client_id, "client_secret": sim.client_secret, "grant_type": "client_credentials"}
    async with session.post(sim.url + "/oauth/token", data=form) as resp:
        token = (await resp.json())["access_token"]
    status, body = await get((session, {"Authorization": f"Bearer {token}"}), sim.url + STREAM, nextPage=cursor)
    assert status == 400
    assert body["error"]["code"] == "err_next_page_expired"


async def test_stages_of_one_message_share_aggregate_id(sim: RunningSimulator) -> None:
    start, end = FROZEN - timedelta(hours=1), FROZEN
    receipts = {r["aggregateId"] for r in sim.ground_truth("siem-receipt", start - timedelta(minutes=1), end)}
    deliveries = sim.ground_truth("siem-delivery", start, end)
    assert deliveries
    assert all(d["aggregateId"] in receipts for d in deliveries)
    retried = [d for d in deliveries if d["subtype"] == "Retry"]
    assert retried, "some messages are delivered twice (retries)"
    for t in SIEM_TYPES:
        assert sim.ground_truth("siem-" + t.replace(" ", "-"), start, end), t


async def test_slow_downloads_pause_mid_file() -> None:
    config = SimulatorConfig(frozen_at=FROZEN, history=3600, siem_rate=2.0, rates={}, siem_download_delay=0.3)
    async with run_simulator(config) as sim, aiohttp.ClientSession() as session:
        form = {"client_id": sim.client_id, "client_secret": sim.client_secret, "grant_type": "client_credentials"}
        async with session.post(sim.url + "/oauth/token", data=form) as resp:
            token = (await resp.json())["access_token"]
        urls = await list_all((session, {"Authorization": f"Bearer {token}"}), sim, "receipt", "2026-11-25", 50)
        started = asyncio.get_running_loop().time()
        status, payload = await download(session, urls[0])
        assert status == 200
        assert gzip.decompress(payload)
        assert asyncio.get_running_loop().time() - started >= 0.3
