"""Backfill job and window operations (synchronous; each runs inside the caller's transaction).

Windows are materialised when the job is created, in batches, so a long range never sits in memory
and progress is one indexed query. A runner works on a job while it holds the job's lease
(:func:`~.records.backfill_lease_key`), renewed like a stream lease, so two runners never work on
one job and a dead runner's job is taken over once its lease expires.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from . import leasing, schema
from .errors import BackfillJobBusy, BackfillJobNotFound, BackfillWindowNotFound, InvalidBackfillTransition
from .records import (
    MAX_BACKFILL_WINDOWS,
    MAX_ERROR_TEXT,
    BackfillJob,
    BackfillStatus,
    BackfillWindow,
    WindowStatus,
    backfill_job_from_row,
    backfill_job_key,
    backfill_lease_key,
    count_windows,
    split_range,
    transition_allowed,
)
from .sql import chunked, upsert

_jobs = schema.backfill_jobs
_win = schema.backfill_windows

#: Queued or abandoned jobs looked at per claim attempt.
_CLAIM_CANDIDATES = 50


#: A :class:`BackfillJob` from a ``backfill_jobs`` row (shared with :mod:`.readonly`).
to_job = backfill_job_from_row


def to_window(row: Any) -> BackfillWindow:
    """Build a :class:`BackfillWindow` from a ``backfill_windows`` row."""
    return BackfillWindow(
        job_id=int(row.job_id),
        stream=row.stream,
        start=row.start,
        end=row.end,
        status=WindowStatus(row.status),
        events=int(row.events),
        updated_at=row.updated_at,
    )


def get_job(conn: Connection, job_id: int, *, lock: bool = False) -> BackfillJob:
    """The job with ``job_id`` (row-locked on PostgreSQL when ``lock``); raises if there is none."""
    stmt = select(_jobs).where(_jobs.c.id == job_id)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).one_or_none()
    if row is None:
        raise BackfillJobNotFound(job_id)
    return to_job(row)


def create_job(
    conn: Connection,
    now: datetime,
    tenant: str,
    *,
    streams: Sequence[str],
    since: datetime,
    until: datetime,
    window: timedelta,
    sinks: Sequence[str],
) -> BackfillJob:
    """Create the job, or return the existing one with the same key (re-queued if it was cancelled or failed)."""
    stream_list = sorted(set(streams))
    sink_list = sorted(set(sinks))
    per_stream = count_windows(since, until, window)
    total = per_stream * len(stream_list)
    if total > MAX_BACKFILL_WINDOWS:
        raise ValueError(
            f"window {window} cuts this range into {total} windows (over {MAX_BACKFILL_WINDOWS}); use a larger window"
        )
    key = backfill_job_key(tenant, stream_list, since, until, sink_list)
    stmt = (
        upsert(conn, _jobs)
        .values(
            job_key=key,
            tenant=tenant,
            streams=stream_list,
            since=since,
            until=until,
            window_seconds=int(window.total_seconds()),
            sinks=sink_list,
            status=BackfillStatus.QUEUED.value,
            owner=None,
            created_at=now,
            updated_at=now,
            windows_total=total,
            windows_done=0,
            events=0,
            error=None,
        )
        .on_conflict_do_nothing(index_elements=[_jobs.c.job_key])
        .returning(_jobs.c.id)
    )
    job_id: int | None = conn.execute(stmt).scalar_one_or_none()
    if job_id is None:
        existing = to_job(conn.execute(select(_jobs).where(_jobs.c.job_key == key).with_for_update()).one())
        if existing.status in (BackfillStatus.CANCELLED, BackfillStatus.FAILED):
            return set_status(conn, now, existing.id, BackfillStatus.QUEUED, owner=None)
        return existing
    rows = (
        {
            "job_id": job_id,
            "stream": stream,
            "start": start,
            "end": end,
            "status": WindowStatus.PENDING.value,
            "events": 0,
            "updated_at": now,
        }
        for stream in stream_list
        for start, end in split_range(since, until, window)
    )
    for batch in chunked(rows):
        conn.execute(insert(_win), batch)
    return get_job(conn, job_id)


def set_status(
    conn: Connection,
    now: datetime,
    job_id: int,
    status: BackfillStatus,
    *,
    owner: str | None,
    error: str | None = None,
) -> BackfillJob:
    """Move a job to ``status`` if its life cycle allows it (see ``BACKFILL_TRANSITIONS``)."""
    job = get_job(conn, job_id, lock=True)
    if not transition_allowed(job.status, status):
        raise InvalidBackfillTransition(
            f"Backfill job {job_id} is {job.status.value}; it cannot become {status.value}."
        )
    conn.execute(
        update(_jobs)
        .where(_jobs.c.id == job_id)
        .values(
            status=status.value,
            owner=owner,
            updated_at=now,
            error=error[:MAX_ERROR_TEXT] if error else None,
        )
    )
    if status is not BackfillStatus.RUNNING:
        # Whoever worked on it is done with it; the fence makes a stale runner notice.
        leasing.fence(conn, now, *backfill_lease_key(job.tenant, job_id))
    return get_job(conn, job_id)


def claim(conn: Connection, now: datetime, owner: str, ttl: timedelta, job_id: int | None) -> BackfillJob | None:
    """Take a job's lease and mark it running.

    With ``job_id``: that job (raises :class:`BackfillJobBusy` if a live runner holds it). Without: the
    oldest queued job, or a running job whose runner's lease expired; ``None`` when there is none.
    """
    if job_id is not None:
        job = get_job(conn, job_id, lock=True)
        if not transition_allowed(job.status, BackfillStatus.RUNNING):
            raise InvalidBackfillTransition(f"Backfill job {job_id} is {job.status.value}; it cannot be run.")
        if leasing.acquire(conn, now, *job.lease_key, owner=owner, ttl=ttl) is None:
            holder = leasing.get(conn, *job.lease_key)
            raise BackfillJobBusy(
                f"Backfill job {job_id} is being run by {holder.owner if holder else 'another runner'}; "
                "wait for it or cancel the job."
            )
        return _mark_running(conn, now, job_id, owner)
    # Queued jobs first, then running jobs whose runner may have died.
    for status in (BackfillStatus.QUEUED, BackfillStatus.RUNNING):
        candidates = conn.execute(
            select(_jobs.c.id, _jobs.c.tenant)
            .where(_jobs.c.status == status.value)
            .order_by(_jobs.c.id)
            .limit(_CLAIM_CANDIDATES)
        ).all()
        for candidate in candidates:
            # Lock order is always job row, then lease row (as in set_status), so a claim racing a
            # cancel cannot deadlock; a job another transaction is changing right now is skipped.
            locked = conn.execute(
                select(_jobs.c.id)
                .where(_jobs.c.id == candidate.id, _jobs.c.status == status.value)
                .with_for_update(skip_locked=True)
            ).scalar_one_or_none()
            if locked is None:
                continue
            # Winning the lease is what makes the claim exclusive across replicas.
            key = backfill_lease_key(candidate.tenant, candidate.id)
            if leasing.acquire(conn, now, *key, owner=owner, ttl=ttl, only_if_free=True) is not None:
                return _mark_running(conn, now, int(candidate.id), owner)
    return None


def _mark_running(conn: Connection, now: datetime, job_id: int, owner: str) -> BackfillJob:
    conn.execute(
        update(_jobs)
        .where(_jobs.c.id == job_id)
        .values(status=BackfillStatus.RUNNING.value, owner=owner, updated_at=now, error=None)
    )
    return get_job(conn, job_id)


def peek_queued(conn: Connection) -> BackfillJob | None:
    """The oldest queued job, without claiming it."""
    row = conn.execute(
        select(_jobs).where(_jobs.c.status == BackfillStatus.QUEUED.value).order_by(_jobs.c.id).limit(1)
    ).one_or_none()
    return None if row is None else to_job(row)


def mark_window_done(
    conn: Connection, now: datetime, job_id: int, *, stream: str, start: datetime, events: int
) -> BackfillJob:
    """Record a delivered window (idempotent) and the job's progress; the last window finishes the job."""
    if events < 0:
        raise ValueError(f"events must be >= 0; got {events}")
    job = get_job(conn, job_id, lock=True)
    updated = conn.execute(
        update(_win)
        .where(
            _win.c.job_id == job_id,
            _win.c.stream == stream,
            _win.c.start == start,
            _win.c.status == WindowStatus.PENDING.value,
        )
        .values(status=WindowStatus.DONE.value, events=events, updated_at=now)
    ).rowcount
    if updated == 0:
        exists = conn.execute(
            select(_win.c.status).where(_win.c.job_id == job_id, _win.c.stream == stream, _win.c.start == start)
        ).scalar_one_or_none()
        if exists is None:
            raise BackfillWindowNotFound(
                f"Backfill job {job_id} has no {stream} window starting at {start.isoformat()}."
            )
        return job  # already done: a re-run of a window does not count twice
    finished = job.windows_done + 1 >= job.windows_total and job.status in (
        BackfillStatus.QUEUED,
        BackfillStatus.RUNNING,
    )
    conn.execute(
        update(_jobs)
        .where(_jobs.c.id == job_id)
        .values(
            windows_done=_jobs.c.windows_done + 1,
            events=_jobs.c.events + events,
            updated_at=now,
            **({"status": BackfillStatus.DONE.value} if finished else {}),
        )
    )
    if finished:
        leasing.fence(conn, now, *job.lease_key)
    return get_job(conn, job_id)


