"""The state store: checkpoints, leases, seen ids, snapshots, backfill progress, the action audit and
(PostgreSQL state) dead letters.

SQLAlchemy 2 over SQLite (default, a file under the data dir) or PostgreSQL (production,
several replicas). Import from here only::

    store = await StateStore.open(settings.state_url())
    await store.commit_window(tenant, stream, window.end, owner=me, seen=[(e.event_id, e.timestamp) ...])

See docs/state.md for the schema, the lease and fencing rules and the clock assumption.
"""

from __future__ import annotations

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
from .migrations import MIGRATIONS, Migration, MigrationReport
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
from .store import StateStore

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
    "split_range",
]
