"""The threat-intel feed endpoint: STIX bundles, the next token in a header, versions of indicators."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from mimecast_siem.simulator import RunningSimulator
from mimecast_siem.simulator.config import ThreatFeedSettings
from tests.simulator.conftest import FROZEN
from tests.simulator.helpers import Caller, caller_for

PATH = "/api/ttp/threat-intel/get-feed"
HEADER = "X-Mc-Threat-Feed-Next-Token"
WINDOW = {"start": "2026-11-25T10:00:00+0000", "end": "2026-11-25T11:59:59+0000"}


@pytest.fixture
async def sim(simulator_factory: Callable[..., Awaitable[RunningSimulator]]) -> RunningSimulator:
    feeds = ThreatFeedSettings(
        rates={"threat-intel-customer": 0.05, "threat-intel-grid": 0.2}, update_share=0.3, page_size=40
    )
    return await simulator_factory(frozen_at=FROZEN, history=3 * 3600, threat_feeds=feeds)


@pytest.fixture
async def caller(session: aiohttp.ClientSession, sim: RunningSimulator) -> Caller:
    c = caller_for(session, sim)
    await c.authenticate()
    return c


async def _walk(caller: Caller, feed_type: str) -> tuple[list[dict[str, Any]], int]:
    indicators: list[dict[str, Any]] = []
    item: dict[str, Any] = {**WINDOW, "feedType": feed_type, "fileType": "stix"}
    for pages in range(1, 1000):
        reply = await caller.post(PATH, body={"data": [item]})
        assert reply.status == 200, reply.body
        assert reply.body["type"] == "bundle"
        assert reply.body["id"].startswith("bundle--")
        objects = reply.body["objects"]
        assert any(o["type"] == "identity" for o in objects)
        indicators.extend(o for o in objects if o["type"] == "indicator")
        token = reply.headers.get(HEADER)
        if token is None:
            return indicators, pages
        item = {"feedType": feed_type, "fileType": "stix", "token": token}
    raise AssertionError("the feed never ended")


@pytest.mark.parametrize(("feed_type", "stream"), [("malware_customer", "threat-intel-customer"),
                                                   ("malware_grid", "threat-intel-grid")])  # fmt: skip
async def test_feed_pages_by_header_token_and_matches_ground_truth(
    caller: Caller, sim: RunningSimulator, feed_type: str, stream: str
) -> None:
    indicators, pages = await _walk(caller, feed_type)
    assert pages > 1
    truth = sim.ground_truth(stream, FROZEN.timestamp() - 7200, FROZEN.timestamp())
    assert indicators == truth
    for indicator in indicators:
        assert indicator["spec_version"] == "2.1"
        assert indicator["pattern"].startswith("[file:hashes.")
        assert indicator["created"] <= indicator["modified"]
    assert [i["modified"] for i in indicators] == sorted(i["modified"] for i in indicators)


async def test_grid_feed_republishes_indicators_as_new_versions(caller: Caller) -> None:
    indicators, _ = await _walk(caller, "malware_grid")
    assert any(i["created"] < i["modified"] for i in indicators)
    assert len({(i["id"], i["modified"]) for i in indicators}) == len(indicators)


async def test_feeds_of_two_types_differ(caller: Caller) -> None:
    customer, _ = await _walk(caller, "malware_customer")
    grid, _ = await _walk(caller, "malware_grid")
    assert not {i["id"] for i in customer} & {i["id"] for i in grid}


@pytest.mark.parametrize(
    ("item", "code", "words"),
    [
        ({"fileType": "stix"}, "err_validation_null", "feedType"),
        ({"feedType": "phishing", "fileType": "stix"}, "err_validation_invalid_value", "malware_customer"),
        ({"feedType": "malware_grid", "fileType": "pdf"}, "err_validation_invalid_value", "stix"),
        ({"feedType": "malware_grid", "fileType": "stix", "token": "bogus"}, "err_invalid_page_token", "token"),
    ],
)
async def test_bad_requests_answer_fail(caller: Caller, item: dict[str, Any], code: str, words: str) -> None:
    reply = await caller.post(PATH, body={"data": [item]})
    assert reply.status == 200
    error = reply.body["fail"][0]["errors"][0]
    assert error["code"] == code
    assert words in error["message"]


async def test_token_of_one_feed_type_is_refused_by_the_other(caller: Caller) -> None:
    reply = await caller.post(PATH, body={"data": [{**WINDOW, "feedType": "malware_grid", "fileType": "stix"}]})
    token = reply.headers[HEADER]
    other = await caller.post(
        PATH, body={"data": [{"feedType": "malware_customer", "fileType": "stix", "token": token}]}
    )
    assert other.body["fail"][0]["errors"][0]["code"] == "err_invalid_page_token"
