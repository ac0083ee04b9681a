"""Backfill jobs and their windows: resumable progress, claims and cancellation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection

from mimecast_siem.checkpoints import backfill
from mimecast_siem.checkpoints.readonly import log_job
from mimecast_siem.checkpoints.records import (
    MAX_OWNER_LENGTH,
    BackfillJob,
    BackfillStatus,
    BackfillWindow,
    WindowStatus,
    check_backfill_job,
    require_aware,
    require_name,
    require_positive,
)

from .core import StoreCore, log


class BackfillJobsPart(StoreCore):
    """Backfill jobs and their windows: resumable progress, claims and cancellation."""

    async def create_backfill_job(  # noqa: PLR0917 - positional order is the published contract
        self,
        tenant: str,
        streams: Sequence[str],
        since: datetime,
        until: datetime,
        window: timedelta,
        sinks: Sequence[str] = (),
    ) -> BackfillJob:
        """Create a backfill job and its windows, or return the existing job with the same key.

        The key is (tenant, streams, since, until, sinks) regardless of order, so re-running the same
        command resumes the same job. An existing cancelled or failed job is queued again (its done
        windows stay done); a done job is returned as it is.
        """
        check_backfill_job(tenant, streams, since, until, window, sinks)
        job = await self._run(
            lambda conn, now: backfill.create_job(
                conn, now, tenant, streams=streams, since=since, until=until, window=window, sinks=sinks
            )
        )
        log_job(job, tenant)
        return job

    async def get_backfill_job(self, job_id: int) -> BackfillJob:
        """The job with ``job_id``; raises :class:`BackfillJobNotFound` when there is none."""
        return await self._run(lambda conn, _now: backfill.get_job(conn, job_id))

    async def list_backfill_jobs(
        self, *, status: BackfillStatus | None = None, tenant: str | None = None, limit: int = 100
    ) -> list[BackfillJob]:
        """Backfill jobs, newest first."""
        return await self._run(lambda conn, _now: backfill.list_jobs(conn, status=status, tenant=tenant, limit=limit))

    async def backfill_windows(
        self,
        job_id: int,
        *,
        stream: str | None = None,
        status: WindowStatus | None = None,
        after: tuple[str, datetime] | None = None,
        limit: int | None = None,
    ) -> list[BackfillWindow]:
        """A job's windows ordered by (stream, start); page with ``after`` = last (stream, start) and ``limit``."""
        return await self._run(
            lambda conn, _now: backfill.list_windows(
                conn, job_id, stream=stream, status=status, after=after, limit=limit
            )
        )

    async def iter_backfill_windows(
        self,
        job_id: int,
        *,
        stream: str | None = None,
        status: WindowStatus | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[BackfillWindow]:
        """Every matching window of a job, fetched ``page_size`` at a time (memory stays flat)."""
        after: tuple[str, datetime] | None = None
        while True:
            page = await self.backfill_windows(job_id, stream=stream, status=status, after=after, limit=page_size)
            for window in page:
                yield window
            if len(page) < page_size:
                return
            after = (page[-1].stream, page[-1].start)

    async def mark_window_done(self, job_id: int, stream: str, start: datetime, events: int) -> BackfillJob:
        """Record that a window was delivered (idempotent); return the job's progress.

        The last window moves the job to ``done``. A window finished after the job was cancelled is
        still recorded; the returned job's status tells the runner to stop.
        """
        require_aware("start", start)
        return await self._run(
            lambda conn, now: backfill.mark_window_done(conn, now, job_id, stream=stream, start=start, events=events)
        )

    async def next_queued_backfill_job(
        self, owner: str | None = None, ttl: timedelta | None = None
    ) -> BackfillJob | None:
        """The next job to run.

        Without ``owner``: the oldest queued job, not claimed. With ``owner`` and ``ttl``: claims the
        oldest queued job - or a running job whose runner stopped renewing - by taking its lease
        (``job.lease_key``, renew it like a stream lease) and marking it running; ``None`` if none.
        """
        if owner is None:
            return await self._run(lambda conn, _now: backfill.peek_queued(conn))
        require_name("owner", owner, MAX_OWNER_LENGTH)
        if ttl is None:
            raise ValueError("ttl is required when claiming a backfill job")
        require_positive("ttl", ttl)
        return await self._run(lambda conn, now: backfill.claim(conn, now, owner, ttl, None))

    async def start_backfill_job(self, job_id: int, owner: str, ttl: timedelta) -> BackfillJob:
        """Claim a specific job for ``owner`` (the foreground ``backfill`` command); see :meth:`next_queued_backfill_job`.

        Raises:
            BackfillJobBusy: a live runner holds the job.
            InvalidBackfillTransition: the job is done or cancelled.
        """
        require_name("owner", owner, MAX_OWNER_LENGTH)
        require_positive("ttl", ttl)
        job = await self._run(lambda conn, now: backfill.claim(conn, now, owner, ttl, job_id))
        assert job is not None  # claim() with a job id raises instead of returning None
        return job

    async def release_backfill_job(self, job_id: int, owner: str) -> BackfillJob:
        """Put a running job of ``owner``'s back in the queue (graceful shutdown); other jobs are left alone."""

        def op(conn: Connection, now: datetime) -> BackfillJob:
            job = backfill.get_job(conn, job_id, lock=True)
            if job.status is not BackfillStatus.RUNNING or job.owner != owner:
                return job
            return backfill.set_status(conn, now, job_id, BackfillStatus.QUEUED, owner=None)

        return await self._run(op)

    async def fail_backfill_job(self, job_id: int, error: str) -> BackfillJob:
        """Mark a job failed with a short reason (no secrets); re-running its command queues it again."""

        def op(conn: Connection, now: datetime) -> BackfillJob:
            job = backfill.get_job(conn, job_id, lock=True)
            return backfill.set_status(conn, now, job_id, BackfillStatus.FAILED, owner=job.owner, error=error)

        return await self._run(op)

    async def cancel_backfill_job(self, job_id: int) -> BackfillJob:
        """Cancel a queued, running or failed job; its runner sees ``cancelled`` on its next window.

        Raises:
            BackfillJobNotFound: no such job.
            InvalidBackfillTransition: the job is already done or cancelled.
        """

        def op(conn: Connection, now: datetime) -> BackfillJob:
            job = backfill.get_job(conn, job_id, lock=True)
            return backfill.set_status(conn, now, job_id, BackfillStatus.CANCELLED, owner=job.owner)

        job = await self._run(op)
        log.info("Backfill job %d cancelled.", job_id, extra={"job_id": job_id, "tenant": job.tenant})
        return job
