"""Errors of the state store, grouped by what the caller should do about them.

* :class:`StateStoreUnavailable` - the database is down, unreachable or locked for too long. It is a
  :class:`~mimecast_siem.errors.TransientError`: back off and retry; nothing was committed.
* :class:`LeaseLost` - the caller no longer holds the lease of a (tenant, stream); stop working on it
  (another replica took it, or an operator moved the checkpoint). Nothing was committed.
* :class:`BackfillJobNotFound`, :class:`BackfillWindowNotFound`, :class:`InvalidBackfillTransition`,
  :class:`BackfillJobBusy` - the request names something that does not exist or is not allowed now.

Messages carry names and bounded values only, never the database URL's password.
"""

from __future__ import annotations

from mimecast_siem.errors import MimecastSiemError, TransientError


class StateStoreError(MimecastSiemError):
    """Base class of every error the state store raises on purpose."""


class StateStoreUnavailable(StateStoreError, TransientError):
    """The database could not be reached or refused the operation for a transient reason."""


class SchemaTooNew(StateStoreError):
    """The database was migrated by a newer release than this one; refusing to touch it."""


class LeaseLost(StateStoreError):
    """The caller's lease on ``(tenant, stream)`` expired or moved to another owner; nothing was committed.

    Attributes:
        tenant: tenant of the lease.
        stream: stream of the lease.
        owner: the caller that believed it held the lease.
        holder: who holds it now (``None`` when nobody does).
    """

    def __init__(self, tenant: str, stream: str, owner: str, holder: str | None, reason: str) -> None:
        super().__init__(f"Lease on {tenant}/{stream} is no longer held by {owner}: {reason}.")
        self.tenant = tenant
        self.stream = stream
        self.owner = owner
        self.holder = holder


class BackfillJobNotFound(StateStoreError, LookupError):
    """No backfill job has the given id."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"No backfill job has id {job_id}; see `mimecast-siem backfill list`.")
        self.job_id = job_id


class BackfillWindowNotFound(StateStoreError, LookupError):
    """The job has no window of that stream starting at that time."""


class BackfillJobBusy(StateStoreError):
    """Another live runner holds the job (its lease has not expired)."""


class InvalidBackfillTransition(StateStoreError, ValueError):
    """The job's status does not allow the requested change (e.g. cancelling a finished job)."""
