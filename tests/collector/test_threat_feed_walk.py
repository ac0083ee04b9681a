"""The threat-intel feed walk: multi-page STIX bundles whose token arrives in a header (real client, simulator)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mimecast_siem.collector.threat_feed import (
    FEED_PATH,
    NEXT_TOKEN_HEADER,
    bundle_objects,
    continuation_item,
    feed_pages,
    next_feed_token,
)
from mimecast_siem.errors import ResponseFormatError
from mimecast_siem.mimecast import MimecastClient, PaginationLoopError, RetryPolicy, reset_limiters
from mimecast_siem.simulator import RunningSimulator, SimulatorConfig, run_simulator
from mimecast_siem.simulator.config import ThreatFeedSettings
from tests.mimecast.conftest import CLIENT_ID, CLIENT_SECRET, tenant_for

FROZEN_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FAST_RETRY = RetryPolicy(max_attempts=2, backoff_initial=0.01, backoff_max=0.02, jitter=0.0)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    reset_limiters()
    feeds = ThreatFeedSettings(rates={"threat-intel-customer": 0.05, "threat-intel-grid": 0.3}, page_size=25)
    config = SimulatorConfig(
        seed=5, apps=[(CLIENT_ID, CLIENT_SECRET)], rates={}, history=2 * 3600.0, frozen_at=FROZEN_AT,
        threat_feeds=feeds,
    )  # fmt: skip
    async with run_simulator(config) as running:
        yield running
    reset_limiters()


@pytest.fixture
async def client(sim: RunningSimulator) -> AsyncIterator[MimecastClient]:
    async with MimecastClient(tenant_for(sim.url), retry=FAST_RETRY) as c:
        yield c


def _item(feed_type: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "start": start.strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "end": end.strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "feedType": feed_type,
        "fileType": "stix",
    }


@pytest.mark.parametrize(("feed_type", "stream"), [("malware_grid", "threat-intel-grid"),
                                                   ("malware_customer", "threat-intel-customer")])  # fmt: skip
async def test_multi_page_walk_follows_the_header_token(
    client: MimecastClient, sim: RunningSimulator, feed_type: str, stream: str
) -> None:
    start, end = FROZEN_AT - timedelta(hours=2), FROZEN_AT - timedelta(seconds=1)
    records: list[dict[str, Any]] = []
    numbers = []
    async for page in feed_pages(client, FEED_PATH, _item(feed_type, start, end)):
        records.extend(page.records)
        numbers.append(page.number)
    assert all(r["type"] == "indicator" for r in records)
    # from/to of the feed are inclusive: ground truth of [start, end + 1 s) is what one walk serves.
    assert records == sim.ground_truth(stream, start, end + timedelta(seconds=1))
    if stream == "threat-intel-grid":
        assert len(numbers) > 3
    assert numbers == list(range(1, len(numbers) + 1))
    sent = [r for r in sim.stats().requests if r[0] == FEED_PATH]
    assert sent  # every page went to the feed endpoint


async def test_follow_up_requests_carry_the_token_and_no_window(client: MimecastClient, sim: RunningSimulator) -> None:
    start = FROZEN_AT - timedelta(hours=2)
    pages = [p async for p in feed_pages(client, FEED_PATH, _item("malware_grid", start, FROZEN_AT))]
    assert len(pages) > 1
    for page in pages[:-1]:
        assert next_feed_token(page.response.headers)
    assert next_feed_token(pages[-1].response.headers) is None


def test_continuation_item_drops_the_window_and_adds_the_token() -> None:
    item = {"start": "a", "end": "b", "feedType": "malware_grid", "fileType": "stix"}
    assert continuation_item(item, None) == item
    assert continuation_item(item, "T") == {"feedType": "malware_grid", "fileType": "stix", "token": "T"}


def test_next_token_header_is_case_insensitive_and_blank_means_none() -> None:
    assert next_feed_token({NEXT_TOKEN_HEADER.lower(): " tok "}) == "tok"
    assert next_feed_token({NEXT_TOKEN_HEADER: ""}) is None
    assert next_feed_token({}) is None


@pytest.mark.parametrize("document", [[], "x", {"objects": {"a": 1}}])
def test_a_non_bundle_answer_is_a_format_error(document: Any) -> None:
    with pytest.raises(ResponseFormatError, match="STIX bundle"):
        bundle_objects(FEED_PATH, 200, document)


def test_bundle_without_objects_is_empty() -> None:
    assert bundle_objects(FEED_PATH, 200, {"type": "bundle"}) == []


async def test_a_repeated_header_token_is_a_pagination_loop(
    client: MimecastClient, sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server that keeps answering the same token must not be followed forever.
    from mimecast_siem.collector import threat_feed

    real = threat_feed.next_feed_token
    first: list[str] = []

    def stuck(headers: Any) -> str | None:
        token = real(headers)
        if token is not None and not first:
            first.append(token)
        return first[0] if first else None

    monkeypatch.setattr(threat_feed, "next_feed_token", stuck)
    with pytest.raises(PaginationLoopError):
        async for _page in feed_pages(
            client, FEED_PATH, _item("malware_grid", FROZEN_AT - timedelta(hours=1), FROZEN_AT)
        ):
            pass
