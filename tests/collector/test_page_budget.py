"""The pages a backfill's windows hold at once are bounded together (PageBudget), and come back whatever happens.

Pure scheduling logic with a fake client and router: pages are counted from the moment a window asks
for one until the router returned for it. Without the budget each of ``concurrency`` windows holds
two pages (the one delivered, the one read ahead) and delivers at once with the others - the peak
RSS of a backfill beyond its imports (issue 16).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.collector.backfill.runner import BackfillRunner, default_pages_in_flight
from mimecast_siem.collector.pipeline import GateAbandoned, PageBudget, StreamContext, WindowGate, deliver_log_window
from mimecast_siem.collector.windows import FetchRange, Window
from mimecast_siem.mimecast import Page, Priority
from mimecast_siem.observability.metrics import reset_metrics
from mimecast_siem.streams import CATALOGUE
from tests.collector.helpers import daemon_settings
from tests.collector.test_backfill_scheduling import FakeStore, make_job

PAGES_PER_WINDOW = 3


class Counted:
    """Pages asked for and not yet delivered, deliveries at once: current values and maxima."""

    def __init__(self) -> None:
        self.outstanding = 0
        self.max_outstanding = 0
        self.delivering = 0
        self.max_delivering = 0
        self.delivered = 0


class PagingClient:
    """Every window has ``PAGES_PER_WINDOW`` pages of two ttp-url records timed at the window's start."""

    def __init__(self, counted: Counted, *, fail_at_page: int | None = None) -> None:
        self.counted = counted
        self.fail_at_page = fail_at_page

    async def _walk(self, item: dict[str, Any]) -> AsyncIterator[Page]:
        for number in range(1, PAGES_PER_WINDOW + 1):
            self.counted.outstanding += 1
            self.counted.max_outstanding = max(self.counted.max_outstanding, self.counted.outstanding)
            await asyncio.sleep(0)  # the request
            if number == self.fail_at_page:
                self.counted.outstanding -= 1
                raise ConnectionResetError(f"page {number} failed")
            records = [
                {"date": item["from"], "url": f"https://example.test/{item['from']}/{number}/{n}", "action": "allow"}
                for n in range(2)
            ]
            yield Page(records=records, response=None, number=number)  # type: ignore[arg-type]

    def pages(self, path: str, item: Any = None, page_size: int = 500, record_key: Any = None, **kw: Any) -> Any:
        return self._walk(dict(item or {}))

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("log windows are paged")


class SlowRouter:
    """Takes a few loop turns per delivery (a sink's fsync): pages pile up unless something bounds them."""

    def __init__(self, counted: Counted) -> None:
        self.counted = counted

    async def deliver(self, tenant: str, stream: str, events: Any, **kw: Any) -> Any:
        c = self.counted
        c.delivering += 1
        c.max_delivering = max(c.max_delivering, c.delivering)
        for _ in range(5):
            await asyncio.sleep(0)
        c.delivering -= 1
        c.delivered += 1
        c.outstanding -= 1
        return None


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_job_s_windows_hold_at_most_its_page_budget_and_deliver_two_pages_at_once(
    tmp_path: Path, concurrency: int
) -> None:
    job = make_job(("ttp-url",), windows=24)
    store = FakeStore(job)
    counted = Counted()
    settings = daemon_settings("http://127.0.0.1:9", "id", "secret-value", tmp_path, streams=job.streams)
    run = BackfillRunner(
        job,
        store=store,
        settings=settings,
        client=PagingClient(counted),
        router=SlowRouter(counted),
        owner="me",
        metrics_=reset_metrics(),
        concurrency=concurrency,
    )
    outcome = await asyncio.wait_for(run.run(), timeout=60)
    assert outcome.result == "done"
    assert counted.delivered == 24 * PAGES_PER_WINDOW
    assert run.page_budget.pages == default_pages_in_flight(concurrency) == concurrency + 1
    assert counted.max_outstanding <= concurrency + 1
    assert counted.max_delivering <= min(2, concurrency + 1)
    if concurrency > 1:  # the bound was reached: the windows did run side by side
        assert counted.max_outstanding == concurrency + 1
        assert counted.max_delivering == 2
    assert run.page_budget.held == 0


def _context(tmp_path: Path, client: Any, router: Any, budget: PageBudget | None) -> StreamContext:
    settings = daemon_settings("http://127.0.0.1:9", "id", "secret-value", tmp_path, streams=("ttp-url",))
    tenant = settings.tenant("acme")
    return StreamContext(
        tenant="acme",
        spec=CATALOGUE["ttp-url"],
        settings=settings.stream_settings(tenant, "ttp-url"),
        client=client,
        router=router,
        priority=Priority.BACKFILL,
        mode="backfill",
        metrics_=reset_metrics(),
        page_budget=budget,
    )


def _window() -> tuple[Window, FetchRange]:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    window = Window(start, start + timedelta(minutes=1))
    return window, FetchRange(window.start, window.end)


async def test_a_failed_or_cancelled_window_gives_every_page_back(tmp_path: Path) -> None:
    window, fetch = _window()
    budget = PageBudget(3)
    counted = Counted()
    ctx = _context(tmp_path, PagingClient(counted, fail_at_page=2), SlowRouter(counted), budget)
    with pytest.raises(ConnectionResetError, match="page 2"):
        await deliver_log_window(ctx, window, fetch, seen=None, remember_from=None, clock=lambda: window.end)
    assert budget.held == 0

    class StuckRouter(SlowRouter):
        async def deliver(self, tenant: str, stream: str, events: Any, **kw: Any) -> Any:
            await asyncio.Event().wait()  # a sink that never answers

    ctx = _context(tmp_path, PagingClient(Counted()), StuckRouter(Counted()), budget)
    task = asyncio.create_task(
        deliver_log_window(ctx, window, fetch, seen=None, remember_from=None, clock=lambda: window.end)
    )
    while budget.held < 2:  # the page being delivered and the one read ahead
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert budget.held == 0
    # The budget is whole again: another window gets all three pages.
    counted = Counted()
    ctx = _context(tmp_path, PagingClient(counted), SlowRouter(counted), budget)
    await asyncio.wait_for(
        deliver_log_window(ctx, window, fetch, seen=None, remember_from=None, clock=lambda: window.end), timeout=10
    )
    assert counted.delivered == PAGES_PER_WINDOW
    assert budget.held == 0


async def test_a_gated_window_fetches_one_page_ahead_and_the_rest_once_its_gate_opened(tmp_path: Path) -> None:
    """A catch-up's later windows wait, fetched ahead, for their predecessor's commit: one page each
    (it can deliver at once), not two (the read-ahead held a second decoded page per waiting window)."""
    window, fetch = _window()
    counted = Counted()
    gate = WindowGate()
    ctx = _context(tmp_path, PagingClient(counted), SlowRouter(counted), None)
    task = asyncio.create_task(
        deliver_log_window(ctx, window, fetch, seen=None, remember_from=None, clock=lambda: window.end, gate=gate)
    )
    for _ in range(50):
        await asyncio.sleep(0)
    assert counted.max_outstanding == 1
    assert counted.delivered == 0
    gate.open()
    result = await asyncio.wait_for(task, timeout=10)
    assert counted.delivered == result.pages == PAGES_PER_WINDOW

    gate = WindowGate()
    task = asyncio.create_task(
        deliver_log_window(ctx, window, fetch, seen=None, remember_from=None, clock=lambda: window.end, gate=gate)
    )
    for _ in range(50):
        await asyncio.sleep(0)
    gate.abandon()
    with pytest.raises(GateAbandoned):
        await asyncio.wait_for(task, timeout=10)