def list_windows(
    conn: Connection,
    job_id: int,
    *,
    stream: str | None,
    status: WindowStatus | None,
    after: tuple[str, datetime] | None,
    limit: int | None,
) -> list[BackfillWindow]:
    """One page of a job's windows ordered by (stream, start), starting after the key ``after``."""
    stmt = select(_win).where(_win.c.job_id == job_id)
    if stream is not None:
        stmt = stmt.where(_win.c.stream == stream)
    if status is not None:
        stmt = stmt.where(_win.c.status == status.value)
    if after is not None:
        after_stream, after_start = after
        stmt = stmt.where(
            or_(_win.c.stream > after_stream, and_(_win.c.stream == after_stream, _win.c.start > after_start))
        )
    stmt = stmt.order_by(_win.c.stream, _win.c.start)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [to_window(r) for r in conn.execute(stmt)]


def list_jobs(conn: Connection, *, status: BackfillStatus | None, tenant: str | None, limit: int) -> list[BackfillJob]:
    """Jobs, newest first."""
    stmt = select(_jobs)
    if status is not None:
        stmt = stmt.where(_jobs.c.status == status.value)
    if tenant is not None:
        stmt = stmt.where(_jobs.c.tenant == tenant)
    return [to_job(r) for r in conn.execute(stmt.order_by(_jobs.c.id.desc()).limit(limit))]
