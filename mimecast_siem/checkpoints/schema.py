"""Table definitions (SQLAlchemy Core) of the current schema version.

The migrations in :mod:`.migrations` create exactly these tables; a test reflects a migrated
database and compares it with this module so the two never drift apart.

Every time column is :class:`UtcDateTime`: ``timestamp with time zone`` on PostgreSQL, an ISO text
in UTC on SQLite (which has no time type; fixed-width UTC text sorts and compares correctly), and an
aware UTC ``datetime`` in Python on both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from .records import MAX_EVENT_ID_LENGTH, MAX_NAME_LENGTH, MAX_OWNER_LENGTH


class UtcDateTime(TypeDecorator[datetime]):
    """An instant: refuses naive datetimes on the way in, returns aware UTC datetimes on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given where a UTC-aware one is required")
        value = value.astimezone(UTC)
        # SQLite stores text; strip the offset so every stored value has the same width and sorts.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers always give datetimes
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _name(column: str) -> Column[str]:
    return Column(column, String(MAX_NAME_LENGTH), nullable=False)


#: Constraint names are spelled out so PostgreSQL and SQLite agree and later migrations can name them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", UtcDateTime, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    _name("tenant"),
    _name("stream"),
    Column("window_end", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", String(MAX_OWNER_LENGTH), nullable=True),
    PrimaryKeyConstraint("tenant", "stream"),
)

leases = Table(
    "leases",
    metadata,
    _name("tenant"),
    Column("stream", String(MAX_NAME_LENGTH + 32), nullable=False),  # room for backfill/<job id>
    # NULL owner = released; the row stays so the fencing epoch never goes back to 1.
    Column("owner", String(MAX_OWNER_LENGTH), nullable=True),
    Column("epoch", BigInteger, nullable=False),
    Column("acquired_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant", "stream"),
    Index(None, "owner"),
)

#: Keyed by time before id (migration 6): a live stream adds one row per delivered event, in time
#: order, so its rows are appended at the end of the key instead of scattered over it by the random
#: ids (each commit dirtied about one index page per row: ~5x the CPU and WAL writes on SQLite). A
#: lookup by id names the time range the ids lie in (``seen_ids(between=...)``). On SQLite the table
#: is the key (WITHOUT ROWID): one b-tree instead of a table and its key index.
seen_ids = Table(
    "seen_ids",
    metadata,
    _name("tenant"),
    _name("stream"),
    Column("event_id", String(MAX_EVENT_ID_LENGTH), nullable=False),
    Column("event_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant", "stream", "event_time", "event_id"),
    Index(None, "event_time"),  # pruning scans by time
    sqlite_with_rowid=False,
)

snapshots = Table(
    "snapshots",
    metadata,
    _name("tenant"),
    _name("stream"),
    Column("item_id", String(200), nullable=False),
    Column("item", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant", "stream", "item_id"),
)

backfill_jobs = Table(
    "backfill_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_key", String(64), nullable=False),
    _name("tenant"),
    Column("streams", JSON, nullable=False),
    Column("since", UtcDateTime, nullable=False),
    Column("until", UtcDateTime, nullable=False),
    Column("window_seconds", BigInteger, nullable=False),
    Column("sinks", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("owner", String(MAX_OWNER_LENGTH), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("windows_total", BigInteger, nullable=False),
    Column("windows_done", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("error", Text, nullable=True),
    UniqueConstraint("job_key"),
    Index(None, "status", "id"),
)

backfill_windows = Table(
    "backfill_windows",
    metadata,
    Column("job_id", Integer, nullable=False),
    _name("stream"),
    Column("start", UtcDateTime, nullable=False),
    Column("end", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("job_id", "stream", "start"),
    ForeignKeyConstraint(["job_id"], ["backfill_jobs.id"], ondelete="CASCADE"),
    Index(None, "job_id", "status", "stream", "start"),
)

action_audit = Table(
    "action_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(MAX_NAME_LENGTH), nullable=False),
    Column("action", String(128), nullable=False),
    Column("tenant", String(MAX_NAME_LENGTH), nullable=True),
    Column("param_digest", String(128), nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("mimecast_status", Integer, nullable=True),
    Column("duration_ms", BigInteger, nullable=False),
    Column("error_code", String(64), nullable=True),
    Column("channel", String(8), nullable=True),
    Column("client", String(64), nullable=True),
    Column("items", Text, nullable=True),
    Index(None, "at"),
    Index(None, "action", "at"),
)

#: Idempotency keys of the action API: one row per (caller, key); the stored answer is replayed for
#: a repeated key until ``expires_at``. ``state`` is ``pending`` while the first request runs.
action_idempotency = Table(
    "action_idempotency",
    metadata,
    Column("caller", String(MAX_NAME_LENGTH), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_digest", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("status", Integer, nullable=True),
    Column("response", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("caller", "key"),
    Index(None, "expires_at"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    _name("sink"),
    _name("tenant"),
    _name("stream"),
    Column("event_id", String(MAX_EVENT_ID_LENGTH), nullable=False),
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    # The whole entry as the dead-letter file's JSON line (event included), so a replay sends exactly it.
    Column("entry", Text, nullable=False),
    # A replay in progress: rows claimed until this time are skipped by other replays (at-least-once).
    Column("claimed_by", String(MAX_OWNER_LENGTH), nullable=True),
    Column("claimed_until", UtcDateTime, nullable=True),
    Index(None, "sink", "id"),
)
