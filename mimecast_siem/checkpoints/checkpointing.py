"""Checkpoint, seen-id and snapshot operations (synchronous; each runs inside the caller's transaction)."""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, String, any_, bindparam, delete, insert, literal, select

from . import leasing, schema
from .records import CheckpointRow
from .sql import BATCH_SIZE, chunked, upsert

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

log = logging.getLogger("mimecast_siem.checkpoints")

_cp = schema.checkpoints
_seen = schema.seen_ids
_snap = schema.snapshots

#: Ids per ``= ANY(array)`` lookup on PostgreSQL.
_PG_ARRAY_BATCH = 10_000


def get_checkpoint(conn: Connection, tenant: str, stream: str) -> datetime | None:
    """The committed window end of (tenant, stream), or ``None`` before its first commit."""
    value: datetime | None = conn.execute(
        select(_cp.c.window_end).where(_cp.c.tenant == tenant, _cp.c.stream == stream)
    ).scalar_one_or_none()
    return value


def list_checkpoints(conn: Connection) -> list[CheckpointRow]:
    """Every checkpoint, ordered by tenant and stream."""
    rows = conn.execute(select(_cp).order_by(_cp.c.tenant, _cp.c.stream))
    return [
        CheckpointRow(
            tenant=r.tenant, stream=r.stream, window_end=r.window_end, updated_at=r.updated_at, updated_by=r.updated_by
        )
        for r in rows
    ]


def advance_checkpoint(
    conn: Connection, now: datetime, tenant: str, stream: str, *, end: datetime, by: str | None
) -> datetime:
    """Move the checkpoint forward to ``end`` (never backwards); return the checkpoint after the move."""
    stmt = upsert(conn, _cp).values(tenant=tenant, stream=stream, window_end=end, updated_at=now, updated_by=by)
    new = stmt.excluded
    forward = stmt.on_conflict_do_update(
        index_elements=[_cp.c.tenant, _cp.c.stream],
        set_={"window_end": new.window_end, "updated_at": new.updated_at, "updated_by": new.updated_by},
        where=_cp.c.window_end < new.window_end,
    ).returning(_cp.c.window_end)
    moved: datetime | None = conn.execute(forward).scalar_one_or_none()
    if moved is not None:
        return moved
    kept = get_checkpoint(conn, tenant, stream)
    assert kept is not None  # the upsert found a row, or it would have inserted one
    if kept > end:
        log.warning(
            "Checkpoint of %s/%s stays at %s: a commit asked to move it back to %s.",
            tenant,
            stream,
            kept.isoformat(),
            end.isoformat(),
            extra={"tenant": tenant, "stream": stream},
        )
    return kept


def commit_window(
    conn: Connection,
    now: datetime,
    tenant: str,
    stream: str,
    end: datetime,
    *,
    owner: str | None,
    epoch: int | None,
    seen: Sequence[tuple[str, datetime]],
    snapshot: Mapping[str, Mapping[str, Any]] | None,
) -> datetime:
    """The whole commit of one delivered window; the caller's transaction makes it all-or-nothing."""
    if owner is not None:
        leasing.check_held(conn, tenant, stream, owner=owner, epoch=epoch)
    checkpoint = advance_checkpoint(conn, now, tenant, stream, end=end, by=owner)
    add_seen(conn, tenant, stream, seen)
    if snapshot is not None:
        replace_snapshot(conn, now, tenant, stream, snapshot)
    return checkpoint


def set_checkpoint(
    conn: Connection, now: datetime, tenant: str, stream: str, *, when: datetime, by: str | None
) -> datetime | None:
    """Put the checkpoint at ``when`` (backwards too); return the previous value.

    Seen ids at or after ``when`` are forgotten so the events re-read from there are delivered again
    (that is why an operator moves a checkpoint back), and whoever holds the lease is fenced out:
    its next commit raises ``LeaseLost`` instead of overwriting the operator's choice.
    """
    # Lease row first, then the checkpoint: the same lock order as commit_window (no deadlock).
    leasing.fence(conn, now, tenant, stream)
    previous = get_checkpoint(conn, tenant, stream)
    stmt = upsert(conn, _cp).values(tenant=tenant, stream=stream, window_end=when, updated_at=now, updated_by=by)
    new = stmt.excluded
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[_cp.c.tenant, _cp.c.stream],
            set_={"window_end": new.window_end, "updated_at": new.updated_at, "updated_by": new.updated_by},
        )
    )
    conn.execute(delete(_seen).where(_seen.c.tenant == tenant, _seen.c.stream == stream, _seen.c.event_time >= when))
    return previous


def reset_checkpoint(conn: Connection, now: datetime, tenant: str, stream: str) -> datetime | None:
    """Forget the checkpoint, seen ids and snapshot of (tenant, stream); return the previous checkpoint.

    The next run starts at the stream's configured ``start_from``; the lease holder is fenced out.
    """
    leasing.fence(conn, now, tenant, stream)  # lease row first, as everywhere
    previous = get_checkpoint(conn, tenant, stream)
    for table in (_cp, _seen, _snap):
        conn.execute(delete(table).where(table.c.tenant == tenant, table.c.stream == stream))
    return previous


