"""The daemon's side of backfill: claim queued jobs and run them next to the live streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import timedelta

from mimecast_siem.aio import wait_for
from mimecast_siem.checkpoints import (
    BackfillJob,
    StateStore,
)
from mimecast_siem.collector.backfill.plan import why_not_backfillable
from mimecast_siem.collector.backfill.progress import LogDisplay
from mimecast_siem.collector.backfill.runner import (
    QUEUE_POLL_INTERVAL,
    BackfillOutcome,
    BackfillRunner,
    SelectiveRouter,
    SinkSelection,
)
from mimecast_siem.collector.pipeline import PageSource
from mimecast_siem.config.models import Settings
from mimecast_siem.observability import scrub
from mimecast_siem.observability.metrics import Metrics
from mimecast_siem.streams import CATALOGUE

log = logging.getLogger("mimecast_siem.collector")


class BackfillWorker:
    """Runs queued backfill jobs inside the daemon, one at a time, next to the live streams.

    It claims the oldest queued job (``backfill --queue``), or a running job whose runner stopped
    renewing its lease (a killed ``backfill`` command or replica), with the daemon's owner id; runs
    it with the daemon's clients (same rate budget, ``Priority.BACKFILL``) and router; and on
    shutdown stops after the windows in flight and queues the job again.

    Args:
        settings: the daemon's settings (``backfill.concurrency``, ``state.lease_ttl``).
        store: the state store.
        clients: the daemon's Mimecast client per tenant.
        router: the daemon's sinks router.
        owner: the daemon's instance id.
        stopping: the daemon's shutdown event.
        poll_interval: seconds between looks at the queue when idle.
        progress_interval: seconds between progress log lines of a running job.
        metrics_: metrics to record into.
    """

    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        clients: Mapping[str, PageSource],
        router: SelectiveRouter,
        *,
        owner: str,
        stopping: asyncio.Event,
        poll_interval: float = QUEUE_POLL_INTERVAL,
        progress_interval: float = 60.0,
        metrics_: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clients = clients
        self.router = router
        self.owner = owner
        self.stopping = stopping
        self.poll_interval = poll_interval
        self.progress_interval = progress_interval
        self._metrics = metrics_
        self.runner: BackfillRunner | None = None
        self.outcomes: list[BackfillOutcome] = []
        self._task: asyncio.Task[None] | None = None
        self._stop_watch: asyncio.Task[None] | None = None
        self._stop_requested_at: float | None = None

    def start(self) -> None:
        """Start looking for jobs in the background."""
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self.run(), name="backfill-worker")
        self._stop_watch = loop.create_task(self._note_stop(), name="backfill-worker-stop")

    async def join(self, grace: timedelta) -> None:
        """Stop and wait; what is still in flight ``grace`` after the stop request is cancelled (stays pending)."""
        if self._task is None:
            return
        loop = asyncio.get_running_loop()
        self.stopping.set()
        if self.runner is not None:
            self.runner.stop()
        requested = self._stop_requested_at if self._stop_requested_at is not None else loop.time()
        # The live streams got the same grace from the same moment: the daemon exits within it.
        left = max(grace.total_seconds() - (loop.time() - requested), 0.0)
        done, _ = await asyncio.wait([self._task], timeout=left)
        if not done:
            log.warning("Backfill worker did not finish within the shutdown grace; its windows in flight stay pending.")
            if self.runner is not None:
                self.runner.abort()
            done, _ = await asyncio.wait([self._task], timeout=10.0)
            if not done:
                self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        if self._stop_watch is not None:
            self._stop_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stop_watch

    async def _note_stop(self) -> None:
        await self.stopping.wait()
        self._stop_requested_at = asyncio.get_running_loop().time()
        if self.runner is not None:
            self.runner.stop()

    async def run(self) -> None:
        """Claim and run jobs until ``stopping`` is set."""
        ttl = self.settings.state.lease_ttl
        while not self.stopping.is_set():
            try:
                job = await self.store.next_queued_backfill_job(self.owner, ttl)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Could not look for queued backfill jobs (%s); retrying.", type(exc).__name__)
                job = None
            if job is None:
                await self._idle(self.poll_interval)
                continue
            try:
                await self._run_job(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error(
                    "Backfill job %d stopped unexpectedly (%s: %s); it is queued again.",
                    job.id,
                    type(exc).__name__,
                    scrub(str(exc)),
                    extra={"job_id": job.id, "tenant": job.tenant},
                )
                with contextlib.suppress(Exception):
                    await self.store.release_backfill_job(job.id, self.owner)
                await self._idle(self.poll_interval)

    async def _run_job(self, job: BackfillJob) -> None:
        problem = self._why_not_runnable(job)
        if problem is not None:
            log.error("Backfill job %d cannot run here: %s.", job.id, problem, extra={"job_id": job.id})
            await self.store.fail_backfill_job(job.id, problem)
            return
        runner = BackfillRunner(
            job,
            store=self.store,
            settings=self.settings,
            client=self.clients[job.tenant],
            router=SinkSelection(self.router, job.sinks),
            owner=self.owner,
            concurrency=self.settings.backfill.concurrency,
            stopping=self.stopping,
            display=LogDisplay(self.progress_interval),
            lease_ttl=self.settings.state.lease_ttl,
            backoff_max=self.settings.daemon.stream_backoff_max,
            metrics_=self._metrics,
        )
        self.runner = runner
        try:
            outcome = await runner.run()
        finally:
            self.runner = None
        self.outcomes.append(outcome)
        dead = runner.progress.dead_lettered
        log.log(
            logging.WARNING if dead else logging.INFO,
            "Backfill job %d ended %s: %d of %d windows, %d events in this run, %d of them dead-lettered%s.",
            job.id,
            outcome.result,
            outcome.job.windows_done,
            outcome.job.windows_total,
            runner.progress.events,
            dead,
            " (see 'mimecast-siem dead-letters list')" if dead else "",
            extra={"job_id": job.id, "tenant": job.tenant, "result": outcome.result, "dead_lettered": dead},
        )

    def _why_not_runnable(self, job: BackfillJob) -> str | None:
        if job.tenant not in self.clients:
            return f"tenant {job.tenant} is not configured or not enabled in this daemon"
        for stream in job.streams:
            spec = CATALOGUE.get(stream)
            if spec is None:
                return f"stream {stream} is unknown"
            reason = why_not_backfillable(spec)
            if reason is not None:
                return reason
        status = getattr(self.router, "status", None)
        known = set(status()) if callable(status) else None
        missing = [s for s in job.sinks if known is not None and s not in known]
        if missing:
            return f"sinks {', '.join(missing)} are not configured or not enabled in this daemon"
        return None

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await wait_for(self.stopping.wait(), seconds=seconds)
