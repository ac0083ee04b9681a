"""Dead letters kept in the state store (synchronous; each runs inside the caller's transaction).

With PostgreSQL state several replicas share one database, so a sink's permanently refused events
are stored there instead of in a pod's data directory: any replica (or the CLI) lists and replays
them, and none is lost when a pod goes. Rows carry the whole entry (the dead-letter file's JSON
line); the sinks room encodes and decodes it. A replay claims rows until a deadline; a crashed
replay's claims expire and the rows are replayed again (at-least-once, never lost).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from . import schema
from .records import DeadLetterRow, require_name

_d = schema.dead_letters

#: Columns a caller gives for each new row.
ROW_KEYS = ("at", "sink", "tenant", "stream", "event_id", "reason", "attempts", "entry")


def add(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert rows (``ROW_KEYS`` each); return how many."""
    if not rows:
        return 0
    values = []
    for row in rows:
        for key in ("sink", "tenant", "stream"):
            require_name(key, row[key])
        values.append({key: row[key] for key in ROW_KEYS})
    conn.execute(insert(_d), values)
    return len(values)


def _row(row: Any) -> DeadLetterRow:
    return DeadLetterRow(
        id=int(row.id),
        at=row.at,
        sink=row.sink,
        tenant=row.tenant,
        stream=row.stream,
        event_id=row.event_id,
        reason=row.reason,
        attempts=int(row.attempts),
        entry=row.entry,
    )


def list_rows(conn: Connection, *, sink: str | None, limit: int | None) -> list[DeadLetterRow]:
    """Rows oldest first; ``limit`` keeps the newest ones."""
    stmt = select(_d)
    if sink is not None:
        stmt = stmt.where(_d.c.sink == sink)
    if limit is not None:
        newest = stmt.order_by(_d.c.id.desc()).limit(limit)
        return sorted((_row(r) for r in conn.execute(newest)), key=lambda r: r.id)
    return [_row(r) for r in conn.execute(stmt.order_by(_d.c.id))]


def count(conn: Connection, *, sink: str | None) -> int:
    """How many rows (of ``sink``)."""
    stmt = select(func.count()).select_from(_d)
    if sink is not None:
        stmt = stmt.where(_d.c.sink == sink)
    return int(conn.execute(stmt).scalar_one())


def claim(
    conn: Connection, now: datetime, *, owner: str, ttl: timedelta, sink: str | None, sinks: Collection[str]
) -> list[DeadLetterRow]:
    """Claim every unclaimed (or expired) row of ``sinks`` (and ``sink`` when given); return them, oldest first."""
    conditions = [or_(_d.c.claimed_until.is_(None), _d.c.claimed_until < now), _d.c.sink.in_(list(sinks))]
    if sink is not None:
        conditions.append(_d.c.sink == sink)
    found = conn.execute(select(_d.c.id).where(*conditions).order_by(_d.c.id).with_for_update())
    ids = [int(i) for i in found.scalars()]
    if not ids:
        return []
    conn.execute(update(_d).where(_d.c.id.in_(ids)).values(claimed_by=owner, claimed_until=now + ttl))
    return [_row(r) for r in conn.execute(select(_d).where(_d.c.id.in_(ids)).order_by(_d.c.id))]


def finish(
    conn: Connection,
    *,
    owner: str,
    delivered: Collection[int],
    retried: Sequence[tuple[int, str, int, str]],
) -> None:
    """End a replay: delete ``delivered`` rows; give ``retried`` ``(id, reason, attempts, entry)`` and release them."""
    if delivered:
        conn.execute(delete(_d).where(_d.c.id.in_(list(delivered)) & (_d.c.claimed_by == owner)))
    for row_id, reason, attempts, entry in retried:
        conn.execute(
            update(_d)
            .where((_d.c.id == row_id) & (_d.c.claimed_by == owner))
            .values(reason=reason, attempts=attempts, entry=entry, claimed_by=None, claimed_until=None)
        )
