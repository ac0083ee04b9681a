"""The state store: checkpoints, leases, seen ids, snapshots, backfill progress, the action audit and
(PostgreSQL state) dead letters.

SQLAlchemy 2 over SQLite (default, a file under the data dir) or PostgreSQL (production,
several replicas). Import from here only::

    store = await StateStore.open(settings.state_url())
    await store.commit_window(tenant, stream, window.end, owner=me, seen=[(e.event_id, e.timestamp) ...])

See docs/state.md for the schema, the lease and fencing rules and the clock assumption.

The store and its migrations (SQLAlchemy: ~0.15-0.2 CPU s and ~15 MB to import) load when first
named; the records, the errors and :func:`find_done_backfill_job` (the standard library's sqlite3) do
not need them, so a backfill whose job is already done never imports SQLAlchemy (issue 16).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    BackfillJobBusy,
    BackfillJobNotFound,
    BackfillWindowNotFound,
    InvalidBackfillTransition,
    LeaseLost,
    SchemaTooNew,
    StateStoreError,
    StateStoreUnavailable,
)
from .readonly import find_done_backfill_job
from .records import (
    BACKFILL_TRANSITIONS,
    AuditRecord,
    BackfillJob,
    BackfillStatus,
    BackfillWindow,
    CheckpointRow,
    DeadLetterRow,
    IdempotencyClaim,
    IdempotencyState,
    LeaseRow,
    WindowStatus,
    backfill_job_key,
    backfill_lease_key,
    count_windows,
    split_range,
)

if TYPE_CHECKING:
    from .migrations import MIGRATIONS, Migration, MigrationReport
    from .store import StateStore

#: Names imported on first use, and the module of each.
_LAZY = {
    "MIGRATIONS": "migrations",
    "Migration": "migrations",
    "MigrationReport": "migrations",
    "StateStore": "store",
}


def __getattr__(name: str) -> Any:
    """The store and the migrations, imported when first asked for (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BACKFILL_TRANSITIONS",
    "MIGRATIONS",
    "AuditRecord",
    "BackfillJob",
    "BackfillJobBusy",
    "BackfillJobNotFound",
    "BackfillStatus",
    "BackfillWindow",
    "BackfillWindowNotFound",
    "CheckpointRow",
    "DeadLetterRow",
    "IdempotencyClaim",
    "IdempotencyState",
    "InvalidBackfillTransition",
    "LeaseLost",
    "LeaseRow",
    "Migration",
    "MigrationReport",
    "SchemaTooNew",
    "StateStore",
    "StateStoreError",
    "StateStoreUnavailable",
    "WindowStatus",
    "backfill_job_key",
    "backfill_lease_key",
    "count_windows",
    "find_done_backfill_job",
    "split_range",
]