# --- seen ids -----------------------------------------------------------------------------------


def add_seen(conn: Connection, tenant: str, stream: str, seen: Sequence[tuple[str, datetime]]) -> None:
    """Record delivered event ids; ids already recorded are left as they are.

    A live stream stores one row per delivered event, so on SQLite the rows go to the driver as
    tuples with the time already in SQLAlchemy's stored text (:func:`sqlite_time`): SQLAlchemy's
    per-row parameter processing cost about a quarter of the insert. Sorted by the key (time, id),
    the rows reach the table in its order - for a live stream at its end.
    """
    if not seen:
        return
    if conn.dialect.name == "sqlite":
        rows = sorted(((tenant, stream, eid, sqlite_time(when)) for eid, when in seen), key=_row_key)
        conn.exec_driver_sql(_sqlite_seen_insert(conn.dialect), rows)
        return
    dicts = ({"tenant": tenant, "stream": stream, "event_id": eid, "event_time": when} for eid, when in seen)
    for batch in chunked(dicts):
        conn.execute(upsert(conn, _seen).on_conflict_do_nothing(), batch)


def sqlite_time(when: datetime) -> str:
    """An instant as ``schema.UtcDateTime`` stores it in SQLite: naive UTC text, microseconds, sortable."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"naive datetime {when.isoformat()} given where a UTC-aware one is required")
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


_row_key = operator.itemgetter(3, 2)


@functools.cache
def _sqlite_seen_insert(dialect: Dialect) -> str:
    """The seen-id INSERT ... ON CONFLICT DO NOTHING in SQLite's SQL, positional in the table's column order."""
    from sqlalchemy.dialects import sqlite  # loaded by the SQLite engine already

    columns = [_seen.c.tenant, _seen.c.stream, _seen.c.event_id, _seen.c.event_time]
    statement = sqlite.insert(_seen).values({column.name: bindparam(column.name) for column in columns})
    return str(statement.on_conflict_do_nothing().compile(dialect=dialect))


def seen_ids(
    conn: Connection,
    tenant: str,
    stream: str,
    ids: Collection[str],
    between: tuple[datetime, datetime] | None = None,
) -> set[str]:
    """The subset of ``ids`` already delivered for (tenant, stream).

    ``between`` (inclusive) is the range of event times the ids were stored with: the rows are keyed
    by time first, so with it the lookup reads that range of the key; without it, every row of the
    stream (for ids whose time is not known).
    """
    found: set[str] = set()
    bounds = []
    if between is not None:
        bounds = [_seen.c.event_time >= between[0], _seen.c.event_time <= between[1]]
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        from sqlalchemy.dialects.postgresql import ARRAY  # loaded by a PostgreSQL engine already
    for batch in chunked(set(ids), _PG_ARRAY_BATCH if postgres else BATCH_SIZE):
        # PostgreSQL: one array parameter (= ANY) keeps one cached, index-using plan; a long IN list
        # of separate parameters was ~10x slower and could fall into a bad generic plan.
        match = _seen.c.event_id == any_(literal(batch, ARRAY(String))) if postgres else _seen.c.event_id.in_(batch)
        stmt = select(_seen.c.event_id).where(_seen.c.tenant == tenant, _seen.c.stream == stream, *bounds, match)
        found.update(conn.execute(stmt).scalars())
    return found


def prune_seen(conn: Connection, older_than: datetime) -> int:
    """Delete seen ids whose event time is before ``older_than``; return how many went."""
    return conn.execute(delete(_seen).where(_seen.c.event_time < older_than)).rowcount


def prune_seen_of(conn: Connection, horizons: Mapping[tuple[str, str], datetime]) -> int:
    """Delete each (tenant, stream)'s seen ids whose event time is before its horizon; return how many went."""
    removed = 0
    for (tenant, stream), older_than in horizons.items():
        where = (_seen.c.tenant == tenant, _seen.c.stream == stream, _seen.c.event_time < older_than)
        removed += conn.execute(delete(_seen).where(*where)).rowcount
    return removed


# --- snapshots ----------------------------------------------------------------------------------


def load_snapshot(conn: Connection, tenant: str, stream: str) -> dict[str, dict[str, Any]]:
    """The stored snapshot of (tenant, stream): item id -> item; empty when none is stored."""
    rows = conn.execute(select(_snap.c.item_id, _snap.c.item).where(_snap.c.tenant == tenant, _snap.c.stream == stream))
    return {r.item_id: dict(r.item) for r in rows}


def replace_snapshot(
    conn: Connection, now: datetime, tenant: str, stream: str, snapshot: Mapping[str, Mapping[str, Any]]
) -> None:
    """Make ``snapshot`` the stored snapshot of (tenant, stream)."""
    conn.execute(delete(_snap).where(_snap.c.tenant == tenant, _snap.c.stream == stream))
    rows = (
        {"tenant": tenant, "stream": stream, "item_id": item_id, "item": dict(item), "updated_at": now}
        for item_id, item in snapshot.items()
    )
    for batch in chunked(rows):
        conn.execute(insert(_snap), batch)
