"""A record a normaliser chokes on must be delivered, not dropped, on every path.

Any record whose normaliser raises becomes a fallback event (the original record, tagged
``mimecast_siem_normalise_failed``) so that one unforeseen record can never wedge a stream. Two
regressions are pinned here:

* log streams: the fallback event carries the record's own time (or is tagged time-unparsed), so
  ``split_by_range`` keeps it instead of dropping it as out of range;
* the held-queue and gauge paths use the same guard, so one odd held message cannot fail every
  poll of the stream.

No normaliser raises on any record the hostile-record property tests could build (test_hostile_records);
these tests stand in for the next unforeseen one with a normaliser that raises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from mimecast_siem.collector.pipeline import StreamContext, deliver_held_queue, deliver_log_window
from mimecast_siem.collector.windows import FetchRange, Window
from mimecast_siem.config.models import StreamSettings
from mimecast_siem.events import Event
from mimecast_siem.mimecast import ApiResponse, Page, Priority
from mimecast_siem.observability.metrics import reset_metrics
from mimecast_siem.streams import CATALOGUE, NormaliseContext, StreamSpec

WINDOW = Window(datetime(2026, 11, 25, 10, 0, tzinfo=UTC), datetime(2026, 11, 25, 10, 5, tzinfo=UTC))
POLLED_AT = WINDOW.end + timedelta(minutes=2)  # polls happen after the window's end (lag)


class OnePage:
    """A page source that answers every walk with the same records (no network: pure data path)."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    async def pages(
        self, path: str, item: Mapping[str, Any] | None = None, *args: Any, **kwargs: Any
    ) -> AsyncIterator[Page]:
        yield Page(records=list(self.records), response=ApiResponse(200, {}, []), number=1)

    async def request(self, path: str, data: Sequence[Any] | None = None, *args: Any, **kwargs: Any) -> ApiResponse:
        return ApiResponse(200, {}, [])


class RecordingRouter:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def deliver(self, tenant: str, stream: str, events: Sequence[Event]) -> None:
        self.events.extend(events)


def choking_on(marker: str, spec: StreamSpec) -> StreamSpec:
    """``spec`` whose normaliser raises on records carrying ``marker`` (the next unforeseen shape)."""

    def normalise(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
        if marker in record:
            raise ValueError("unforeseen record shape")
        return spec.normalise(record, ctx)

    return dataclasses.replace(spec, normalise=normalise)


def context(spec: StreamSpec, records: list[dict[str, Any]], router: RecordingRouter) -> StreamContext:
    return StreamContext(
        tenant="acme",
        spec=spec,
        settings=StreamSettings(),
        client=OnePage(records),
        router=router,
        priority=Priority.LIVE,
        metrics_=reset_metrics(),
    )


async def test_a_record_that_normalises_is_delivered_as_a_control() -> None:
    router = RecordingRouter()
    record = {"date": "2026-11-25T10:01:00+0000", "url": "https://ok.example/", "userEmailAddress": "a@b.example"}
    ctx = context(choking_on("odd", CATALOGUE["ttp-url"]), [record], router)
    result = await deliver_log_window(
        ctx, WINDOW, FetchRange(WINDOW.start, WINDOW.end), seen=None, remember_from=None, clock=lambda: POLLED_AT
    )
    assert result.delivered == 1
    assert len(router.events) == 1


async def test_a_record_the_normaliser_chokes_on_is_delivered_not_dropped_as_out_of_range() -> None:
    router = RecordingRouter()
    good = {"date": "2026-11-25T10:01:00+0000", "url": "https://ok.example/", "userEmailAddress": "a@b.example"}
    odd = {"date": "2026-11-25T10:02:00+0000", "url": "https://odd.example/", "odd": True}
    ctx = context(choking_on("odd", CATALOGUE["ttp-url"]), [good, odd], router)
    result = await deliver_log_window(
        ctx, WINDOW, FetchRange(WINDOW.start, WINDOW.end), seen=None, remember_from=None, clock=lambda: POLLED_AT
    )
    assert result.out_of_range == 0
    assert sorted(str(e.raw.get("url")) for e in router.events) == ["https://odd.example/", "https://ok.example/"]


async def test_a_held_message_the_normaliser_chokes_on_does_not_fail_the_poll() -> None:
    router = RecordingRouter()
    held: list[dict[str, Any]] = [
        {"id": "h1", "dateReceived": "2026-11-25T10:01:00+0000", "reason": "Spam"},
        {"id": "h2", "dateReceived": "2026-11-25T10:02:00+0000", "reason": "Spam", "odd": True},
    ]
    ctx = context(choking_on("odd", CATALOGUE["held-messages"]), held, router)
    result = await deliver_held_queue(ctx, {}, now=POLLED_AT)
    assert result.delivered == 2
    assert len(router.events) == 2
