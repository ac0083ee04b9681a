"""Lease operations (synchronous; each runs inside the caller's transaction).

A lease row is never deleted: releasing it clears the owner, so the fencing ``epoch`` keeps growing
for the key's whole life and a stale holder can always be told apart from the current one.

Acquisition is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` statement. On PostgreSQL the
conflicting row is locked and the ``WHERE`` re-evaluated against its latest version, so of several
replicas racing for a free or expired key exactly one gets a row back; on SQLite the single-writer
lock gives the same result.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, or_, select, tuple_, update

from . import schema
from .errors import LeaseLost
from .records import LeaseRow
from .sql import chunked, upsert

_t = schema.leases


def to_lease(row: Any) -> LeaseRow:
    """Build a :class:`LeaseRow` from a ``leases`` row that has an owner."""
    return LeaseRow(
        tenant=row.tenant,
        stream=row.stream,
        owner=row.owner,
        epoch=int(row.epoch),
        acquired_at=row.acquired_at,
        expires_at=row.expires_at,
    )


def acquire(
    conn: Connection, now: datetime, tenant: str, stream: str, *, owner: str, ttl: timedelta, only_if_free: bool = False
) -> LeaseRow | None:
    """Take the lease if it is free, expired or already ours; return it, or ``None`` if someone else holds it.

    With ``only_if_free`` a live lease of ``owner`` itself also counts as taken (a claim must not
    return work the caller is already doing).
    """
    stmt = upsert(conn, _t).values(
        tenant=tenant, stream=stream, owner=owner, epoch=1, acquired_at=now, expires_at=now + ttl
    )
    new = stmt.excluded
    still_ours = and_(_t.c.owner == new.owner, _t.c.expires_at > now)
    returning = stmt.on_conflict_do_update(
        index_elements=[_t.c.tenant, _t.c.stream],
        set_={
            "owner": new.owner,
            "expires_at": new.expires_at,
            # Renewing our own live lease keeps the term; anything else starts a new one.
            "epoch": case((still_ours, _t.c.epoch), else_=_t.c.epoch + 1),
            "acquired_at": case((still_ours, _t.c.acquired_at), else_=new.acquired_at),
        },
        where=or_(_t.c.owner.is_(None), _t.c.expires_at <= now)
        if only_if_free
        else or_(_t.c.owner.is_(None), _t.c.expires_at <= now, _t.c.owner == new.owner),
    ).returning(*_t.c)
    row = conn.execute(returning).one_or_none()
    return None if row is None else to_lease(row)


def renew(
    conn: Connection, now: datetime, owner: str, keys: Collection[tuple[str, str]], ttl: timedelta
) -> set[tuple[str, str]]:
    """Extend the leases among ``keys`` that ``owner`` still holds; return those keys.

    A lease that ran out while nobody took it is still ``owner``'s and is renewed in the same term
    (its epoch is unchanged): the holder was slow - a starved event loop, a GC pause, a throttled
    pod - not gone, and nobody else has worked on the key. Whoever takes an expired lease changes
    its owner in the same row, so this update then finds nothing (the database serialises both).
    """
    renewed: set[tuple[str, str]] = set()
    for batch in chunked(keys):
        stmt = (
            update(_t)
            .where(_t.c.owner == owner, tuple_(_t.c.tenant, _t.c.stream).in_(batch))
            .values(expires_at=now + ttl)
            .returning(_t.c.tenant, _t.c.stream)
        )
        renewed.update((r.tenant, r.stream) for r in conn.execute(stmt))
    return renewed


def release(conn: Connection, now: datetime, owner: str, keys: Collection[tuple[str, str]] | None) -> int:
    """Give up ``owner``'s leases on ``keys`` (all of its leases when ``keys`` is ``None``); return how many."""
    values = {"owner": None, "expires_at": now}
    if keys is None:
        return conn.execute(update(_t).where(_t.c.owner == owner).values(**values)).rowcount
    released = 0
    for batch in chunked(keys):
        stmt = update(_t).where(_t.c.owner == owner, tuple_(_t.c.tenant, _t.c.stream).in_(batch)).values(**values)
        released += conn.execute(stmt).rowcount
    return released


def fence(conn: Connection, now: datetime, tenant: str, stream: str) -> str | None:
    """Take the lease away from whoever holds it (operator moved the checkpoint); return the old owner."""
    stmt = (
        update(_t)
        .where(_t.c.tenant == tenant, _t.c.stream == stream, _t.c.owner.is_not(None))
        .values(owner=None, expires_at=now, epoch=_t.c.epoch + 1)
    )
    holder = conn.execute(
        select(_t.c.owner).where(_t.c.tenant == tenant, _t.c.stream == stream).with_for_update()
    ).scalar_one_or_none()
    conn.execute(stmt)
    return holder


def get(conn: Connection, tenant: str, stream: str) -> LeaseRow | None:
    """The lease of one key if it has an owner (expired or not)."""
    row = conn.execute(
        select(_t).where(_t.c.tenant == tenant, _t.c.stream == stream, _t.c.owner.is_not(None))
    ).one_or_none()
    return None if row is None else to_lease(row)


def list_all(conn: Connection) -> list[LeaseRow]:
    """Every lease that has an owner (expired ones included: the caller compares with the clock)."""
    rows = conn.execute(select(_t).where(_t.c.owner.is_not(None)).order_by(_t.c.tenant, _t.c.stream))
    return [to_lease(r) for r in rows]


def check_held(conn: Connection, tenant: str, stream: str, *, owner: str, epoch: int | None = None) -> LeaseRow:
    """Lock the lease row and raise :class:`LeaseLost` unless ``owner`` holds it (in ``epoch``, if given).

    The row lock (PostgreSQL ``FOR UPDATE``) keeps a competing acquire from slipping in between this
    check and the caller's commit. Fencing is by owner and epoch, not by the clock: a lease that ran
    out while nobody took it still names ``owner`` in the same term, so its commit is safe (see
    :func:`renew`); one that was taken names someone else, or another epoch.
    """
    row = conn.execute(select(_t).where(_t.c.tenant == tenant, _t.c.stream == stream).with_for_update()).one_or_none()
    if row is None or row.owner is None:
        raise LeaseLost(tenant, stream, owner, None, "nobody holds it")
    if row.owner != owner:
        raise LeaseLost(tenant, stream, owner, row.owner, f"{row.owner} holds it now")
    if epoch is not None and int(row.epoch) != epoch:
        raise LeaseLost(tenant, stream, owner, row.owner, f"it was re-taken (epoch {row.epoch}, not {epoch})")
    return to_lease(row)
