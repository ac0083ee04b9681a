"""Backfill: re-pull a date range through the daemon's own data path, resumable window by window.

A backfill job (state store: ``create_backfill_job``) is a tenant, some log streams and a range
``[since, until)`` cut into windows that are stored as rows, each ``pending`` or ``done``. Running a
job means, for every pending window::

    deliver_log_window(ctx, window, [start, end), seen=None)   # the daemon's path: fetch → normalise
                                                                # → in-window dedupe → route → sinks
    store.mark_window_done(job, stream, start, events)          # only after every sink accepted

and nothing else: the live checkpoints and the live seen-id table are never read or written (the
live stream neither skips nor re-sends anything because of a backfill). Each event belongs to exactly
one window (half-open ranges; the API's inclusive ``to`` second is filtered out), so a completed job
delivers every record once; a crash re-delivers at most the windows that were in flight.

:class:`BackfillRunner` runs one claimed job: up to ``concurrency`` windows at once, interleaved
across the job's streams, oldest first; pending windows are read from the store a page at a time and
events stream through page by page, so memory does not grow with the range. Requests go through the
tenant's client at ``Priority.BACKFILL``: one rate budget per Mimecast app, and live polling in the
same process goes first. The runner holds the job's lease (renewed every ``lease_ttl / 3``); a cancel
(``backfill cancel``) fences that lease, so the runner notices within a renewal and stops after its
in-flight windows.

:class:`~mimecast_siem.collector.backfill.worker.BackfillWorker` (``worker.py``) is the daemon's side: ``mimecast-siem run`` claims queued jobs
(``backfill --queue``, or jobs whose runner died) one at a time and runs them next to the live streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from mimecast_siem.aio import wait_for
from mimecast_siem.checkpoints import (
    BackfillJob,
    BackfillStatus,
    BackfillWindow,
    WindowStatus,
    count_windows,
)
from mimecast_siem.collector.backfill.plan import why_not_backfillable
from mimecast_siem.collector.backfill.progress import JobProgress, NoDisplay, ProgressDisplay
from mimecast_siem.collector.pipeline import (
    EventRouter,
    PageBudget,
    PageSource,
    StreamContext,
    WindowResult,
    deliver_log_window,
)
from mimecast_siem.collector.task import backoff_delay, error_kind
from mimecast_siem.collector.windows import FetchRange, Window
from mimecast_siem.config.models import Settings
from mimecast_siem.errors import ConfigError, PermanentError
from mimecast_siem.events import Event
from mimecast_siem.mimecast import Priority
from mimecast_siem.observability import scrub
from mimecast_siem.observability.metrics import Metrics, metrics
from mimecast_siem.sinks import DeliveryAborted
from mimecast_siem.streams import CATALOGUE
from mimecast_siem.times import utc_now

log = logging.getLogger("mimecast_siem.collector")

#: Attempts at one window before the job fails (each attempt already retries inside the client).
WINDOW_ATTEMPTS = 5
#: Pending windows read from the store per query, per stream.
LISTING_PAGE = 256
#: How often an idle daemon looks for queued jobs (seconds).
QUEUE_POLL_INTERVAL = 5.0

Result = Literal["done", "cancelled", "failed", "interrupted", "lease_lost"]


class WindowFailed(Exception):
    """A window failed every attempt (or failed in a way retrying cannot fix)."""

    def __init__(self, window: BackfillWindow, cause: BaseException) -> None:
        self.window = window
        self.cause = cause
        super().__init__(
            f"{window.stream} window {Window(window.start, window.end)} failed: {type(cause).__name__}: {cause}"
        )


class _WindowAbandoned(Exception):
    """The runner is stopping; the window stays pending."""


def default_pages_in_flight(concurrency: int) -> int:
    """Pages a job's ``concurrency`` windows hold at once by default: one each, plus one read ahead.

    Each window would otherwise hold two (the page it delivers and the one read ahead), and deliver
    them all at once: see :class:`~mimecast_siem.collector.pipeline.PageBudget` (issue 16, peak RSS).
    """
    return concurrency + 1


@dataclass(frozen=True, slots=True)
class BackfillOutcome:
    """How a run of a job ended.

    Attributes:
        job: the job as last seen in the store.
        result: ``done`` (every window delivered), ``cancelled`` (``backfill cancel``), ``failed`` (a
            window kept failing; the job is marked failed), ``interrupted`` (stop requested; the job is
            queued again) or ``lease_lost`` (another runner took the job).
        error: why it failed (no secrets).
    """

    job: BackfillJob
    result: Result
    error: str | None = None


class BackfillStore(Protocol):
    """The state-store calls a runner makes (``checkpoints.StateStore`` satisfies it)."""

    async def get_backfill_job(self, job_id: int) -> BackfillJob: ...

    def iter_backfill_windows(
        self, job_id: int, *, stream: str | None = None, status: WindowStatus | None = None, page_size: int = 500
    ) -> AsyncIterator[BackfillWindow]: ...

    async def mark_window_done(self, job_id: int, stream: str, start: datetime, events: int) -> BackfillJob: ...

    async def renew(self, owner: str, keys: Collection[tuple[str, str]], ttl: timedelta) -> set[tuple[str, str]]: ...

    async def release_backfill_job(self, job_id: int, owner: str) -> BackfillJob: ...

    async def fail_backfill_job(self, job_id: int, error: str) -> BackfillJob: ...


class RecentPagesDedupe:
    """In-window dedupe that remembers the ids of the last ``pages`` pages only (pure; bounded memory).

    A page walk can hand a record out twice only around a page boundary (a repeated boundary record,
    a final page served again); the ids of a few recent pages catch that. Remembering every id of the
    window instead (``WindowDedupe``) costs memory in proportion to the window: a 1 h window of a
    busy tenant holds hundreds of thousands of ids, per window in flight. A record repeated from
    further back would be delivered twice - never lost - and carries the same ``event.id``.

    Args:
        pages: how many recent pages of ids are kept.
    """

    def __init__(self, pages: int = 4) -> None:
        if pages < 1:
            raise ValueError(f"pages must be at least 1; got {pages}")
        self._recent: deque[set[str]] = deque(maxlen=pages)

    def fresh(self, events: Iterable[Event], already_delivered: Iterable[str] = ()) -> tuple[list[Event], int]:
        """Events of one page not seen on this page or the recent ones (nor in ``already_delivered``)."""
        known = set(already_delivered)
        page: set[str] = set()
        out: list[Event] = []
        dropped = 0
        for event in events:
            event_id = event.event_id
            repeated = event_id in page or event_id in known or any(event_id in ids for ids in self._recent)
            # Every id the page carried is remembered, repeats too: a repeat of a repeat is caught.
            page.add(event_id)
            if repeated:
                dropped += 1
                continue
            out.append(event)
        self._recent.append(page)
        return out, dropped

    @property
    def remembered(self) -> int:
        """Ids held now (at most ``pages`` pages' worth)."""
        return sum(len(ids) for ids in self._recent)


class SelectiveRouter(Protocol):
    """What backfill needs of the sinks: deliver, optionally to named sinks only (``sinks.Router``)."""

    async def deliver(
        self, tenant: str, stream: str, events: Sequence[Event], *, only: Collection[str] | None = None
    ) -> Any:
        """Return only when every routed (or named) sink accepted every event."""
        ...


class SinkSelection:
    """The router, narrowed to a job's named sinks (``--sink``); all routed sinks when none are named."""

    def __init__(self, router: SelectiveRouter, only: Collection[str]) -> None:
        self.router = router
        self.only = frozenset(only)

    async def deliver(self, tenant: str, stream: str, events: Sequence[Event]) -> Any:
        """Deliver to the routed sinks (those named, if any); returns when every one accepted."""
        if self.only:
            return await self.router.deliver(tenant, stream, events, only=self.only)
        return await self.router.deliver(tenant, stream, events)


class BackfillRunner:
    """Runs one claimed backfill job until it is done, cancelled, failed or stopped.

    Args:
        job: the job, claimed by ``owner`` (``start_backfill_job`` / ``next_queued_backfill_job``).
        store: the state store.
        settings: the configuration (stream settings of the job's tenant: page size, filters).
        client: the tenant's Mimecast client (its limiter is the app's shared budget).
        router: the sinks router (already narrowed to the job's sinks: :class:`SinkSelection`).
        owner: the lease owner that claimed the job.
        concurrency: windows delivered at once.
        stopping: set to stop gracefully (no new windows; in-flight ones finish and are recorded).
        display: progress display.
        lease_ttl: the job lease's TTL (renewed every third of it).
        clock: wall clock (``event.created``).
        monotonic: monotonic clock (progress rates).
        window_attempts: attempts per window before the job fails.
        backoff_max: longest pause between attempts.
        window_log_level: level of the per-window log line (DEBUG while progress bars are drawn).
        metrics_: metrics to record into.
        rng: jitter source.
        pages_in_flight: pages the job's windows hold at once, together (fetching, or fetched and not
            yet delivered); default :func:`pages_in_flight` of ``concurrency``.
    """

    def __init__(
        self,
        job: BackfillJob,
        *,
        store: BackfillStore,
        settings: Settings,
        client: PageSource,
        router: EventRouter,
        owner: str,
        concurrency: int,
        stopping: asyncio.Event | None = None,
        display: ProgressDisplay | None = None,
        lease_ttl: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        window_attempts: int = WINDOW_ATTEMPTS,
        backoff_max: timedelta = timedelta(seconds=30),
        window_log_level: int = logging.INFO,
        metrics_: Metrics | None = None,
        rng: random.Random | None = None,
        pages_in_flight: int | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1; got {concurrency}")
        self.job = job
        self.store = store
        self.settings = settings
        self.client = client
        self.router = router
        self.owner = owner
        self.concurrency = concurrency
        self.stopping = stopping or asyncio.Event()
        self.display: ProgressDisplay = display or NoDisplay()
        self.lease_ttl = lease_ttl
        self.clock = clock
        self.window_attempts = max(window_attempts, 1)
        self.backoff_max = backoff_max
        self.window_log_level = window_log_level
        self._metrics = metrics_
        self._rng = rng or random.Random()
        self._remaining_counted = 0  # windows this run added to backfill_windows_remaining and not yet taken off
        self.progress = JobProgress(job.id, job.tenant, clock=monotonic)
        self._halt: Result | None = None
        self._error: str | None = None
        self._wake = asyncio.Event()
        self._in_flight: dict[asyncio.Task[WindowResult], BackfillWindow] = {}
        tenant = settings.tenant(job.tenant)
        # Catalogue order (the store keeps names sorted): progress and summary read like the docs.
        self.streams = [name for name in CATALOGUE if name in job.streams] + [
            name for name in job.streams if name not in CATALOGUE
        ]
        # One budget for every window of the job: the pages in memory, not the windows, bound its peak.
        budget = PageBudget(pages_in_flight or default_pages_in_flight(concurrency))
        self.page_budget = budget
        self._contexts = {
            stream: StreamContext(
                tenant=job.tenant,
                spec=CATALOGUE[stream],
                settings=settings.stream_settings(tenant, stream),
                client=client,
                router=router,
                priority=Priority.BACKFILL,
                mode="backfill",
                metrics_=metrics_,
                page_budget=budget,
            )
            for stream in self.streams
            if stream in CATALOGUE
        }

    @property
    def metrics(self) -> Metrics:
        """Metrics in use."""
        return self._metrics or metrics()

    def stop(self) -> None:
        """Graceful stop: no new window starts; in-flight windows finish and are recorded."""
        self.stopping.set()
        self._wake.set()

    def abort(self) -> None:
        """Stop now: in-flight windows are cancelled and stay pending (re-delivered by the next run)."""
        self.stop()
        for task in self._in_flight:
            task.cancel()

    async def run(self) -> BackfillOutcome:
        """Deliver every pending window; return how the run ended (the job's status is updated)."""
        job = self.job
        for stream in self.streams:
            spec = CATALOGUE.get(stream)
            if spec is None or why_not_backfillable(spec) is not None:
                raise ConfigError(f"stream {stream} of backfill job {job.id} cannot be backfilled")
        await self._load_progress()
        log.info(
            "Backfill job %d of tenant %s started: streams %s, [%s, %s), %d of %d windows done, concurrency %d.",
            job.id,
            job.tenant,
            ", ".join(self.streams),
            job.since.isoformat(),
            job.until.isoformat(),
            self.progress.windows_done,
            self.progress.windows_total,
            self.concurrency,
            extra={"job_id": job.id, "tenant": job.tenant, "owner": self.owner},
        )
        self.display.start(self.progress)
        m = self.metrics
        remaining = max(self.progress.windows_total - self.progress.windows_done, 0)
        m.backfill_running.labels(tenant=job.tenant).inc()
        m.backfill_windows_remaining.labels(tenant=job.tenant).inc(remaining)
        self._remaining_counted = remaining
        lease = asyncio.create_task(self._keep_lease(), name=f"backfill-lease:{job.id}")
        windows = self._pending_windows()
        ending = "failed"  # unless the run gets as far as its outcome
        try:
            try:
                await self._deliver_all(windows)
            finally:
                with contextlib.suppress(Exception):
                    await windows.aclose()
                lease.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lease
                await self._cancel_in_flight()
                await self.display.close()
            outcome = await self._finish()
            ending = outcome.result
            return outcome
        finally:
            m.backfill_running.labels(tenant=job.tenant).dec()
            m.backfill_windows_remaining.labels(tenant=job.tenant).dec(self._remaining_counted)
            self._remaining_counted = 0
            m.backfill_runs.labels(tenant=job.tenant, ending=ending).inc()

    # --- the loop -----------------------------------------------------------------------------------

    async def _deliver_all(self, windows: AsyncIterator[BackfillWindow]) -> None:
        exhausted = False
        while True:
            while not exhausted and self._may_start() and len(self._in_flight) < self.concurrency:
                window = await anext(windows, None)
                if window is None:
                    exhausted = True
                    break
                task = asyncio.create_task(self._deliver_window(window), name=f"backfill:{window.stream}")
                self._in_flight[task] = window
            if not self._in_flight:
                return
            self._wake.clear()
            waker: asyncio.Task[Any] = asyncio.create_task(self._wake.wait())
            try:
                await asyncio.wait([*self._in_flight, waker], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waker.cancel()
            for task in [t for t in self._in_flight if t.done()]:
                window = self._in_flight.pop(task)
                await self._settle(task, window)

    def _may_start(self) -> bool:
        return self._halt is None and not self.stopping.is_set()

    async def _settle(self, task: asyncio.Task[WindowResult], window: BackfillWindow) -> None:
        """Record a finished window, or decide what its failure means for the job."""
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            await self._record(window, task.result())
            return
        if isinstance(exc, _WindowAbandoned | DeliveryAborted):
            return
        reason = scrub(str(exc) if isinstance(exc, WindowFailed) else f"{type(exc).__name__}: {exc}")
        if self._halt is None:
            self._halt = "failed"
            self._error = reason
        log.error(
            "Backfill job %d stops: %s. Windows in flight finish; re-run the command to retry.",
            self.job.id,
            reason,
            extra={"job_id": self.job.id, "tenant": self.job.tenant, "stream": window.stream},
        )

    async def _record(self, window: BackfillWindow, result: WindowResult) -> None:
        job = await self.store.mark_window_done(self.job.id, window.stream, window.start, result.delivered)
        self.job = job
        self.progress.window_done(window.stream, result.delivered, result.dead_lettered)
        self.display.update(self.progress)
        m = self.metrics
        m.backfill_windows.labels(tenant=job.tenant, stream=window.stream).inc()
        m.backfill_events.labels(tenant=job.tenant, stream=window.stream).inc(result.delivered)
        if self._remaining_counted > 0:
            self._remaining_counted -= 1
            m.backfill_windows_remaining.labels(tenant=job.tenant).dec()
        m.windows_completed.labels(tenant=job.tenant, stream=window.stream, mode="backfill").inc()
        p = self.progress.streams[window.stream]
        log.log(
            self.window_log_level,
            "Backfill window %s of stream %s for tenant %s delivered %d events in %d pages (job %d: %d/%d windows).",
            Window(window.start, window.end),
            window.stream,
            job.tenant,
            result.delivered,
            result.pages,
            job.id,
            p.windows_done,
            p.windows_total,
            extra={
                "tenant": job.tenant,
                "stream": window.stream,
                "mode": "backfill",
                "job_id": job.id,
                "window_start": window.start.isoformat(),
                "window_end": window.end.isoformat(),
                "pages": result.pages,
                "fetched": result.fetched,
                "events": result.delivered,
                "out_of_range": result.out_of_range,
                "deduplicated": result.deduplicated,
                "dead_lettered": result.dead_lettered,
                "sinks": dict(result.sinks),
                "duration_ms": round(result.duration * 1000),
            },
        )
        if job.status is BackfillStatus.CANCELLED and self._halt is None:
            self._halt = "cancelled"
            log.info(
                "Backfill job %d was cancelled; stopping after the windows in flight.",
                job.id,
                extra={"job_id": job.id, "tenant": job.tenant},
            )

    async def _deliver_window(self, window: BackfillWindow) -> WindowResult:
        """Deliver one window, retrying with backoff; raises :class:`WindowFailed` when it gives up."""
        ctx = self._contexts[window.stream]
        span = Window(window.start, window.end)
        fetch = FetchRange(window.start, window.end)
        in_flight = self.metrics.windows_in_flight.labels(tenant=ctx.tenant, stream=ctx.stream)
        attempt = 0
        while True:
            in_flight.inc()
            try:
                if ctx.spec.kind == "siem":
                    return await self._deliver_siem_window(ctx, window)
                # seen=None: history is re-sent on purpose and the live seen-id table stays untouched.
                return await deliver_log_window(
                    ctx, span, fetch, seen=None, remember_from=None, clock=self.clock, dedupe=RecentPagesDedupe()
                )
            except (asyncio.CancelledError, DeliveryAborted):
                raise
            except Exception as exc:
                attempt += 1
                self.progress.window_failed(window.stream)
                kind = error_kind(exc)
                self.metrics.poll_errors.labels(tenant=ctx.tenant, stream=ctx.stream, kind=kind).inc()
                if attempt >= self.window_attempts or isinstance(exc, ConfigError | PermanentError):
                    raise WindowFailed(window, exc) from exc
                delay = backoff_delay(attempt, exc, self.backoff_max, self._rng.random())
                log.warning(
                    "Backfill window %s of stream %s failed (%s: %s); attempt %d of %d in %.1f s.",
                    span,
                    ctx.stream,
                    type(exc).__name__,
                    exc,
                    attempt + 1,
                    self.window_attempts,
                    delay,
                    extra={"tenant": ctx.tenant, "stream": ctx.stream, "job_id": self.job.id, "error_kind": kind},
                )
            finally:
                in_flight.dec()
            if await self._stopped_within(delay):
                raise _WindowAbandoned

    async def _deliver_siem_window(self, ctx: StreamContext, window: BackfillWindow) -> WindowResult:
        """A SIEM stream's window: the events of ``[start, end)`` from the batch files of its days."""
        # Imported here: only a SIEM stream needs its batch-file machinery (start-up, issue 16).
        from mimecast_siem.collector.siem import dead_letter_unreadable, deliver_siem_range

        options = self.settings.tenant(ctx.tenant).siem
        unreadable = dead_letter_unreadable(getattr(self.router, "router", self.router))
        return await deliver_siem_range(
            ctx,
            window.start,
            window.end,
            api=options.api if options is not None else "cg",
            unreadable=unreadable,
            clock=self.clock,
        )

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            await wait_for(self.stopping.wait(), seconds=max(seconds, 0.0))
        except TimeoutError:
            return False
        return True

    async def _pending_windows(self) -> AsyncGenerator[BackfillWindow, None]:
        """Pending windows, oldest first per stream, streams taken in turn; read a page at a time."""
        pages = {
            stream: self.store.iter_backfill_windows(
                self.job.id, stream=stream, status=WindowStatus.PENDING, page_size=LISTING_PAGE
            )
            for stream in self.streams
        }
        try:
            while pages:
                for stream in list(pages):
                    window = await anext(pages[stream], None)
                    if window is None:
                        del pages[stream]
                        continue
                    yield window
        finally:
            for source in pages.values():
                aclose = getattr(source, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()

    async def _load_progress(self) -> None:
        """Per-stream windows and events already done (streamed from the store; nothing is kept)."""
        job = self.job
        per_stream = count_windows(job.since, job.until, job.window)
        for stream in self.streams:
            done = events = 0
            async for window in self.store.iter_backfill_windows(
                job.id, stream=stream, status=WindowStatus.DONE, page_size=2000
            ):
                done += 1
                events += window.events
            self.progress.add_stream(stream, per_stream, done, events)

    async def _keep_lease(self) -> None:
        """Renew the job's lease; a lease that cannot be renewed means cancelled or taken over."""
        interval = max(self.lease_ttl.total_seconds() / 3.0, 0.1)
        while True:
            await asyncio.sleep(interval)
            try:
                held = await self.store.renew(self.owner, [self.job.lease_key], self.lease_ttl)
            except Exception as exc:  # a state-store hiccup: keep trying while the lease lasts
                log.warning(
                    "Could not renew the lease of backfill job %d (%s); retrying.",
                    self.job.id,
                    type(exc).__name__,
                    extra={"job_id": self.job.id},
                )
                continue
            if self.job.lease_key in held:
                continue
            job = await self.store.get_backfill_job(self.job.id)
            self.job = job
            if self._halt is None:
                self._halt = "cancelled" if job.status is BackfillStatus.CANCELLED else "lease_lost"
            if self._halt == "cancelled":
                log.info(
                    "Backfill job %d was cancelled; stopping after the windows in flight.",
                    job.id,
                    extra={"job_id": job.id, "tenant": job.tenant},
                )
            elif self._halt == "lease_lost":
                log.warning(
                    "Backfill job %d is now run by %s; this runner stops after its windows in flight.",
                    job.id,
                    job.owner or "another runner",
                    extra={"job_id": job.id, "tenant": job.tenant},
                )
            self._wake.set()
            return

    async def _cancel_in_flight(self) -> None:
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._in_flight.clear()

    async def _finish(self) -> BackfillOutcome:
        job = self.job
        if self._halt == "failed":
            job = await self.store.fail_backfill_job(job.id, self._error or "a window failed")
            return BackfillOutcome(job, "failed", self._error)
        if self._halt in ("cancelled", "lease_lost"):
            return BackfillOutcome(await self.store.get_backfill_job(job.id), self._halt)
        job = await self.store.get_backfill_job(job.id)
        if job.status is BackfillStatus.DONE:
            return BackfillOutcome(job, "done")
        if job.status is BackfillStatus.CANCELLED:
            return BackfillOutcome(job, "cancelled")
        if job.windows_done >= job.windows_total:
            return BackfillOutcome(job, "done")
        # Stopped before the end: put the job back in the queue (its done windows stay done).
        job = await self.store.release_backfill_job(job.id, self.owner)
        return BackfillOutcome(job, "interrupted")
