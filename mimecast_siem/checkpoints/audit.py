"""Action audit operations (synchronous; each runs inside the caller's transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from . import schema
from .records import AuditRecord

_a = schema.action_audit


def record(conn: Connection, entry: AuditRecord) -> int:
    """Append one audit record; return its id."""
    stmt = (
        insert(_a)
        .values(
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            tenant=entry.tenant,
            param_digest=entry.param_digest,
            dry_run=entry.dry_run,
            outcome=entry.outcome,
            mimecast_status=entry.mimecast_status,
            duration_ms=entry.duration_ms,
            error_code=entry.error_code,
            channel=entry.channel,
            client=entry.client,
            items=orjson.dumps(entry.items).decode() if entry.items is not None else None,
        )
        .returning(_a.c.id)
    )
    return int(conn.execute(stmt).scalar_one())


def to_record(row: Any) -> AuditRecord:
    """Build an :class:`AuditRecord` from an ``action_audit`` row."""
    return AuditRecord(
        id=int(row.id),
        at=row.at,
        actor=row.actor,
        action=row.action,
        tenant=row.tenant,
        param_digest=row.param_digest,
        dry_run=bool(row.dry_run),
        outcome=row.outcome,
        mimecast_status=row.mimecast_status,
        duration_ms=int(row.duration_ms),
        error_code=row.error_code,
        channel=row.channel,
        client=row.client,
        items=orjson.loads(row.items) if row.items else None,
    )


def list_records(
    conn: Connection, *, limit: int, action: str | None, since: datetime | None, actor: str | None
) -> list[AuditRecord]:
    """Audit records, newest first."""
    stmt = select(_a)
    if action is not None:
        stmt = stmt.where(_a.c.action == action)
    if since is not None:
        stmt = stmt.where(_a.c.at >= since)
    if actor is not None:
        stmt = stmt.where(_a.c.actor == actor)
    return [to_record(r) for r in conn.execute(stmt.order_by(_a.c.at.desc(), _a.c.id.desc()).limit(limit))]
