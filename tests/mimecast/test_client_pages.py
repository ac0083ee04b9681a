"""Pagination walks against the simulator: ground truth, frozen filters, quirk 6, repeated tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from mimecast_siem.errors import PermanentError
from mimecast_siem.mimecast import MimecastClient, PaginationLoopError, Priority, format_mimecast_time
from mimecast_siem.simulator import RunningSimulator
from tests.mimecast.conftest import FROZEN_AT

URL_LOGS = "/api/ttp/url/get-logs"
START = FROZEN_AT - timedelta(minutes=10)
END = FROZEN_AT - timedelta(minutes=1)


def url_item() -> dict[str, Any]:
    return {"from": format_mimecast_time(START), "to": format_mimecast_time(END), "oldestFirst": True}


def canonical(records: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records)


def truth(sim: RunningSimulator) -> list[dict[str, Any]]:
    # The API's "to" is inclusive at whole seconds; ground truth takes [start, end).
    return sim.ground_truth("ttp-url", START, END + timedelta(seconds=1))


async def walk(client: MimecastClient, item: dict[str, Any], page_size: int = 50) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    async for page in client.pages(URL_LOGS, item=item, page_size=page_size, record_key="clickLogs"):
        records.extend(page.records)
    return records


async def test_walk_returns_exactly_the_ground_truth(sim: RunningSimulator, client: MimecastClient) -> None:
    expected = truth(sim)
    assert len(expected) > 200  # several pages at 50 per page
    numbers: list[int] = []
    records: list[dict[str, Any]] = []
    async for page in client.pages(URL_LOGS, item=url_item(), page_size=50, record_key="clickLogs"):
        numbers.append(page.number)
        records.extend(page.records)
        assert page.response.status == 200
    assert canonical(records) == canonical(expected)
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) == -(-len(expected) // 50)
    assert sim.stats().count(path=URL_LOGS) == len(numbers)


async def test_filters_are_frozen_even_if_the_caller_mutates_its_dict(
    sim: RunningSimulator, client: MimecastClient
) -> None:
    """The simulator binds page tokens to the filters: a changed filter would be refused."""
    item = url_item()
    records: list[dict[str, Any]] = []
    async for page in client.pages(URL_LOGS, item=item, page_size=50, record_key="clickLogs"):
        records.extend(page.records)
        item["from"] = "2020-01-01T00:00:00+0000"
        item["route"] = "inbound"
    assert canonical(records) == canonical(truth(sim))


async def test_next_on_the_final_empty_page_stops_the_walk(sim: RunningSimulator, client: MimecastClient) -> None:
    """Quirk 6 (Elastic mock): the last page carries next; following it gives an empty page with next again."""
    sim.set_faults(next_on_last_page=True)
    expected = truth(sim)
    records = await walk(client, url_item())
    assert canonical(records) == canonical(expected)
    full_pages = -(-len(expected) // 50)
    # Exactly one extra request for the empty page, then the walk stops (no endless loop).
    assert sim.stats().count(path=URL_LOGS) == full_pages + 1


async def test_a_repeated_page_token_raises_instead_of_looping(sim: RunningSimulator, client: MimecastClient) -> None:
    sim.set_faults(repeat_page_token=True)
    with pytest.raises(PaginationLoopError) as info:
        await walk(client, url_item())
    assert isinstance(info.value, PermanentError)
    assert URL_LOGS in str(info.value)
    assert sim.stats().count(path=URL_LOGS) == 2


async def test_a_token_never_leaks_into_the_next_walk(sim: RunningSimulator, client: MimecastClient) -> None:
    """Two walks back to back (Elastic PR #12770): the second starts at page 1, not where the first stopped."""
    first: list[dict[str, Any]] = []
    async for page in client.pages(URL_LOGS, item=url_item(), page_size=50, record_key="clickLogs"):
        first.extend(page.records)
        break  # abandon the walk after one page
    second = await walk(client, url_item())
    assert first == second[: len(first)]
    assert canonical(second) == canonical(truth(sim))


async def test_interleaved_walks_keep_their_own_tokens(sim: RunningSimulator, client: MimecastClient) -> None:
    walks = [client.pages(URL_LOGS, item=url_item(), page_size=40, record_key="clickLogs") for _ in range(3)]
    results: list[list[dict[str, Any]]] = [[] for _ in walks]
    active = set(range(len(walks)))
    while active:
        for i in sorted(active):
            try:
                page = await anext(walks[i])
            except StopAsyncIteration:
                active.discard(i)
                continue
            results[i].extend(page.records)
    expected = canonical(truth(sim))
    assert all(canonical(r) == expected for r in results)


async def test_flat_data_records_and_backfill_priority(sim: RunningSimulator, client: MimecastClient) -> None:
    item = {"startDateTime": format_mimecast_time(START), "endDateTime": format_mimecast_time(END)}
    records: list[dict[str, Any]] = []
    async for page in client.pages(
        "/api/audit/get-audit-events", item=item, page_size=10, record_key=None, priority=Priority.BACKFILL
    ):
        records.extend(page.records)
    expected = sim.ground_truth("audit", START, END + timedelta(seconds=1))
    assert expected
    assert canonical(records) == canonical(expected)


async def test_200_with_fail_is_a_permanent_error_and_not_retried(
    sim: RunningSimulator, client: MimecastClient
) -> None:
    """Quirk 1: audit events without dates answer 200 with fail[] err_validation_null."""
    with pytest.raises(PermanentError) as info:
        async for _ in client.pages("/api/audit/get-audit-events", item={}, page_size=10):
            pass
    error = info.value
    assert error.status == 200
    assert error.endpoint == "/api/audit/get-audit-events"
    assert [f.code for f in error.failures] == ["err_validation_null"]
    assert "err_validation_null" in str(error)
    assert "acme" in str(error)
    assert sim.stats().count(path="/api/audit/get-audit-events") == 1


@pytest.mark.parametrize("page_size", [0, 501])
async def test_page_size_is_bounded(client: MimecastClient, page_size: int) -> None:
    with pytest.raises(ValueError, match="page_size"):
        await walk(client, url_item(), page_size=page_size)
