"""Small helpers shared by the store's operations: dialect-specific INSERT, the clock, chunking."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection, Table, func, select

if TYPE_CHECKING:
    # Each dialect's INSERT is imported when a connection of it asks: a SQLite store never loads
    # the PostgreSQL dialect (~0.03 CPU s and 2 MB at start-up, issue 16).
    from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")

#: Rows per INSERT batch and ids per IN (...) list: well under SQLite's bound-parameter limit.
BATCH_SIZE = 500


def upsert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ``ON CONFLICT`` on the connection's dialect (both spell it the same)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def database_now(conn: Connection) -> datetime:
    """The current instant as the database sees it, UTC-aware.

    PostgreSQL: ``now()``, the start of the current transaction on the server's clock, so every
    replica compares lease expiry against the same clock and the value is constant inside one
    transaction. SQLite lives on this host, so the host's UTC clock is the database clock.
    """
    if conn.dialect.name == "postgresql":
        value: datetime = conn.execute(select(func.now())).scalar_one()
        return value.astimezone(UTC)
    return datetime.now(UTC)


def chunked(items: Iterable[T], size: int = BATCH_SIZE) -> Iterator[list[T]]:
    """Yield lists of at most ``size`` items, consuming ``items`` lazily."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
