"""The state store: the async face of the checkpoint database.

Every public method is a coroutine that runs one transaction on a private single worker thread.
One thread serialises this process's access (SQLite allows one writer anyway) and keeps blocking
database calls off the event loop; the operations themselves live in small synchronous modules
(:mod:`.checkpointing`, :mod:`.leasing`, :mod:`.backfill`, :mod:`.audit`) that take a connection
and the transaction's clock reading.

Clock: lease expiry is compared with the database's clock on PostgreSQL (``now()`` of the
transaction), so replicas with skewed host clocks still agree; on SQLite the host's UTC clock is the
database clock. Tests may inject a clock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

import orjson
from sqlalchemy import Connection, Engine, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from . import audit, backfill, checkpointing, deadletters, idempotency, leasing
from .engine import create_state_engine, display_url, parse_state_url, translate_error
from .errors import StateStoreError
from .migrations import MIGRATIONS, Migration, MigrationReport, migrate
from .records import (
    MAX_EVENT_ID_LENGTH,
    MAX_OWNER_LENGTH,
    AuditRecord,
    BackfillJob,
    BackfillStatus,
    BackfillWindow,
    CheckpointRow,
    DeadLetterRow,
    IdempotencyClaim,
    LeaseRow,
    WindowStatus,
    require_aware,
    require_idempotency_key,
    require_name,
    require_positive,
)
from .sql import database_now

log = logging.getLogger("mimecast_siem.checkpoints")

T = TypeVar("T")
Key = tuple[str, str]


class StateStore:
    """Checkpoints, leases, seen ids, snapshots, backfill progress and the action audit.

    Create with :meth:`open` (which migrates the schema), use from any asyncio task, :meth:`close`
    at the end (or ``async with``).
    """

    def __init__(
        self, engine: Engine, url: URL, executor: ThreadPoolExecutor, clock: Callable[[], datetime] | None
    ) -> None:
        """Use :meth:`open`; this constructor assumes the schema is already migrated."""
        self._engine = engine
        self._where = display_url(url)
        self._backend = url.get_backend_name()
        self._executor = executor
        self._clock = clock
        self._closed = False
        self._checkpoint_lock = threading.Lock()
        self._checkpoint_cache: dict[Key, datetime] = {}
        self.schema: MigrationReport | None = None

    # --- life cycle ------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        url: str | URL,
        *,
        clock: Callable[[], datetime] | None = None,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> StateStore:
        """Connect to ``url``, migrate the schema to the latest version, and return the store.

        Args:
            url: SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``); a secret, never logged.
            clock: returns "now" (UTC-aware) instead of the database clock; for tests.
            migrations: the schema steps; for tests of the migration machinery.

        Raises:
            ConfigError: the URL is malformed or names an unsupported database (key ``state.url``).
            StateStoreUnavailable: the database cannot be reached.
            SchemaTooNew: the database was migrated by a newer release.
        """
        parsed = parse_state_url(url)
        engine = create_state_engine(parsed)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="state-store")
        store = cls(engine, parsed, executor, clock)
        try:
            store.schema = await store._submit(store._migrate, migrations)
        except BaseException:
            await store.close()
            raise
        log.info(
            "State store open at %s (schema version %d).",
            store._where,
            store.schema.to_version,
            extra={"backend": store._backend, "applied": list(store.schema.applied)},
        )
        return store

    async def close(self) -> None:
        """Dispose of the connections and stop the worker thread; later calls raise ``StateStoreError``."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._engine.dispose)
        self._executor.shutdown(wait=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._backend

    @property
    def display_url(self) -> str:
        """The database URL with its password masked."""
        return self._where

    async def ping(self) -> None:
        """Round-trip to the database (readiness); raises ``StateStoreUnavailable`` when it is down."""
        await self._run(lambda conn, _now: conn.execute(select(1)).scalar_one())

    async def now(self) -> datetime:
        """The store's clock (the database's on PostgreSQL); lease expiry is measured against it."""
        return await self._run(lambda _conn, now: now)

    # --- checkpoints ------------------------------------------------------------------------------

    async def get_checkpoint(self, tenant: str, stream: str) -> datetime | None:
        """The end of the last committed window of (tenant, stream), or ``None`` before the first commit."""
        _key(tenant, stream)
        value = await self._run(lambda conn, _now: checkpointing.get_checkpoint(conn, tenant, stream))
        if value is not None:
            self._cache_checkpoint(tenant, stream, value)
        return value

    async def commit_window(
        self,
        tenant: str,
        stream: str,
        end: datetime,
        *,
        owner: str | None,
        epoch: int | None = None,
        seen: Sequence[tuple[str, datetime]] = (),
        snapshot: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> datetime:
        """Commit a delivered window in ONE transaction; return the checkpoint after it.

        Verifies that ``owner`` (when given) still holds the lease - in ``epoch`` when given - and raises
        :class:`LeaseLost` otherwise, committing nothing. Moves the checkpoint to ``end`` (never
        backwards: an older ``end`` leaves it where it is), records ``seen`` (event id, event time)
        pairs, and replaces the stored snapshot when ``snapshot`` is given.
        """
        _key(tenant, stream)
        require_aware("end", end)
        if owner is not None:
            require_name("owner", owner, MAX_OWNER_LENGTH)
        seen_rows = [
            (require_name("seen event id", eid, MAX_EVENT_ID_LENGTH), require_aware("seen event time", t))
            for eid, t in seen
        ]
        if snapshot is not None:
            _check_snapshot(snapshot)
        checkpoint = await self._run(
            lambda conn, now: checkpointing.commit_window(
                conn, now, tenant, stream, end, owner=owner, epoch=epoch, seen=seen_rows, snapshot=snapshot
            )
        )
        self._cache_checkpoint(tenant, stream, checkpoint)
        return checkpoint

    async def list_checkpoints(self) -> list[CheckpointRow]:
        """Every stored checkpoint, ordered by tenant and stream."""
        rows = await self._run(lambda conn, _now: checkpointing.list_checkpoints(conn))
        for row in rows:
            self._cache_checkpoint(row.tenant, row.stream, row.window_end)
        return rows

    async def set_checkpoint(
        self, tenant: str, stream: str, when: datetime, *, by: str | None = None
    ) -> datetime | None:
        """Put the checkpoint at ``when`` (backwards too); return the previous one.

        Forgets seen ids at or after ``when`` (so re-read events are delivered again) and fences out
        the lease holder (its next commit raises ``LeaseLost``; it restarts from the new checkpoint).
        """
        _key(tenant, stream)
        require_aware("when", when)
        previous = await self._run(
            lambda conn, now: checkpointing.set_checkpoint(conn, now, tenant, stream, when=when, by=by)
        )
        self._cache_checkpoint(tenant, stream, when)
        log.info(
            "Checkpoint of %s/%s set to %s (was %s).",
            tenant,
            stream,
            when.isoformat(),
            previous.isoformat() if previous else "unset",
            extra={"tenant": tenant, "stream": stream},
        )
        return previous

    async def reset_checkpoint(self, tenant: str, stream: str) -> datetime | None:
        """Forget the checkpoint, seen ids and snapshot of (tenant, stream); return the previous checkpoint."""
        _key(tenant, stream)
        previous = await self._run(lambda conn, now: checkpointing.reset_checkpoint(conn, now, tenant, stream))
        with self._checkpoint_lock:
            self._checkpoint_cache.pop((tenant, stream), None)
        log.info("Checkpoint of %s/%s reset.", tenant, stream, extra={"tenant": tenant, "stream": stream})
        return previous

    def checkpoint_times(self) -> dict[Key, float]:
        """Unix times of the checkpoints this process has read or written (no I/O; for metric scrapes)."""
        with self._checkpoint_lock:
            return {key: value.timestamp() for key, value in self._checkpoint_cache.items()}

    # --- seen ids ---------------------------------------------------------------------------------

    async def seen_ids(self, tenant: str, stream: str, ids: Collection[str]) -> set[str]:
        """The subset of ``ids`` already delivered for (tenant, stream)."""
        _key(tenant, stream)
        if not ids:
            return set()
        return await self._run(lambda conn, _now: checkpointing.seen_ids(conn, tenant, stream, ids))

    async def prune_seen(self, older_than: datetime) -> int:
        """Forget seen ids with an event time before ``older_than``; return how many were removed."""
        require_aware("older_than", older_than)
        return await self._run(lambda conn, _now: checkpointing.prune_seen(conn, older_than))

    # --- leases -----------------------------------------------------------------------------------

    async def acquire(self, tenant: str, stream: str, owner: str, ttl: timedelta) -> bool:
        """Take (or keep) the lease of (tenant, stream) for ``ttl``; True when ``owner`` holds it now."""
        return await self.acquire_lease(tenant, stream, owner, ttl) is not None

    async def acquire_lease(self, tenant: str, stream: str, owner: str, ttl: timedelta) -> LeaseRow | None:
        """Like :meth:`acquire`, returning the lease (with its fencing ``epoch``) or ``None``."""
        _key(tenant, stream, stream_length=96)
        require_name("owner", owner, MAX_OWNER_LENGTH)
        require_positive("ttl", ttl)
        return await self._run(lambda conn, now: leasing.acquire(conn, now, tenant, stream, owner=owner, ttl=ttl))

    async def renew(self, owner: str, keys: Collection[Key], ttl: timedelta) -> set[Key]:
        """Extend ``owner``'s leases among ``keys`` by ``ttl`` from now; return the keys still held."""
        require_name("owner", owner, MAX_OWNER_LENGTH)
        require_positive("ttl", ttl)
        wanted = list(keys)
        if not wanted:
            return set()
        return await self._run(lambda conn, now: leasing.renew(conn, now, owner, wanted, ttl))

    async def release(self, owner: str, keys: Collection[Key] | None = None) -> int:
        """Give up ``owner``'s leases on ``keys`` (all of them when ``None``); return how many were released."""
        require_name("owner", owner, MAX_OWNER_LENGTH)
        wanted = None if keys is None else list(keys)
        if wanted == []:
            return 0
        return await self._run(lambda conn, now: leasing.release(conn, now, owner, wanted))

    async def list_leases(self) -> list[LeaseRow]:
        """Every owned lease (expired ones included; compare ``expires_at`` with :meth:`now`)."""
        return await self._run(lambda conn, _now: leasing.list_all(conn))

    async def get_lease(self, tenant: str, stream: str) -> LeaseRow | None:
        """The lease of (tenant, stream) if it has an owner."""
        return await self._run(lambda conn, _now: leasing.get(conn, tenant, stream))

    # --- snapshots --------------------------------------------------------------------------------

    async def load_snapshot(self, tenant: str, stream: str) -> dict[str, dict[str, Any]]:
        """The stored snapshot (item id -> item) of (tenant, stream); empty when none is stored."""
        _key(tenant, stream)
        return await self._run(lambda conn, _now: checkpointing.load_snapshot(conn, tenant, stream))

    # --- backfill ---------------------------------------------------------------------------------

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
        require_name("tenant", tenant)
        if isinstance(streams, str) or not streams:
            raise ValueError("streams must be a non-empty list of stream names")
        for stream in streams:
            require_name("stream", stream)
        for sink in sinks:
            require_name("sink", sink)
        require_aware("since", since)
        require_aware("until", until)
        if until <= since:
            raise ValueError(f"until ({until.isoformat()}) must be after since ({since.isoformat()})")
        require_positive("window", window)
        if window.total_seconds() != int(window.total_seconds()) or window < timedelta(seconds=1):
            raise ValueError(f"window must be a whole number of seconds, at least 1; got {window}")
        job = await self._run(
            lambda conn, now: backfill.create_job(
                conn, now, tenant, streams=streams, since=since, until=until, window=window, sinks=sinks
            )
        )
        log.info(
            "Backfill job %d for %s is %s (%d of %d windows done).",
            job.id,
            tenant,
            job.status.value,
            job.windows_done,
            job.windows_total,
            extra={"tenant": tenant, "job_id": job.id},
        )
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

    # --- action audit -----------------------------------------------------------------------------

    async def record_audit(self, entry: AuditRecord) -> int:
        """Append an audit record; return its id."""
        return await self._run(lambda conn, _now: audit.record(conn, entry))

    async def list_audit(
        self,
        limit: int = 100,
        action: str | None = None,
        since: datetime | None = None,
        *,
        actor: str | None = None,
    ) -> list[AuditRecord]:
        """Audit records, newest first, optionally for one action / actor / since an instant."""
        if since is not None:
            require_aware("since", since)
        if limit < 1:
            raise ValueError(f"limit must be at least 1; got {limit}")
        return await self._run(
            lambda conn, _now: audit.list_records(conn, limit=limit, action=action, since=since, actor=actor)
        )

    # --- plumbing ---------------------------------------------------------------------------------

    # --- dead letters (PostgreSQL state: shared by the replicas) ----------------------------------

    async def add_dead_letters(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Store dead letters (keys: ``deadletters.ROW_KEYS``) in one transaction; return how many."""
        return await self._run(lambda conn, _now: deadletters.add(conn, rows))

    async def list_dead_letters(self, *, sink: str | None = None, limit: int | None = None) -> list[DeadLetterRow]:
        """Stored dead letters, oldest first (``limit``: the newest ones)."""
        return await self._run(lambda conn, _now: deadletters.list_rows(conn, sink=sink, limit=limit))

    async def count_dead_letters(self, *, sink: str | None = None) -> int:
        """How many dead letters are stored (of ``sink``)."""
        return await self._run(lambda conn, _now: deadletters.count(conn, sink=sink))

    async def claim_dead_letters(
        self, owner: str, ttl: timedelta, *, sinks: Collection[str], sink: str | None = None
    ) -> list[DeadLetterRow]:
        """Claim the dead letters of ``sinks`` no other replay holds, until ``ttl`` from now."""
        require_name("owner", owner, MAX_OWNER_LENGTH)
        return await self._run(
            lambda conn, now: deadletters.claim(conn, now, owner=owner, ttl=ttl, sink=sink, sinks=sinks)
        )

    async def finish_dead_letters(
        self, owner: str, *, delivered: Collection[int], retried: Sequence[tuple[int, str, int, str]]
    ) -> None:
        """End a replay: delete the delivered rows, update and release the others (one transaction)."""
        await self._run(lambda conn, _now: deadletters.finish(conn, owner=owner, delivered=delivered, retried=retried))

    # --- action idempotency keys ----------------------------------------------------------------------

    async def claim_idempotency(
        self,
        caller: str,
        key: str,
        request_digest: str,
        *,
        ttl: timedelta = timedelta(hours=24),
        stale_after: timedelta = timedelta(minutes=10),
    ) -> IdempotencyClaim:
        """Claim ``key`` for ``caller`` (new), or report its stored answer, a body mismatch, or a run in progress.

        ``stale_after``: a claim still pending after this long belongs to a request that never
        finished (a crashed process); it is reported as abandoned, never run again.
        """
        require_name("idempotency caller", caller)
        require_idempotency_key(key)
        return await self._run(
            lambda conn, now: idempotency.claim(
                conn,
                now,
                caller=caller,
                key=key,
                request_digest=request_digest,
                ttl=ttl,
                stale_after=stale_after,
            )
        )

    async def complete_idempotency(self, caller: str, key: str, status: int, response: str) -> None:
        """Store the answer of a claimed key."""
        await self._run(
            lambda conn, _now: idempotency.complete(conn, caller=caller, key=key, status=status, response=response)
        )

    async def release_idempotency(self, caller: str, key: str) -> None:
        """Forget a pending claim whose request did nothing, so the same key can be used again."""
        await self._run(lambda conn, _now: idempotency.release(conn, caller=caller, key=key))

    async def prune_idempotency(self) -> int:
        """Delete expired idempotency keys; return how many."""
        return await self._run(idempotency.prune)

    def _cache_checkpoint(self, tenant: str, stream: str, value: datetime) -> None:
        with self._checkpoint_lock:
            self._checkpoint_cache[(tenant, stream)] = value

    def _migrate(self, migrations: Sequence[Migration]) -> MigrationReport:
        try:
            return migrate(self._engine, migrations)
        except SQLAlchemyError as exc:
            raise translate_error(exc, self._where) from exc

    def _transact(self, op: Callable[[Connection, datetime], T]) -> T:
        try:
            with self._engine.begin() as conn:
                now = self._clock() if self._clock is not None else database_now(conn)
                return op(conn, now)
        except SQLAlchemyError as exc:
            raise translate_error(exc, self._where) from exc

    async def _run(self, op: Callable[[Connection, datetime], T]) -> T:
        return await self._submit(self._transact, op)

    async def _submit(self, fn: Callable[[Any], T], arg: Any) -> T:
        if self._closed:
            raise StateStoreError("The state store is closed.")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, arg)


def _check_snapshot(snapshot: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse a snapshot that cannot be stored, before the commit starts (the message names the item)."""
    for item_id, item in snapshot.items():
        require_name("snapshot item id", item_id, 200)
        try:
            orjson.dumps(item)
        except TypeError as exc:
            raise ValueError(f"snapshot item {item_id!r} cannot be stored as JSON: {exc}") from None


def _key(tenant: str, stream: str, *, stream_length: int = 64) -> None:
    require_name("tenant", tenant)
    require_name("stream", stream, stream_length)
