"""Scheduling rules of the backfill runner, with a fake store and client (pure logic, no I/O).

* windows are pulled from the store lazily: never more than ``concurrency`` ahead of those recorded,
  so a job of any length costs the same memory;
* streams are interleaved, each oldest first;
* a failing attempt is retried; a cancel seen at lease renewal stops the run; ``abort`` leaves the
  windows in flight pending and queues the job again.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Collection, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mimecast_siem.checkpoints import BackfillJob, BackfillStatus, BackfillWindow, WindowStatus, split_range
from mimecast_siem.collector.backfill import BackfillRunner
from mimecast_siem.errors import TransientError
from mimecast_siem.mimecast import Page, Priority
from mimecast_siem.observability.metrics import reset_metrics
from tests.collector.helpers import daemon_settings

SINCE = datetime(2026, 10, 1, tzinfo=UTC)


def make_job(streams: tuple[str, ...], windows: int, window: timedelta = timedelta(minutes=1)) -> BackfillJob:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    return BackfillJob(
        id=1,
        key="k",
        tenant="acme",
        streams=streams,
        since=SINCE,
        until=SINCE + windows * window,
        window=window,
        sinks=(),
        status=BackfillStatus.RUNNING,
        owner="me",
        created_at=now,
        updated_at=now,
        windows_total=windows * len(streams),
        windows_done=0,
        events=0,
    )


class FakeStore:
    """Windows generated on demand; counts how many were pulled and recorded."""

    def __init__(self, job: BackfillJob) -> None:
        self.job = job
        self.pulled = 0
        self.recorded: list[tuple[str, datetime]] = []
        self.max_ahead = 0
        self.renewals: set[tuple[str, str]] | None = None  # None = always renewed
        self.released = False
        self.failed: str | None = None

    async def get_backfill_job(self, job_id: int) -> BackfillJob:
        return self.job

    def iter_backfill_windows(
        self, job_id: int, *, stream: str | None = None, status: WindowStatus | None = None, page_size: int = 500
    ) -> AsyncIterator[BackfillWindow]:
        return self._windows(stream, status)

    async def _windows(self, stream: str | None, status: WindowStatus | None) -> AsyncIterator[BackfillWindow]:
        if status is not WindowStatus.PENDING:
            return
        for start, end in split_range(self.job.since, self.job.until, self.job.window):
            if (stream, start) in self.recorded:
                continue
            self.pulled += 1
            yield BackfillWindow(1, stream or "", start, end, WindowStatus.PENDING, 0, start)

    async def mark_window_done(self, job_id: int, stream: str, start: datetime, events: int) -> BackfillJob:
        self.recorded.append((stream, start))
        self.max_ahead = max(self.max_ahead, self.pulled - len(self.recorded))
        done = self.job.windows_done + 1
        status = BackfillStatus.DONE if done >= self.job.windows_total else self.job.status
        self.job = replace(self.job, windows_done=done, events=self.job.events + events, status=status)
        return self.job

    async def renew(self, owner: str, keys: Collection[tuple[str, str]], ttl: timedelta) -> set[tuple[str, str]]:
        return set(keys) if self.renewals is None else self.renewals

    async def release_backfill_job(self, job_id: int, owner: str) -> BackfillJob:
        self.released = True
        self.job = replace(self.job, status=BackfillStatus.QUEUED, owner=None)
        return self.job

    async def fail_backfill_job(self, job_id: int, error: str) -> BackfillJob:
        self.failed = error
        self.job = replace(self.job, status=BackfillStatus.FAILED, error=error)
        return self.job


class FakeClient:
    """Answers every window with no records, after ``delay``; the first ``failures`` calls fail."""

    def __init__(self, delay: float = 0.0, failures: int = 0) -> None:
        self.delay = delay
        self.failures = failures
        self.calls: list[dict[str, Any]] = []

    async def _walk(self, item: Any, priority: Priority) -> AsyncIterator[Page]:
        self.calls.append({"item": dict(item or {}), "priority": priority})
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures > 0:
            self.failures -= 1
            raise TransientError("the API is having a bad minute", endpoint="/api/test", status=503)
        return
        yield  # an async generator that yields nothing

    def pages(self, path: str, item: Any = None, page_size: int = 500, record_key: Any = None, **kw: Any) -> Any:
        return self._walk(item, kw.get("priority", Priority.LIVE))

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a log stream backfill never makes unpaged requests")


class NoRouter:
    async def deliver(self, tenant: str, stream: str, events: Any) -> Any:
        raise AssertionError("nothing to deliver: the fake client returns no records")


def runner(tmp_path: Path, job: BackfillJob, store: FakeStore, client: FakeClient, **kwargs: Any) -> BackfillRunner:
    settings = daemon_settings("http://127.0.0.1:9", "id", "secret-value", tmp_path, streams=job.streams)
    return BackfillRunner(
        job,
        store=store,
        settings=settings,
        client=client,
        router=NoRouter(),
        owner="me",
        metrics_=reset_metrics(),
        backoff_max=timedelta(seconds=1),
        **kwargs,
    )


async def test_windows_are_pulled_lazily_never_more_than_concurrency_ahead(tmp_path: Path) -> None:
    job = make_job(("ttp-url", "audit"), windows=3000)
    store = FakeStore(job)
    client = FakeClient()
    outcome = await asyncio.wait_for(runner(tmp_path, job, store, client, concurrency=4).run(), timeout=60)
    assert outcome.result == "done"
    assert len(store.recorded) == 6000
    assert store.max_ahead <= 4
    assert all(call["priority"] is Priority.BACKFILL for call in client.calls)


def _in_order(seq: list[datetime]) -> Iterator[bool]:
    return (a < b for a, b in itertools.pairwise(seq))


async def test_streams_are_interleaved_each_oldest_first(tmp_path: Path) -> None:
    job = make_job(("ttp-url", "ttp-attachment", "audit"), windows=20)
    store = FakeStore(job)
    await asyncio.wait_for(runner(tmp_path, job, store, FakeClient(), concurrency=1).run(), timeout=30)
    first_three = {stream for stream, _ in store.recorded[:3]}
    assert first_three == {"ttp-url", "ttp-attachment", "audit"}
    for stream in job.streams:
        starts = [start for s, start in store.recorded if s == stream]
        assert len(starts) == 20
        assert all(_in_order(starts))


async def test_a_failed_attempt_is_retried_and_counted(tmp_path: Path) -> None:
    job = make_job(("ttp-url",), windows=3)
    store = FakeStore(job)
    client = FakeClient(failures=2)
    run = runner(tmp_path, job, store, client, concurrency=1)
    outcome = await asyncio.wait_for(run.run(), timeout=30)
    assert outcome.result == "done"
    assert run.progress.streams["ttp-url"].failures == 2
    assert len(store.recorded) == 3
    # The retried window asked for exactly the same range: filters stay frozen per window.
    assert client.calls[0]["item"] == client.calls[1]["item"] == client.calls[2]["item"]


async def test_a_window_failing_every_attempt_fails_the_job(tmp_path: Path) -> None:
    job = make_job(("ttp-url",), windows=3)
    store = FakeStore(job)
    outcome = await asyncio.wait_for(
        runner(tmp_path, job, store, FakeClient(failures=100), concurrency=1, window_attempts=2).run(), timeout=30
    )
    assert outcome.result == "failed"
    assert store.failed is not None
    assert "TransientError" in store.failed
    assert "ttp-url window [2026-10-01T00:00:00Z, 2026-10-01T00:01:00Z)" in store.failed
    assert store.recorded == []


async def test_a_cancel_seen_at_lease_renewal_stops_the_run(tmp_path: Path) -> None:
    job = make_job(("ttp-url",), windows=200)
    store = FakeStore(job)
    run = runner(tmp_path, job, store, FakeClient(delay=0.05), concurrency=2, lease_ttl=timedelta(seconds=0.3))
    task = asyncio.create_task(run.run())
    while len(store.recorded) < 4:
        await asyncio.sleep(0.01)
    # `backfill cancel` fences the job's lease: the runner's next renewal fails.
    store.job = replace(store.job, status=BackfillStatus.CANCELLED)
    store.renewals = set()
    outcome = await asyncio.wait_for(task, timeout=30)
    assert outcome.result == "cancelled"
    assert len(store.recorded) < 200
    assert not store.released


async def test_abort_leaves_the_windows_in_flight_pending_and_queues_the_job(tmp_path: Path) -> None:
    job = make_job(("ttp-url",), windows=50)
    store = FakeStore(job)
    run = runner(tmp_path, job, store, FakeClient(delay=0.2), concurrency=3)
    task = asyncio.create_task(run.run())
    while len(store.recorded) < 3:
        await asyncio.sleep(0.01)
    recorded = len(store.recorded)
    run.abort()
    outcome = await asyncio.wait_for(task, timeout=30)
    assert outcome.result == "interrupted"
    assert store.released
    # Windows in flight were cancelled, not recorded (they are re-delivered by the next run).
    assert len(store.recorded) == recorded
    assert store.pulled - len(store.recorded) <= 3


async def test_stop_lets_the_windows_in_flight_finish(tmp_path: Path) -> None:
    job = make_job(("ttp-url",), windows=50)
    store = FakeStore(job)
    run = runner(tmp_path, job, store, FakeClient(delay=0.2), concurrency=3)
    task = asyncio.create_task(run.run())
    while store.pulled < 3:
        await asyncio.sleep(0.01)
    run.stop()
    outcome = await asyncio.wait_for(task, timeout=30)
    assert outcome.result == "interrupted"
    assert store.pulled == len(store.recorded) == 3
