"""One (tenant, stream) polled forever under a lease: plan → fetch/deliver → commit, with backoff.

The checkpoint moves only after every routed sink accepted every event of a window, and only over
the contiguous prefix of delivered windows: windows of a catch-up batch are fetched concurrently,
but window *k* is committed only after windows *1..k-1* are. If one fails, the later ones are
cancelled and the batch is retried from the failed window's start.

Errors never end the task: a failing poll backs off (exponential with jitter, capped by
``daemon.stream_backoff_max``; a 429 waits at least its ``retry_after``) and tries again. Only a lost
lease (another replica now owns the stream) or shutdown ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mimecast_siem.aio import wait_for
from mimecast_siem.backoff import Backoff
from mimecast_siem.checkpoints import LeaseLost
from mimecast_siem.collector.late_audit import KnownIds, LateArrivalTracker
from mimecast_siem.collector.pipeline import (
    CheckpointStore,
    EventRouter,
    PageDone,
    PageSource,
    ParkingLot,
    StreamContext,
    WindowGate,
    WindowResult,
    deliver_gauge_sample,
    deliver_held_queue,
    deliver_log_window,
    gauge_fetch_range,
)
from mimecast_siem.collector.windows import (
    FetchRange,
    Window,
    caught_up,
    clamp_to_history,
    coverage_after,
    fetch_range,
    floor_to_second,
    plan_walks,
    plan_windows,
)
from mimecast_siem.config.models import SiemSettings
from mimecast_siem.errors import AuthError, ConfigError, PermanentError, RateLimited, TransientError
from mimecast_siem.mimecast import ApiResponse, Page
from mimecast_siem.sinks import DeliveryAborted
from mimecast_siem.times import format_duration, format_utc, utc_now

if TYPE_CHECKING:  # SIEM streams' machinery is imported when a SIEM stream first polls (start-up, issue 16)
    from mimecast_siem.collector.siem import SiemPoller

log = logging.getLogger("mimecast_siem.collector")


@dataclass(frozen=True, slots=True)
class LeaseTerm:
    """Who commits, and the fencing epoch of the lease it holds (``None`` = no fencing)."""

    owner: str
    epoch: int | None = None


def error_kind(exc: BaseException) -> str:
    """Bounded label for ``poll_errors_total`` from the error's class alone (errors.py)."""
    if isinstance(exc, LeaseLost):
        return "lease_lost"
    if isinstance(exc, AuthError):
        return "auth"
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, TransientError):
        return "transient"
    if isinstance(exc, PermanentError):
        return "permanent"
    if isinstance(exc, ConfigError):
        return "config"
    if isinstance(exc, DeliveryAborted):
        return "delivery_aborted"
    if isinstance(exc, OSError | TimeoutError):
        return "transient"
    return "internal"


def backoff_delay(failures: int, exc: BaseException, cap: timedelta, rand: float) -> float:
    """Seconds to pause after ``failures`` consecutive failed polls (pure).

    The one backoff rule (``mimecast_siem/backoff.py``): from 1 s, doubled per failure, capped at
    ``cap``, with jitter in ``[50%, 100%]`` so replicas and streams do not retry in lock-step (quirk 8). A rate limit waits at least its
    ``retry_after`` (still capped).
    """
    cap_s = max(cap.total_seconds(), 1.0)
    delay = Backoff(initial=1.0, maximum=cap_s, jitter=0.5).delay(max(failures, 1), rand)
    if isinstance(exc, RateLimited):
        delay = max(delay, float(exc.retry_after))
    return min(delay, cap_s)


