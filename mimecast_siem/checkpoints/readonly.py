"""A done backfill job read from a SQLite state file without SQLAlchemy (start-up, issue 16).

Re-running a backfill command whose job is done reads one row, but opening the store for it imports
SQLAlchemy (~0.15-0.2 CPU s and ~15 MB, more than the rest of that command). :func:`find_done_backfill_job`
answers that one question with the standard library's ``sqlite3`` (``query_only``), and answers ``None``
- "ask the store" - for everything else: another database, a file that does not exist yet or is at
another schema version (the store migrates it, or refuses a newer one), a job that is not there or
not done (creating it, or queueing a cancelled or failed one again, is a write), any error (the store
then reports it as it always did). ``done`` is final, so a row read outside the store's write
transaction cannot be stale.

The schema is not written down a second time: the row's columns are read by name (the same
:func:`~.records.backfill_job_from_row` the store uses), and each value is decoded by the type the
database declares for its column - SQLAlchemy creates ``UtcDateTime`` columns as ``DATETIME``,
stored as UTC text, and ``JSON`` columns as ``JSON``, stored as JSON text. A test compares what this
module reads with what the store returns for the same jobs, and :data:`SCHEMA_VERSION` with the last
migration.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson

from .records import BackfillJob, BackfillStatus, backfill_job_from_row, backfill_job_key, check_backfill_job

log = logging.getLogger("mimecast_siem.checkpoints")

#: The schema version this release migrates to: ``MIGRATIONS[-1].version`` (a test keeps them equal).
SCHEMA_VERSION = 6

#: How long to wait for a lock (a WAL reader waits only while another connection recovers the file).
_TIMEOUT_S = 1.0

_SQLITE_PREFIX = "sqlite:///"


def _utc(text: str) -> datetime:
    """A ``UtcDateTime`` as SQLAlchemy stores it on SQLite (``2026-12-07 18:24:00.000000``, UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


#: How a value is decoded, by the type its column declares (SQLite keeps the declaration as written).
_DECODERS: dict[str, Callable[[Any], Any]] = {"DATETIME": _utc, "JSON": orjson.loads}


def sqlite_file(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL (what ``Settings.state_url()`` gives by default).

    ``None`` for anything else - PostgreSQL, a driver name, a query string, percent-escapes, memory -
    which only the store (SQLAlchemy's URL parser) reads.
    """
    if not url.startswith(_SQLITE_PREFIX):
        return None
    path = url[len(_SQLITE_PREFIX) :]
    if not path or path == ":memory:" or any(c in path for c in "?#%"):
        return None
    return Path(path)


def find_done_backfill_job(  # noqa: PLR0917 - the order of StateStore.create_backfill_job
    url: str,
    tenant: str,
    streams: Sequence[str],
    since: datetime,
    until: datetime,
    window: timedelta,
    sinks: Sequence[str] = (),
) -> BackfillJob | None:
    """The done job :meth:`StateStore.create_backfill_job` would return for these arguments, or ``None``.

    ``None`` means "ask the store": this function reads only a SQLite file at this release's schema,
    and only answers for a job that is done. A short synchronous read (no thread): it runs before
    anything else is on the event loop.

    Raises:
        ValueError: what ``create_backfill_job`` raises for the same arguments.
    """
    check_backfill_job(tenant, streams, since, until, window, sinks)
    path = sqlite_file(url)
    if path is None or not path.is_file():
        return None
    try:
        row = _read_job(path, backfill_job_key(tenant, streams, since, until, sinks))
        job = None if row is None else backfill_job_from_row(row)
    except (sqlite3.Error, ValueError, TypeError, KeyError) as exc:  # the store will say what is wrong
        log.debug("Read-only look-up of a backfill job skipped: %s", type(exc).__name__)
        return None
    if job is None or job.status is not BackfillStatus.DONE:
        return None
    log_job(job, tenant)
    return job


def _read_job(path: Path, key: str) -> SimpleNamespace | None:
    """The ``backfill_jobs`` row with ``key``, its values decoded; ``None`` unless the schema is this release's."""
    # mode=rw, not ro: never creates the file, and as the last connection to close it removes the
    # -wal and -shm files as the store's connections do (a read-only one would leave them behind);
    # query_only refuses any write.
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=_TIMEOUT_S)
    try:
        conn.execute("PRAGMA query_only=ON")
        version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            return None
        cursor = conn.execute("SELECT * FROM backfill_jobs WHERE job_key = ?", (key,))
        values = cursor.fetchone()
        if values is None:
            return None
        names = [column[0] for column in cursor.description]
        declared = {row[1]: str(row[2]).upper() for row in conn.execute("PRAGMA table_info(backfill_jobs)")}
    finally:
        conn.close()
    decoded = {}
    for name, value in zip(names, values, strict=True):
        decode = _DECODERS.get(declared[name])
        decoded[name] = decode(value) if decode is not None and value is not None else value
    return SimpleNamespace(**decoded)


def log_job(job: BackfillJob, tenant: str) -> None:
    """Log the job a backfill command found or created (the store and this module say it alike)."""
    log.info(
        "Backfill job %d for %s is %s (%d of %d windows done).",
        job.id,
        tenant,
        job.status.value,
        job.windows_done,
        job.windows_total,
        extra={"tenant": tenant, "job_id": job.id},
    )
