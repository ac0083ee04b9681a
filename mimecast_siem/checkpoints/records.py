"""Values the state store takes and returns, and the pure rules behind them.

Everything here is plain data and pure functions (no database): status transitions of backfill jobs,
how a backfill range is cut into windows, the idempotency key of a backfill job, what an audit
record may hold. The store applies these rules inside its transactions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson

#: Longest tenant / stream name the store accepts (config limits tenant names far below this).
MAX_NAME_LENGTH = 64
#: Longest lease owner id (``<hostname>-<pid>`` or a configured instance id).
MAX_OWNER_LENGTH = 200
#: Longest event id (``stable_event_id`` gives 32 hex characters).
MAX_EVENT_ID_LENGTH = 128
#: A single backfill job may not materialise more windows than this (pick a larger window instead).
MAX_BACKFILL_WINDOWS = 1_000_000
#: Error text stored on a failed backfill job is cut to this many characters.
MAX_ERROR_TEXT = 500


def require_aware(name: str, value: datetime) -> datetime:
    """Return ``value`` if it is timezone-aware, else raise ``ValueError`` naming the argument."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime; got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware UTC datetime; got naive {value.isoformat()}")
    return value


def require_name(name: str, value: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """Return ``value`` if it is a non-empty string of at most ``max_length`` characters."""
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise ValueError(f"{name} must be a non-empty string of at most {max_length} characters; got {value!r:.80}")
    return value


def require_positive(name: str, value: timedelta) -> timedelta:
    """Return ``value`` if it is a positive duration."""
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ValueError(f"{name} must be a positive duration; got {value!r}")
    return value


# --- checkpoints and leases ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    """The committed position of one (tenant, stream).

    Attributes:
        tenant: tenant name.
        stream: stream name.
        window_end: end of the last fully delivered window (the next window starts here).
        updated_at: when the checkpoint last moved (database clock).
        updated_by: lease owner or operator that moved it, if known.
    """

    tenant: str
    stream: str
    window_end: datetime
    updated_at: datetime
    updated_by: str | None


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """Who polls one (tenant, stream), until when.

    Attributes:
        tenant: tenant name.
        stream: stream name (or ``backfill/<job id>`` for a backfill job's lease).
        owner: lease holder id.
        epoch: fencing token; grows by one each time the lease changes hands or is re-taken after
            expiry, never reused for the same key.
        acquired_at: start of the current term.
        expires_at: the lease is free after this instant unless renewed.
    """

    tenant: str
    stream: str
    owner: str
    epoch: int
    acquired_at: datetime
    expires_at: datetime

    def held_at(self, now: datetime) -> bool:
        """True when the lease is still valid at ``now``."""
        return now < self.expires_at


# --- backfill -----------------------------------------------------------------------------------


class BackfillStatus(StrEnum):
    """Life cycle of a backfill job."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class WindowStatus(StrEnum):
    """Progress of one backfill window."""

    PENDING = "pending"
    DONE = "done"


#: Allowed status changes of a backfill job (``from -> {to}``). ``done`` is final: a range delivered
#: once is re-pulled by a new job (different sinks or range), not by reviving the old one.
BACKFILL_TRANSITIONS: Mapping[BackfillStatus, frozenset[BackfillStatus]] = {
    BackfillStatus.QUEUED: frozenset({BackfillStatus.RUNNING, BackfillStatus.CANCELLED, BackfillStatus.DONE}),
    BackfillStatus.RUNNING: frozenset(
        {
            BackfillStatus.RUNNING,
            BackfillStatus.QUEUED,
            BackfillStatus.DONE,
            BackfillStatus.CANCELLED,
            BackfillStatus.FAILED,
        }
    ),
    BackfillStatus.FAILED: frozenset({BackfillStatus.QUEUED, BackfillStatus.RUNNING, BackfillStatus.CANCELLED}),
    BackfillStatus.CANCELLED: frozenset({BackfillStatus.QUEUED}),
    BackfillStatus.DONE: frozenset(),
}


def transition_allowed(current: BackfillStatus, wanted: BackfillStatus) -> bool:
    """True when a job in ``current`` may move to ``wanted``."""
    return wanted in BACKFILL_TRANSITIONS[current]


@dataclass(frozen=True, slots=True)
class BackfillJob:
    """A resumable backfill of one tenant's streams over ``[since, until)``.

    Attributes:
        id: job id (shown by ``backfill list``, used by ``backfill cancel``).
        key: idempotency key: the same (tenant, streams, since, until, sinks) gives the same job.
        tenant: tenant name.
        streams: stream names, sorted.
        since: start of the range (inclusive).
        until: end of the range (exclusive).
        window: window size the range was cut into.
        sinks: sink names, sorted; empty means "every sink the routes select".
        status: life-cycle status.
        owner: the runner that last claimed the job, if any.
        created_at: when the job was created.
        updated_at: when anything about the job last changed (database clock).
        windows_total: number of windows over all streams.
        windows_done: windows delivered so far.
        events: events delivered so far.
        error: why the job failed (``failed`` only).
    """

    id: int
    key: str
    tenant: str
    streams: tuple[str, ...]
    since: datetime
    until: datetime
    window: timedelta
    sinks: tuple[str, ...]
    status: BackfillStatus
    owner: str | None
    created_at: datetime
    updated_at: datetime
    windows_total: int
    windows_done: int
    events: int
    error: str | None = None

    @property
    def finished(self) -> bool:
        """True when no runner should work on the job any more."""
        return self.status in (BackfillStatus.DONE, BackfillStatus.CANCELLED)

    @property
    def lease_key(self) -> tuple[str, str]:
        """The (tenant, stream) key of the lease a runner holds while it works on this job."""
        return backfill_lease_key(self.tenant, self.id)


@dataclass(frozen=True, slots=True)
class BackfillWindow:
    """One window of one stream of a backfill job."""

    job_id: int
    stream: str
    start: datetime
    end: datetime
    status: WindowStatus
    events: int
    updated_at: datetime


def backfill_lease_key(tenant: str, job_id: int) -> tuple[str, str]:
    """The lease key that makes one runner at a time work on backfill job ``job_id``."""
    return (tenant, f"backfill/{job_id}")


def backfill_job_key(
    tenant: str, streams: Collection[str], since: datetime, until: datetime, sinks: Collection[str]
) -> str:
    """Idempotency key of a backfill job: hex SHA-256 of its canonical (tenant, streams, since, until, sinks).

    Stream and sink order and repetition do not matter; instants compare in UTC, so the same range
    written with another offset gives the same key. The window size is deliberately not part of the
    key: re-running a command with another ``--window`` resumes the existing job.
    """
    canonical = {
        "tenant": tenant,
        "streams": sorted(set(streams)),
        "since": _utc_iso(since),
        "until": _utc_iso(until),
        "sinks": sorted(set(sinks)),
    }
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check_backfill_job(  # noqa: PLR0917 - the order of StateStore.create_backfill_job
    tenant: str,
    streams: Sequence[str],
    since: datetime,
    until: datetime,
    window: timedelta,
    sinks: Sequence[str],
) -> None:
    """Raise ``ValueError`` (``TypeError`` for a non-datetime) unless this describes a backfill job.

    What :meth:`StateStore.create_backfill_job` checks before its transaction, and what
    :func:`~.readonly.find_done_backfill_job` checks before it reads: the same input fails the same way
    whether or not a done job answers it.
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
    total = count_windows(since, until, window) * len(set(streams))
    if total > MAX_BACKFILL_WINDOWS:
        raise ValueError(
            f"window {window} cuts this range into {total} windows (over {MAX_BACKFILL_WINDOWS}); use a larger window"
        )


def backfill_job_from_row(row: Any) -> BackfillJob:
    """A :class:`BackfillJob` from a ``backfill_jobs`` row (any object with the columns as attributes)."""
    return BackfillJob(
        id=int(row.id),
        key=row.job_key,
        tenant=row.tenant,
        streams=tuple(row.streams),
        since=row.since,
        until=row.until,
        window=timedelta(seconds=int(row.window_seconds)),
        sinks=tuple(row.sinks),
        status=BackfillStatus(row.status),
        owner=row.owner,
        created_at=row.created_at,
        updated_at=row.updated_at,
        windows_total=int(row.windows_total),
        windows_done=int(row.windows_done),
        events=int(row.events),
        error=row.error,
    )


def count_windows(since: datetime, until: datetime, window: timedelta) -> int:
    """Number of windows :func:`split_range` yields (without materialising them)."""
    if until <= since:
        return 0
    span = until - since
    return -(-span // window)  # ceiling division of timedeltas


def split_range(since: datetime, until: datetime, window: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """Cut ``[since, until)`` into contiguous ``[start, end)`` windows of ``window``; the last may be shorter.

    A generator, so a long range never sits in memory.
    """
    require_positive("window", window)
    start = since
    while start < until:
        end = min(start + window, until)
        yield (start, end)
        start = end


# --- action audit -------------------------------------------------------------------------------

_DIGEST_RE = re.compile(r"^[0-9a-f]{16,128}$")
_CODE_RE = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
_OUTCOME_RE = re.compile(r"^[a-z_]{1,32}$")
_CLIENT_RE = re.compile(r"^[A-Za-z0-9.:%_-]{1,64}$")
_ITEM_KEYS = frozenset({"item", "outcome", "code"})
#: Most per-item results kept in one audit record (a batch is at most a few hundred items).
MAX_AUDIT_ITEMS = 1000


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One response-action call, allowed or refused. Never holds parameters, secrets or tokens.

    Attributes:
        at: when the call was made (UTC-aware).
        actor: who made it: the token's configured name (``cli`` or ``cli:<user>`` from a terminal).
        action: action name (kebab-case catalogue name).
        tenant: tenant acted on, if one was resolved.
        param_digest: hex digest of the parameters (16-128 lowercase hex characters; the actions room
            computes it), never the parameters themselves.
        dry_run: True when the request was only rendered, not sent.
        outcome: short lowercase word: ``ok``, ``dry_run``, ``unauthorized``, ``forbidden``,
            ``invalid``, ``refused``, ``error`` ...
        duration_ms: wall time of the call in milliseconds.
        mimecast_status: HTTP status Mimecast answered, if a request was sent.
        error_code: bounded error code (Mimecast ``fail`` code or our own), if any.
        channel: how the call came in: ``cli`` or ``http``.
        client: the caller's address (HTTP) or ``local`` (CLI), if known.
        items: per-item results of a batch (``[{"item": 0, "outcome": "ok"}, {"item": 1, "outcome":
            "failed", "code": "err_..."}]``) - positions and codes only, never values.
        id: row id, set on records read back from the store.
    """

    at: datetime
    actor: str
    action: str
    param_digest: str
    outcome: str
    dry_run: bool = False
    tenant: str | None = None
    duration_ms: int = 0
    mimecast_status: int | None = None
    error_code: str | None = None
    channel: str | None = None
    client: str | None = None
    items: list[dict[str, Any]] | None = None
    id: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        require_aware("AuditRecord.at", self.at)
        require_name("AuditRecord.actor", self.actor)
        require_name("AuditRecord.action", self.action, max_length=128)
        if self.tenant is not None:
            require_name("AuditRecord.tenant", self.tenant)
        # Narrow formats keep free text (and so anything secret a caller might pass by mistake) out.
        if not _DIGEST_RE.match(self.param_digest):
            raise ValueError(
                "AuditRecord.param_digest must be 16-128 lowercase hex characters (use audit_param_digest)"
            )
        if not _OUTCOME_RE.match(self.outcome):
            raise ValueError(
                f"AuditRecord.outcome must be a short lowercase word such as ok or forbidden; got {self.outcome!r:.40}"
            )
        if self.error_code is not None and not _CODE_RE.match(self.error_code):
            raise ValueError("AuditRecord.error_code must be 1-64 characters of letters, digits and _.:/-")
        if self.duration_ms < 0:
            raise ValueError(f"AuditRecord.duration_ms must be >= 0; got {self.duration_ms}")
        if self.channel is not None and self.channel not in ("cli", "http"):
            raise ValueError(f"AuditRecord.channel must be cli or http; got {self.channel!r:.20}")
        if self.client is not None and not _CLIENT_RE.match(self.client):
            raise ValueError("AuditRecord.client must be an address: 1-64 characters of letters, digits and .:%_-")
        if self.items is not None and (
            len(self.items) > MAX_AUDIT_ITEMS or not all(set(i) <= _ITEM_KEYS for i in self.items)
        ):
            raise ValueError(f"AuditRecord.items must be at most {MAX_AUDIT_ITEMS} entries of item, outcome, code")
        if self.mimecast_status is not None and not 100 <= self.mimecast_status <= 599:
            raise ValueError(
                f"AuditRecord.mimecast_status must be an HTTP status (100-599); got {self.mimecast_status}"
            )


def _utc_iso(value: datetime) -> str:
    return require_aware("datetime", value).astimezone(UTC).isoformat()


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """A dead letter stored in the state store (PostgreSQL state); ``entry`` is the whole entry as JSON text."""

    id: int
    at: datetime
    sink: str
    tenant: str
    stream: str
    event_id: str
    reason: str
    attempts: int
    entry: str


# --- idempotency keys ------------------------------------------------------------------------------

_IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


class IdempotencyState(StrEnum):
    """What claiming an idempotency key found."""

    NEW = "new"  # claimed: run the request, then complete (or release) the key
    REPLAY = "replay"  # a finished request with the same key and body: return its stored answer
    MISMATCH = "mismatch"  # the key was used with a different request body
    BUSY = "busy"  # the first request with this key is still running
    ABANDONED = "abandoned"  # the first request never finished (a crash): its outcome is unknown


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """The answer of :meth:`StateStore.claim_idempotency`."""

    state: IdempotencyState
    status: int | None = None
    response: str | None = None
    created_at: datetime | None = None


def require_idempotency_key(key: str) -> str:
    """Check an ``Idempotency-Key``: 1-255 visible ASCII characters (no spaces or control characters)."""
    if not isinstance(key, str) or not _IDEMPOTENCY_KEY_RE.match(key):
        raise ValueError("an idempotency key is 1-255 visible ASCII characters (no spaces), such as a UUID")
    return key