class StreamTask:
    """Polls one (tenant, stream) while this instance holds its lease.

    Args:
        ctx: the stream context (client, router, settings).
        store: the state store.
        lease: owner id and fencing epoch used for every commit.
        stopping: set on shutdown; no new window starts once it is set.
        backoff_max: longest pause of a failing stream.
        clock: the current time (UTC-aware).
        confirm_after: held-queue polls an id must be missing before it counts as left.
    """

    def __init__(
        self,
        ctx: StreamContext,
        store: CheckpointStore,
        lease: LeaseTerm,
        *,
        stopping: asyncio.Event,
        backoff_max: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = utc_now,
        confirm_after: int = 1,
        rng: random.Random | None = None,
        heartbeat: Callable[[], None] | None = None,
        siem: SiemSettings | None = None,
    ) -> None:
        self._heartbeat = heartbeat
        if heartbeat is not None:
            # Every page fetched and every delivery accepted shows the loop is turning (liveness).
            ctx = dataclasses.replace(
                ctx, client=_BeatingPageSource(ctx.client, heartbeat), router=_BeatingRouter(ctx.router, heartbeat)
            )
        self.ctx = ctx
        self.store = store
        self.lease = lease
        self.stopping = stopping
        self.backoff_max = backoff_max
        self.clock = clock
        self.confirm_after = confirm_after
        self._rng = rng or random.Random()
        self._snapshot: dict[str, dict[str, Any]] | None = None
        # Records before _covered_until are known complete (windows.coverage_after), as worked out
        # when the checkpoint was _covered_at; in memory only, so a restart re-reads the full overlap.
        self._covered_until: datetime | None = None
        self._covered_at: datetime | None = None
        self._records_per_second: float | None = None
        self._gauge_labels: set[str] = set()
        #: The window being delivered now (the first of a concurrent batch), for shutdown logs.
        self.current_window: Window | None = None
        every = ctx.settings.late_audit_every
        self.late = LateArrivalTracker(every) if every is not None and ctx.spec.kind == "log" else None
        self.failures = 0
        self.last_error: str | None = None
        self._siem_settings = siem
        self._siem: SiemPoller | None = None

    @property
    def key(self) -> tuple[str, str]:
        """``(tenant, stream)``."""
        return (self.ctx.tenant, self.ctx.stream)

    async def run(self) -> str:
        """Poll until shutdown or a lost lease; return why it ended (``stopped`` | ``lease_lost``)."""
        ctx = self.ctx
        while not self.stopping.is_set():
            self._beat()
            try:
                idle = await self.poll_once()
            except LeaseLost:
                if self.stopping.is_set():
                    # Not another instance: this one is shutting down and could not keep the lease.
                    log.warning(
                        "Window %s of stream %s of tenant %s was abandoned at shutdown: its lease was no longer "
                        "held when it was to be committed. It stays uncommitted and is re-read from the "
                        "checkpoint on the next start.",
                        self.current_window if self.current_window is not None else "(none)",
                        ctx.stream,
                        ctx.tenant,
                        extra={"tenant": ctx.tenant, "stream": ctx.stream, "abandoned": True},
                    )
                else:
                    log.warning(
                        "Lease of stream %s of tenant %s was lost; another instance polls it now.",
                        ctx.stream,
                        ctx.tenant,
                        extra={"tenant": ctx.tenant, "stream": ctx.stream},
                    )
                ctx.metrics.poll_errors.labels(tenant=ctx.tenant, stream=ctx.stream, kind="lease_lost").inc()
                return "lease_lost"
            except DeliveryAborted:
                # Shutdown interrupted a delivery that was being retried; nothing was committed.
                return "stopped"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                kind = error_kind(exc)
                self.last_error = f"{type(exc).__name__}: {exc}"
                ctx.metrics.poll_errors.labels(tenant=ctx.tenant, stream=ctx.stream, kind=kind).inc()
                delay = backoff_delay(self.failures, exc, self.backoff_max, self._rng.random())
                log.warning(
                    "Poll of stream %s of tenant %s failed (%s: %s); retrying in %.1f s.",
                    ctx.stream,
                    ctx.tenant,
                    type(exc).__name__,
                    exc,
                    delay,
                    extra={"tenant": ctx.tenant, "stream": ctx.stream, "error_kind": kind, "failures": self.failures},
                    # The traceback only at DEBUG: at INFO the sentence names the error class and message.
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
                await self._pause(delay)
                continue
            self.failures = 0
            self.last_error = None
            if idle:
                await self._pause(ctx.settings.poll_interval.total_seconds())
        return "stopped"

    async def poll_once(self) -> bool:
        """One poll cycle; True when caught up (the task may sleep a poll interval)."""
        kind = self.ctx.spec.kind
        if kind == "snapshot":
            await self._poll_snapshot()
            return True
        if kind == "gauge":
            await self._poll_gauge()
            return True
        if kind == "siem":
            return await self._poll_siem()
        return await self._poll_log()

    # --- SIEM streams (collector/siem.py) ---------------------------------------------------------------

    async def _poll_siem(self) -> bool:
        ctx = self.ctx
        if self._siem is None:
            from mimecast_siem.collector.siem import SiemPoller, dead_letter_unreadable

            options = self._siem_settings
            self._siem = SiemPoller(
                ctx,
                self.store,
                owner=self.lease.owner,
                epoch=self.lease.epoch,
                mode=options.mode if options is not None else "batch",
                api=options.api if options is not None else "cg",
                unreadable=dead_letter_unreadable(ctx.router),
                clock=self.clock,
                stopping=self.stopping,
            )
        in_flight = ctx.metrics.windows_in_flight.labels(tenant=ctx.tenant, stream=ctx.stream)
        in_flight.inc()
        try:
            idle = await self._siem.poll()
        finally:
            in_flight.dec()
        checkpoint = await self.store.get_checkpoint(ctx.tenant, ctx.stream)
        if checkpoint is not None:
            self._completed(None, self._siem.last_result, checkpoint)
        return idle

    # --- log streams -------------------------------------------------------------------------------

    async def _poll_log(self) -> bool:
        ctx, s = self.ctx, self.ctx.settings
        checkpoint = await self.store.get_checkpoint(ctx.tenant, ctx.stream)
        now = self.clock()
        if checkpoint is not None:
            self._report_history_gap(checkpoint, now)
        windows = plan_windows(
            checkpoint,
            now,
            lag=s.lag,
            max_window=self._window_limit(),
            start_from=s.start_from,
            max_history=ctx.spec.max_history,
            limit=s.concurrency,
        )
        if not windows:
            if self.late is not None and checkpoint is not None:
                self.late.start(checkpoint)
                await self._audit_late_arrivals()
            return True
        if checkpoint is None:
            log.info(
                "Stream %s of tenant %s has no checkpoint; starting at %s.",
                ctx.stream,
                ctx.tenant,
                windows[0].start.isoformat(),
                extra={"tenant": ctx.tenant, "stream": ctx.stream},
            )
        # Coverage is only trusted for the checkpoint it was worked out against: after a restart, a
        # `checkpoints set` or another replica's commits the whole overlap is re-read again.
        covered = self._covered_until if checkpoint is not None and checkpoint == self._covered_at else None
        self._covered_until = self._covered_at = None
        # Only the first window can re-read; its re-read may be split so the young part of the overlap
        # is not read again on every poll (windows.plan_walks).
        head_range = fetch_range(windows[0], checkpoint=checkpoint, overlap=s.overlap, covered_until=covered)
        head_walks = plan_walks(
            windows[0],
            head_range,
            now,
            lag=s.lag,
            overlap=s.overlap,
            records_per_second=self._records_per_second,
            page_size=s.page_size,
        )
        flights = _Flights(self, gated=s.redelivery_pages is not None, start=windows[0].start)
        flights.launch(windows[0], head_walks)
        for window in windows[1:]:
            flights.launch(window, [FetchRange(window.start, window.end)])
        # A window cut short by the head (now - lag) is the last of this poll; until one is, each
        # committed window makes room for the next, so `concurrency` windows stay in flight.
        at_head = caught_up(windows, now, s.lag)
        finished = 0
        try:
            while flights.queue:
                window, fetch, _gate = flights.queue[0]
                self.current_window = window
                result, reads = await fetch
                committed = await self.store.commit_window(
                    ctx.tenant,
                    ctx.stream,
                    window.end,
                    owner=self.lease.owner,
                    epoch=self.lease.epoch,
                    seen=result.remember,
                )
                flights.queue.popleft()
                finished += 1
                for span, read_at in reads:
                    covered = coverage_after(span, read_at, lag=s.lag, overlap=s.overlap, covered_until=covered)
                self._covered_until, self._covered_at = covered, committed
                self._learn_rate(result, [span for span, _ in reads])
                self._completed(window, result, committed)
                if not at_head and not self.stopping.is_set():
                    at_head = self._plan_next(flights)
                if flights.queue and flights.queue[0][2] is not None:
                    if self.stopping.is_set():
                        # Stopping: a gated window delivered nothing yet; leave it to the next start.
                        break
                    flights.advance()
            self.current_window = None
        finally:
            await flights.close()
        if flights.queue:
            log.debug(
                "Stream %s of tenant %s stops after %d windows; %d more were fetched ahead, not delivered.",
                ctx.stream,
                ctx.tenant,
                finished,
                len(flights.queue),
                extra={"tenant": ctx.tenant, "stream": ctx.stream},
            )
            return False
        if at_head and self.late is not None:
            # From the checkpoint on, every record read is tracked: the audit can tell new ids apart.
            self.late.start(flights.planned_end)
            await self._audit_late_arrivals()
        # Idle only when the checkpoint is within a poll interval of the head: a poll that took longer
        # (a catch-up's last windows) polls again at once instead of sleeping that far behind.
        behind = floor_to_second(self.clock() - s.lag) - flights.planned_end
        return at_head and behind <= s.poll_interval

    def _report_history_gap(self, checkpoint: datetime, now: datetime) -> None:
        """Warn when the checkpoint is older than the endpoint serves: the windows start later (a gap)."""
        limit = self.ctx.spec.max_history
        if limit is None:
            return
        resumed = clamp_to_history(floor_to_second(checkpoint), now, limit)
        if resumed <= floor_to_second(checkpoint):
            return
        ctx = self.ctx
        log.warning(
            "Stream %s of tenant %s: checkpoint %s is older than the %s Mimecast serves; resuming at %s "
            "(%s of events no longer served are not collected).",
            ctx.stream,
            ctx.tenant,
            format_utc(checkpoint),
            format_duration(limit),
            format_utc(resumed),
            format_duration(resumed - floor_to_second(checkpoint)),
            extra={"tenant": ctx.tenant, "stream": ctx.stream, "checkpoint": checkpoint.isoformat()},
        )

    def _plan_next(self, flights: _Flights) -> bool:
        """Launch the window after the last one in flight; True when it reaches the head (or none is left)."""
        ctx, s = self.ctx, self.ctx.settings
        now = self.clock()
        more = plan_windows(
            flights.planned_end,
            now,
            lag=s.lag,
            max_window=self._window_limit(),
            max_history=ctx.spec.max_history,
            limit=1,
        )
        if not more:
            return True
        flights.launch(more[0], [FetchRange(more[0].start, more[0].end)])
        return caught_up(more, now, s.lag)

    def _window_limit(self) -> timedelta:
        """Longest window: ``max_window``, or fewer expected pages when in-window commits are impossible.

        A stream whose walk is not oldest-first cannot commit inside a window, so with
        ``redelivery_pages`` set its windows are sized to about that many pages at the last measured
        rate (at least :data:`MIN_SIZED_WINDOW`): a crash then re-delivers about that many pages.
        """
        s = self.ctx.settings
        rate = self._records_per_second
        if s.redelivery_pages is None or self.ctx.spec.oldest_first or not rate:
            return s.max_window
        seconds = s.redelivery_pages * s.page_size / rate
        return min(s.max_window, max(MIN_SIZED_WINDOW, timedelta(seconds=seconds)))

    async def _fetch_window(
        self, window: Window, walks: list[FetchRange], *, gate: WindowGate | None = None
    ) -> tuple[WindowResult, list[tuple[FetchRange, datetime]]]:
        """Deliver ``window`` reading each of ``walks`` in turn; also return when each walk began (coverage)."""
        ctx = self.ctx
        in_flight = ctx.metrics.windows_in_flight.labels(tenant=ctx.tenant, stream=ctx.stream)
        in_flight.inc()
        try:

            async def seen(ids: Any, between: tuple[datetime, datetime] | None = None) -> set[str]:
                return await self.store.seen_ids(ctx.tenant, ctx.stream, ids, between=between)

            total = WindowResult()
            reads: list[tuple[FetchRange, datetime]] = []
            commits = (
                _InWindowCommits(self, window)
                if ctx.settings.redelivery_pages is not None and ctx.spec.oldest_first
                else None
            )
            progress = _PageHook(self, window, commits)
            for fetch in walks:
                read_at = self.clock()
                result = await deliver_log_window(
                    ctx,
                    window,
                    fetch,
                    seen=seen,
                    remember_from=window.end - ctx.settings.overlap,
                    clock=self.clock,
                    gate=gate,
                    after_page=progress,
                )
                _absorb(total, result)
                reads.append((fetch, read_at))
            if commits is not None and commits.stored:
                total.remember = [item for item in total.remember if item[0] not in commits.stored]
            return total, reads
        finally:
            in_flight.dec()

    async def _audit_late_arrivals(self) -> None:
        """Re-read the slice whose late-arrival bound passed; deliver and report what appeared after it."""
        late, ctx, s = self.late, self.ctx, self.ctx.settings
        if late is None:
            return
        span = late.next_slice(self.clock(), lag=s.lag, overlap=s.overlap)
        if span is None:
            return
        result = await deliver_log_window(
            ctx,
            Window(span.start, span.end),
            span,
            seen=None,
            remember_from=None,
            clock=self.clock,
            dedupe=KnownIds(late.known(span)),
        )
        late.audited(span.end)
        if not result.delivered:
            log.debug("Late-arrival audit of stream %s over %s found nothing new.", ctx.stream, span)
            return
        bound = s.lag + s.overlap
        ctx.metrics.late_arrivals.labels(tenant=ctx.tenant, stream=ctx.stream, bound="after").inc(result.delivered)
        log.warning(
            "%d records of stream %s of tenant %s stamped in [%s, %s) became visible after the late-arrival bound "
            "(lag + overlap = %s); the audit delivered them now. Raise streams.%s.overlap if this recurs.",
            result.delivered,
            ctx.stream,
            ctx.tenant,
            span.start.isoformat(),
            span.end.isoformat(),
            bound,
            ctx.stream,
            extra={
                "tenant": ctx.tenant,
                "stream": ctx.stream,
                "late_after_bound": result.delivered,
                "window_start": span.start.isoformat(),
                "window_end": span.end.isoformat(),
            },
        )

    def _learn_rate(self, result: WindowResult, spans: list[FetchRange]) -> None:
        """Records per second of event time, from the last window (plans the next re-read)."""
        seconds = sum((span.end - span.start).total_seconds() for span in spans)
        if seconds > 0:
            self._records_per_second = result.fetched / seconds

    # --- snapshot and gauge streams -------------------------------------------------------------------

    async def _poll_snapshot(self) -> None:
        ctx = self.ctx
        if self._snapshot is None:
            self._snapshot = await self.store.load_snapshot(ctx.tenant, ctx.stream)
        now = floor_to_second(self.clock())
        in_flight = ctx.metrics.windows_in_flight.labels(tenant=ctx.tenant, stream=ctx.stream)
        in_flight.inc()
        try:
            result = await deliver_held_queue(ctx, self._snapshot, now=now, confirm_after=self.confirm_after)
        finally:
            in_flight.dec()
        committed = await self._commit_poll(now, snapshot=result.snapshot)
        self._snapshot = result.snapshot
        self._completed(None, result, committed)

    async def _poll_gauge(self) -> None:
        ctx = self.ctx
        now = floor_to_second(self.clock())
        fetch = gauge_fetch_range(now, ctx.settings.poll_interval) if ctx.spec.window_fields else None
        result, levels = await deliver_gauge_sample(ctx, fetch, now=now, previous_labels=self._gauge_labels)
        self._gauge_labels = set(levels)
        committed = await self._commit_poll(now)
        self._completed(None, result, committed)

    async def _commit_poll(self, now: datetime, snapshot: dict[str, dict[str, Any]] | None = None) -> datetime:
        ctx = self.ctx
        checkpoint = await self.store.get_checkpoint(ctx.tenant, ctx.stream)
        # The store never moves a checkpoint backwards; a clock that stepped back keeps the old one.
        end = max(now, checkpoint) if checkpoint is not None else now
        return await self.store.commit_window(
            ctx.tenant, ctx.stream, end, owner=self.lease.owner, epoch=self.lease.epoch, snapshot=snapshot
        )

    # --- bookkeeping --------------------------------------------------------------------------------

    def _completed(self, window: Window | None, result: WindowResult, committed: datetime) -> None:
        self._beat()
        ctx = self.ctx
        m = ctx.metrics
        m.windows_completed.labels(tenant=ctx.tenant, stream=ctx.stream, mode=ctx.mode).inc()
        m.last_poll_timestamp.labels(tenant=ctx.tenant, stream=ctx.stream).set(time.time())
        extra: dict[str, Any] = {
            "tenant": ctx.tenant,
            "stream": ctx.stream,
            "mode": ctx.mode,
            "pages": result.pages,
            "fetched": result.fetched,
            "events": result.delivered,
            "deduplicated": result.deduplicated,
            "out_of_range": result.out_of_range,
            "dead_lettered": result.dead_lettered,
            "sinks": dict(result.sinks),
            "sent": dict(result.sent),
            "queued": dict(result.queued),
            "dropped": dict(result.dropped),
            "duration_ms": round(result.duration * 1000),
            "checkpoint": committed.isoformat(),
        }
        if window is not None:
            extra["window_start"] = window.start.isoformat()
            extra["window_end"] = window.end.isoformat()
            what = f"Window {window}"
        else:
            what = "Poll"
        if result.dead_lettered:
            # Taken off the pipeline, but into the dead-letter file: the SIEM does not have them.
            log.warning(
                "%s of stream %s for tenant %s delivered %d events in %d pages and was committed; %d of them were "
                "dead-lettered (a sink refused them permanently; see 'mimecast-siem dead-letters list').",
                what,
                ctx.stream,
                ctx.tenant,
                result.delivered,
                result.pages,
                result.dead_lettered,
                extra=extra,
            )
            return
        if result.sent:
            # UDP: the events left, but nothing says they arrived; never call them delivered.
            log.info(
                "%s of stream %s for tenant %s passed %d events to the sinks in %d pages and was committed; "
                "sent without delivery feedback: %s.",
                what,
                ctx.stream,
                ctx.tenant,
                result.delivered,
                result.pages,
                ", ".join(f"{count} to {name}" for name, count in sorted(result.sent.items())),
                extra=extra,
            )
            return
        log.info(
            "%s of stream %s for tenant %s delivered %d events in %d pages and was committed.",
            what,
            ctx.stream,
            ctx.tenant,
            result.delivered,
            result.pages,
            extra=extra,
        )

    def _beat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat()

    async def _pause(self, seconds: float) -> None:
        # The pause is bounded (poll interval, backoff), and liveness allows for it.
        self._beat()
        with contextlib.suppress(TimeoutError):
            await wait_for(self.stopping.wait(), seconds=max(seconds, 0.0))


#: Pages the windows behind the head of a catch-up fetch ahead while they wait, together (a
#: ``ParkingLot``), and at most by their place in line (next, the one after; the rest one each): once
#: its predecessor committed a window delivers these at once while its own walk goes on, so windows
#: fetched concurrently are delivered one after the other at the pace of the process rather than of
#: one walk (issue 16). A waiting page is held marshalled (~0.23 MB at 500 ttp-url records,
#: ``pipeline.park``): ~2.8 MB for 12, where each waiting window held a decoded page (~1 MB) before.
PARKED_PAGES = 12
AHEAD_BY_PLACE = (12, 6)


def ahead_for(place: int) -> int:
    """Pages a window ``place`` windows behind the head may fetch ahead (1: next in line)."""
    return AHEAD_BY_PLACE[place - 1] if 0 < place <= len(AHEAD_BY_PLACE) else 1


class _Flights:
    """The windows of one poll in flight, oldest first: the head delivers, the rest wait fetched ahead.

    Each entry is ``(window, its fetch task, its gate)``; the gate is ``None`` for the head and for
    every window when ``redelivery_pages`` is off (they deliver at once and commit in order).
    """

    def __init__(self, task: StreamTask, *, gated: bool, start: datetime) -> None:
        self.task = task
        self.gated = gated
        self.lot = ParkingLot(PARKED_PAGES)
        self.queue: deque[
            tuple[Window, asyncio.Task[tuple[WindowResult, list[tuple[FetchRange, datetime]]]], WindowGate | None]
        ] = deque()
        #: End of the last window launched.
        self.planned_end = start

    def launch(self, window: Window, walks: list[FetchRange]) -> None:
        """Start fetching ``window`` after the ones in flight."""
        gate: WindowGate | None = None
        if self.gated and self.queue:
            gate = WindowGate(ahead_for(len(self.queue)), self.lot)
        fetch = asyncio.create_task(self.task._fetch_window(window, walks, gate=gate))
        self.queue.append((window, fetch, gate))
        self.planned_end = window.end

    def advance(self) -> None:
        """The head committed: open the next window's gate and let the one after it read further ahead."""
        gate = self.queue[0][2]
        if gate is not None:
            gate.open()
        for place, (_window, _fetch, following) in enumerate(self.queue):
            if following is not None and place:
                following.allow(ahead_for(place))

    async def close(self) -> None:
        """End what is left: a window whose predecessor was not committed never delivers.

        Its gate is abandoned before its task is cancelled, so it ends even if the cancellation does
        not reach it.
        """
        for _window, _fetch, gate in self.queue:
            if gate is not None and not gate.is_open:
                gate.abandon()
        for _window, fetch, _gate in self.queue:
            if not fetch.done():
                fetch.cancel()
        await asyncio.gather(*(fetch for _window, fetch, _gate in self.queue), return_exceptions=True)


#: Shortest window when windows are sized by expected pages (keeps requests per record reasonable).
MIN_SIZED_WINDOW = timedelta(seconds=10)


class _InWindowCommits:
    """Commits a stream's progress inside a window, every ``redelivery_pages`` delivered pages.

    Only for walks that are oldest first (``oldestFirst: true``): once the records seen so far came in
    time order, every record stamped before the second of the newest one is delivered - a later page
    can only hold records of that second or newer. The checkpoint moves there (with the seen ids a
    re-read from it can reach), so a crash re-delivers at most the pages since. A page that breaks
    the order, or holds a record whose time cannot be read, turns it off for the rest of the window
    (the window is then committed whole, as before). Each commit writes only the seen ids delivered
    since the previous one; the window's own commit skips those already written.
    """

    def __init__(self, task: StreamTask, window: Window) -> None:
        self.task = task
        self.window = window
        settings = task.ctx.settings
        self.every = settings.redelivery_pages or 0
        self.overlap = settings.overlap
        self.ordered = True
        self.newest: datetime | None = None
        self.pages = 0
        self.committed = window.start
        # Delivered (id, time) since the last in-window commit: only these can be missing from the
        # store. An earlier commit stored every id a re-read from its point could reach, and the
        # point only moves forward, so writing the older ones again changed nothing and cost a
        # store round of every id of one overlap per commit (~6 times each id at 2 pages per commit).
        self.pending: list[tuple[str, datetime]] = []
        #: Ids the in-window commits stored (the window's own commit need not write them again).
        self.stored: set[str] = set()

    async def __call__(self, page: PageDone) -> None:
        if not self.ordered:
            return
        if page.unplaced:
            self.ordered = False
            return
        for when in page.times:
            if self.newest is not None and when < self.newest:
                self.ordered = False
                return
            self.newest = when
        self.pending.extend(page.delivered)
        if self.newest is None:
            return
        self.pages += 1
        if self.pages < self.every:
            return
        point = floor_to_second(self.newest)
        if not self.committed < point < self.window.end:
            return
        ctx, task = self.task.ctx, self.task
        reach = point - self.overlap
        seen = [(event_id, when) for event_id, when in self.pending if when >= reach]
        await task.store.commit_window(
            ctx.tenant, ctx.stream, point, owner=task.lease.owner, epoch=task.lease.epoch, seen=seen
        )
        self.stored.update(event_id for event_id, _when in seen)
        self.pending = []
        self.committed = point
        self.pages = 0
        ctx.metrics.in_window_commits.labels(tenant=ctx.tenant, stream=ctx.stream).inc()
        log.debug(
            "Stream %s of tenant %s committed %s inside window %s.",
            ctx.stream,
            ctx.tenant,
            point.isoformat(),
            self.window,
            extra={"tenant": ctx.tenant, "stream": ctx.stream, "checkpoint": point.isoformat()},
        )


class _PageHook:
    """After each delivered page: count late arrivals the re-read caught, track ids, commit progress."""

    def __init__(self, task: StreamTask, window: Window, commits: _InWindowCommits | None) -> None:
        self.task = task
        self.window = window
        self.commits = commits

    async def __call__(self, page: PageDone) -> None:
        task = self.task
        if task.late is not None:
            task.late.track(page.ids, page.times)
        caught = sum(1 for _event_id, when in page.delivered if when < self.window.start)
        if caught:
            ctx = task.ctx
            ctx.metrics.late_arrivals.labels(tenant=ctx.tenant, stream=ctx.stream, bound="within").inc(caught)
        if self.commits is not None:
            await self.commits(page)


def _absorb(total: WindowResult, part: WindowResult) -> None:
    """Add the counts of one walk of a window to the window's result."""
    total.pages += part.pages
    total.fetched += part.fetched
    total.delivered += part.delivered
    total.deduplicated += part.deduplicated
    total.out_of_range += part.out_of_range
    total.remember.extend(part.remember)
    for name, count in part.sinks.items():
        total.sinks[name] = total.sinks.get(name, 0) + count
    for name, count in part.sent.items():
        total.sent[name] = total.sent.get(name, 0) + count
    for name, count in part.queued.items():
        total.queued[name] = total.queued.get(name, 0) + count
    for name, count in part.dropped.items():
        total.dropped[name] = total.dropped.get(name, 0) + count
    total.dead_lettered += part.dead_lettered
    total.duration += part.duration


class _BeatingPageSource:
    """A :class:`PageSource` that calls ``beat`` after every page and request (stream liveness)."""

    def __init__(self, inner: PageSource, beat: Callable[[], None]) -> None:
        self._inner = inner
        self._beat = beat

    async def pages(self, *args: Any, **kwargs: Any) -> AsyncIterator[Page]:
        inner = self._inner.pages(*args, **kwargs)
        try:
            async for page in inner:
                self._beat()
                yield page
        finally:
            aclose = getattr(inner, "aclose", None)
            if aclose is not None:
                await aclose()

    async def request(self, *args: Any, **kwargs: Any) -> ApiResponse:
        response = await self._inner.request(*args, **kwargs)
        self._beat()
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _BeatingRouter:
    """An :class:`EventRouter` that calls ``beat`` after every accepted delivery (stream liveness)."""

    def __init__(self, inner: EventRouter, beat: Callable[[], None]) -> None:
        self._inner = inner
        self._beat = beat

    async def deliver(self, *args: Any, **kwargs: Any) -> Any:
        report = await self._inner.deliver(*args, **kwargs)
        self._beat()
        return report

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
