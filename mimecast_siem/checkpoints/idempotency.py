"""Idempotency keys of the action API (synchronous; each runs inside the caller's transaction).

A key is claimed before an action runs: the first request for ``(caller, key)`` inserts a
``pending`` row and acts; a repeat finds the row and gets the stored answer (``replay``), the
same key with another request body is a ``mismatch``, a repeat while the first still runs is
``busy``. The insert is ``INSERT ... ON CONFLICT DO NOTHING``, so two replicas (or two tasks)
claiming the same key at the same moment cannot both win: on PostgreSQL the second insert waits
for the first transaction and then does nothing; SQLite has one writer at a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, delete, select, update

from . import schema
from .records import IdempotencyClaim, IdempotencyState
from .sql import upsert

_t = schema.action_idempotency


def claim(
    conn: Connection,
    now: datetime,
    *,
    caller: str,
    key: str,
    request_digest: str,
    ttl: timedelta,
    stale_after: timedelta,
) -> IdempotencyClaim:
    """Claim ``key`` for ``caller`` or report what it already holds."""
    where = and_(_t.c.caller == caller, _t.c.key == key)
    conn.execute(delete(_t).where(where, _t.c.expires_at <= now))
    inserted = conn.execute(
        upsert(conn, _t)
        .values(
            caller=caller,
            key=key,
            request_digest=request_digest,
            state="pending",
            status=None,
            response=None,
            created_at=now,
            expires_at=now + ttl,
        )
        .on_conflict_do_nothing(index_elements=["caller", "key"])
        .returning(_t.c.key)
    ).first()
    if inserted is not None:
        return IdempotencyClaim(IdempotencyState.NEW)
    row = conn.execute(select(_t).where(where)).one()
    if row.request_digest != request_digest:
        return IdempotencyClaim(IdempotencyState.MISMATCH, created_at=row.created_at)
    if row.state == "done":
        return IdempotencyClaim(
            IdempotencyState.REPLAY, status=row.status, response=row.response, created_at=row.created_at
        )
    if now - row.created_at >= stale_after:
        return IdempotencyClaim(IdempotencyState.ABANDONED, created_at=row.created_at)
    return IdempotencyClaim(IdempotencyState.BUSY, created_at=row.created_at)


def complete(conn: Connection, *, caller: str, key: str, status: int, response: str) -> None:
    """Store the answer of a claimed key (replayed for repeats until the key expires)."""
    conn.execute(
        update(_t).where(_t.c.caller == caller, _t.c.key == key).values(state="done", status=status, response=response)
    )


def release(conn: Connection, *, caller: str, key: str) -> None:
    """Forget a pending key whose request did nothing (refused before sending, or nothing arrived)."""
    conn.execute(delete(_t).where(_t.c.caller == caller, _t.c.key == key, _t.c.state == "pending"))


def prune(conn: Connection, now: datetime) -> int:
    """Delete expired keys; return how many."""
    return int(conn.execute(delete(_t).where(_t.c.expires_at <= now)).rowcount or 0)
