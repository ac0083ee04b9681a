"""Versioned schema: an ordered list of migration steps applied at :meth:`StateStore.open`.

``schema_version`` holds one row per applied step. :func:`migrate` runs every step newer than the
database's version, in order, in ONE transaction: a failure leaves the database at its old version.
On PostgreSQL the transaction first takes a transaction-level advisory lock, so several replicas
starting at once against one database migrate it exactly once (the others wait, then see the new
version and apply nothing). SQLite serialises writers on its own (``BEGIN IMMEDIATE``).

Rules for adding a step (see docs/state.md): append, never edit or reorder released steps; write
DDL that runs on both PostgreSQL and SQLite; update :mod:`.schema` to the new shape in the same
commit (a test compares a migrated database with it), and :data:`.readonly.SCHEMA_VERSION` (a test
compares it with the last step).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    func,
    insert,
    select,
    text,
)

from . import schema
from .errors import SchemaTooNew
from .records import MAX_EVENT_ID_LENGTH, MAX_NAME_LENGTH

log = logging.getLogger("mimecast_siem.checkpoints")

#: Key of the PostgreSQL advisory lock that serialises migrations ("mimecast" in ASCII).
MIGRATION_LOCK_KEY = 0x6D696D6563617374


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step.

    Attributes:
        version: position in the sequence, starting at 1, without gaps.
        description: what the step does (stored in ``schema_version``).
        upgrade: applies the step on a connection inside the migration transaction.
    """

    version: int
    description: str
    upgrade: Callable[[Connection], None]


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What :func:`migrate` did: the version before and after, and the steps it applied."""

    from_version: int
    to_version: int
    applied: tuple[int, ...]


def _create(*tables: Table) -> Callable[[Connection], None]:
    def upgrade(conn: Connection) -> None:
        for table in tables:
            table.create(conn)

    return upgrade


def _action_audit_v3() -> Table:
    """``action_audit`` as step 3 created it (frozen: step 4 adds columns to it)."""
    frozen = MetaData(naming_convention=schema.metadata.naming_convention)
    return Table(
        "action_audit",
        frozen,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", schema.UtcDateTime, nullable=False),
        Column("actor", String(MAX_NAME_LENGTH), nullable=False),
        Column("action", String(128), nullable=False),
        Column("tenant", String(MAX_NAME_LENGTH), nullable=True),
        Column("param_digest", String(128), nullable=False),
        Column("dry_run", Boolean, nullable=False),
        Column("outcome", String(32), nullable=False),
        Column("mimecast_status", Integer, nullable=True),
        Column("duration_ms", BigInteger, nullable=False),
        Column("error_code", String(64), nullable=True),
        Index(None, "at"),
        Index(None, "action", "at"),
    )


def _seen_ids_v1() -> Table:
    """``seen_ids`` as step 1 created it (frozen: step 6 keys it by time)."""
    frozen = MetaData(naming_convention=schema.metadata.naming_convention)
    return Table(
        "seen_ids",
        frozen,
        Column("tenant", String(MAX_NAME_LENGTH), nullable=False),
        Column("stream", String(MAX_NAME_LENGTH), nullable=False),
        Column("event_id", String(MAX_EVENT_ID_LENGTH), nullable=False),
        Column("event_time", schema.UtcDateTime, nullable=False),
        PrimaryKeyConstraint("tenant", "stream", "event_id"),
        Index(None, "event_time"),
    )


def _seen_ids_by_time(conn: Connection) -> None:
    """Re-create ``seen_ids`` keyed by (tenant, stream, event_time, event_id) and keep its rows."""
    conn.execute(text("DROP INDEX ix_seen_ids_event_time"))
    conn.execute(text("ALTER TABLE seen_ids RENAME TO seen_ids_v1"))
    if conn.dialect.name == "postgresql":
        # The renamed table keeps its key's name; the new table's key takes it.
        conn.execute(text("ALTER TABLE seen_ids_v1 DROP CONSTRAINT pk_seen_ids"))
    schema.seen_ids.create(conn)
    conn.execute(
        text(
            "INSERT INTO seen_ids (tenant, stream, event_id, event_time) "
            "SELECT tenant, stream, event_id, event_time FROM seen_ids_v1"
        )
    )
    conn.execute(text("DROP TABLE seen_ids_v1"))


def _audit_v2(conn: Connection) -> None:
    for column, kind in (("channel", "VARCHAR(8)"), ("client", "VARCHAR(64)"), ("items", "TEXT")):
        conn.execute(text(f"ALTER TABLE action_audit ADD COLUMN {column} {kind}"))
    schema.action_idempotency.create(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "checkpoints, leases, seen ids and snapshots",
        _create(schema.checkpoints, schema.leases, _seen_ids_v1(), schema.snapshots),
    ),
    Migration(2, "backfill jobs and windows", _create(schema.backfill_jobs, schema.backfill_windows)),
    Migration(3, "action audit", _create(_action_audit_v3())),
    Migration(4, "action audit channel, client and items; action idempotency keys", _audit_v2),
    Migration(5, "dead letters (shared by replicas on PostgreSQL)", _create(schema.dead_letters)),
    Migration(6, "seen ids keyed by event time, then id (appended in order)", _seen_ids_by_time),
)


def check_sequence(migrations: Sequence[Migration]) -> None:
    """Raise ``ValueError`` unless versions run 1, 2, 3 ... without gaps or repeats."""
    for expected, step in enumerate(migrations, start=1):
        if step.version != expected:
            raise ValueError(f"migration {step.description!r} has version {step.version}; expected {expected}")


def current_version(conn: Connection) -> int:
    """The highest applied version, or 0 for an empty database."""
    if not conn.dialect.has_table(conn, schema.schema_version.name):
        return 0
    return int(conn.execute(select(func.coalesce(func.max(schema.schema_version.c.version), 0))).scalar_one())


def migrate(engine: Engine, migrations: Sequence[Migration] = MIGRATIONS) -> MigrationReport:
    """Bring the database to the last version of ``migrations``; idempotent and safe to run concurrently.

    Raises:
        SchemaTooNew: the database is at a version this release does not know.
    """
    check_sequence(migrations)
    latest = migrations[-1].version if migrations else 0
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Held until commit; the waiting replicas then read the version this one wrote.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        schema.schema_version.create(conn, checkfirst=True)
        before = current_version(conn)
        if before > latest:
            raise SchemaTooNew(
                f"The state database is at schema version {before}, newer than this release knows ({latest}); "
                "upgrade mimecast-siem or point state.url at another database."
            )
        applied: list[int] = []
        for step in migrations[before:]:
            log.info("Applying state schema migration %d: %s.", step.version, step.description)
            step.upgrade(conn)
            conn.execute(
                insert(schema.schema_version).values(
                    version=step.version, description=step.description, applied_at=datetime.now(UTC)
                )
            )
            applied.append(step.version)
    return MigrationReport(from_version=before, to_version=max(before, latest), applied=tuple(applied))
