"""A gated window reads ahead while it waits (held_at_gate): as far as its gate allows, within the
catch-up's ParkingLot, parked in a compact form, and hands the pages over in order once it opens.

Pure scheduling logic: the page source is a counting async generator (no network), so the tests can
tell exactly how many pages were asked for at each moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mimecast_siem.collector.pipeline import GateAbandoned, Parked, ParkingLot, WindowGate, held_at_gate, park, unpark
from mimecast_siem.mimecast import ApiResponse, Page


class Source:
    """``pages`` numbered pages; counts how many were asked for."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.asked = 0
        self.closed = False

    async def walk(self) -> AsyncIterator[int]:
        try:
            for number in range(1, self.pages + 1):
                self.asked += 1
                await asyncio.sleep(0)  # the request
                yield number
        finally:
            self.closed = True


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def test_a_waiting_window_reads_ahead_as_far_as_its_gate_allows_and_hands_over_in_order() -> None:
    source = Source(10)
    gate = WindowGate(3)
    pages = held_at_gate(source.walk(), gate)
    first = asyncio.ensure_future(anext(pages))
    await settle()
    assert source.asked == 3  # three parked, nothing handed over
    assert not first.done()
    gate.allow(5)
    await settle()
    assert source.asked == 5
    gate.allow(2)  # never lowered
    assert gate.ahead == 5
    gate.open()
    assert await first == 1
    rest = [page async for page in pages]
    assert rest == list(range(2, 11))
    assert source.closed


async def test_the_windows_of_a_catch_up_park_at_most_their_lot_together_and_get_its_slots_back() -> None:
    lot = ParkingLot(4)
    near, far = Source(10), Source(10)
    near_gate, far_gate = WindowGate(10, lot), WindowGate(10, lot)
    near_pages, far_pages = held_at_gate(near.walk(), near_gate), held_at_gate(far.walk(), far_gate)
    near_first = asyncio.ensure_future(anext(near_pages))
    far_first = asyncio.ensure_future(anext(far_pages))
    await settle()
    assert near.asked + far.asked == 4
    assert lot.free == 0
    # The near window's predecessor committed: it delivers its parked pages, and each one handed over
    # frees a slot for the far window, which is still waiting.
    near_gate.open()
    assert await near_first == 1
    handed = [await anext(near_pages) for _ in range(9)]
    assert handed == list(range(2, 11))
    await settle()
    assert far.asked == 4  # it took every slot the near window gave back
    far_gate.abandon()
    with pytest.raises(GateAbandoned):
        await far_first
    await settle()
    assert lot.free == 4  # the abandoned window's parked pages gave their slots back
    assert far.closed


async def test_an_abandoned_gate_ends_a_window_that_parked_pages_without_handing_any_over() -> None:
    source = Source(5)
    lot = ParkingLot(2)
    gate = WindowGate(5, lot)
    pages = held_at_gate(source.walk(), gate)
    first = asyncio.ensure_future(anext(pages))
    await settle()
    assert source.asked == 2
    gate.abandon()
    with pytest.raises(GateAbandoned):
        await first
    assert lot.free == 2


async def test_a_short_walk_ends_while_waiting_and_is_handed_over_whole() -> None:
    source = Source(2)
    lot = ParkingLot(8)
    gate = WindowGate(8, lot)
    pages = held_at_gate(source.walk(), gate)
    first = asyncio.ensure_future(anext(pages))
    await settle()
    assert source.asked == 2
    assert lot.free == 6  # the end of the walk took no slot
    gate.open()
    assert [await first, *[page async for page in pages]] == [1, 2]
    assert lot.free == 8


def test_a_parked_page_gives_equal_records_back_and_does_not_keep_them_decoded() -> None:
    records: list[dict[str, Any]] = [
        {
            "date": "2026-12-07T18:34:05+0000",
            "url": "https://example.test/\u00e9\U0001f600?q=1",
            "big": 2**70,
            "float": 0.1,
            "none": None,
            "flags": [True, False],
            "nested": {"a": [{"b": {"c": "deep"}}]},
            "": "empty key",
        },
        {},
    ]
    response = ApiResponse(status=200, meta={"pagination": {"next": "t2"}}, data=[{"clickLogs": records}], body={})
    page = Page(records=records, response=response, number=3)
    parked = park(page)
    assert isinstance(parked, Parked)
    assert parked.response.data == []
    assert parked.response.meta == response.meta
    again = unpark(parked)
    assert isinstance(again, Page)
    assert again.records == records
    assert again.records is not records
    assert again.number == 3
    assert again.response.next_page_token == "t2"
    assert park(7) == 7  # anything that is not a Page is kept as it is
    assert unpark(7) == 7
