"""The client's SIEM calls against the simulator: batch listing, pre-signed downloads, the event stream."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from mimecast_siem.errors import ApiError
from mimecast_siem.mimecast import (
    MimecastClient,
    PresignedUrlGone,
    Priority,
    list_batch_files,
    siem_stream_time,
    stream_events,
)
from mimecast_siem.simulator import RunningSimulator
from tests.mimecast.conftest import FROZEN_AT

DAY = date(2026, 11, 25)


def test_stream_time_has_milliseconds_and_z() -> None:
    assert siem_stream_time(FROZEN_AT + timedelta(microseconds=123456)) == "2026-11-25T12:00:00.123Z"


async def test_batch_listing_and_presigned_download(client: MimecastClient, sim: RunningSimulator) -> None:
    page = await list_batch_files(client, api="cg", siem_type="receipt", first=DAY, last=DAY, page_size=2,
                                  next_page=None, priority=Priority.LIVE)  # fmt: skip
    assert len(page.urls) == 2
    assert page.next_page
    assert page.caught_up is False
    async with client.open_presigned(page.urls[0]) as body:
        data = b"".join([chunk async for chunk in body.iter_chunked(1024)])
    assert gzip.decompress(data)
    rest = await list_batch_files(client, api="cg", siem_type="receipt", first=DAY, last=DAY, page_size=100,
                                  next_page=page.next_page, priority=Priority.LIVE)  # fmt: skip
    assert rest.caught_up is True
    assert not set(rest.urls) & set(page.urls)
    sim.world.clock.advance(sim.config.siem_url_ttl + 1)
    with pytest.raises(PresignedUrlGone, match="expired or removed"):
        async with client.open_presigned(page.urls[1]) as body:
            await body.read()


async def test_presigned_refuses_foreign_schemes(client: MimecastClient) -> None:
    with pytest.raises(ApiError, match="not https"):
        async with client.open_presigned("ftp://example.com/x"):
            pass


async def test_stream_cursor_and_error_body(client: MimecastClient) -> None:
    start = FROZEN_AT - timedelta(minutes=20)
    page = await stream_events(client, types=["receipt"], start=start, end=None, page_size=50, next_page=None,
                               priority=Priority.LIVE)  # fmt: skip
    assert page.records
    assert all(r["type"] == "receipt" for r in page.records)
    assert page.next_page
    nxt = await stream_events(client, types=["receipt"], start=None, end=None, page_size=50,
                              next_page=page.next_page, priority=Priority.LIVE)  # fmt: skip
    assert {r["_offset"] for r in nxt.records}.isdisjoint({r["_offset"] for r in page.records})
    with pytest.raises(ApiError, match="24 hours"):
        await stream_events(client, types=["receipt"], start=FROZEN_AT - timedelta(hours=30), end=None,
                            page_size=50, next_page=None, priority=Priority.LIVE)  # fmt: skip


def test_siem_times_at_calendar_edges() -> None:
    from mimecast_siem.mimecast.siem import siem_day, siem_stream_time

    # Milliseconds truncated, never rounded into the next second, day or year; other offsets converted.
    assert siem_stream_time(datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == "2026-12-31T23:59:59.999Z"
    east = datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert siem_stream_time(east) == "2026-12-31T23:30:00.000Z"
    assert siem_day(date(2028, 2, 29)) == "2028-02-29"
