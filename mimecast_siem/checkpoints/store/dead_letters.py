"""Dead letters kept in the state store (PostgreSQL state): shared by every replica."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta
from typing import Any

from mimecast_siem.checkpoints import deadletters
from mimecast_siem.checkpoints.records import (
    MAX_OWNER_LENGTH,
    DeadLetterRow,
    require_name,
)

from .core import StoreCore


class DeadLettersPart(StoreCore):
    """Dead letters kept in the state store (PostgreSQL state): shared by every replica."""

    async def add_dead_letters(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Store dead letters (keys: ``deadletters.ROW_KEYS``) in one transaction; return how many."""
        return await self._run(lambda conn, _now: deadletters.add(conn, rows))

    async def list_dead_letters(self, *, sink: str | None = None, limit: int | None = None) -> list[DeadLetterRow]:
        """Stored dead letters, oldest first (``limit``: the newest ones)."""
        return await self._run(lambda conn, _now: deadletters.list_rows(conn, sink=sink, limit=limit))

    async def count_dead_letters(self, *, sink: str | None = None) -> int:
        """How many dead letters are stored (of ``sink``)."""
        return await self._run(lambda conn, _now: deadletters.count(conn, sink=sink))

    async def claim_dead_letters(
        self, owner: str, ttl: timedelta, *, sinks: Collection[str], sink: str | None = None
    ) -> list[DeadLetterRow]:
        """Claim the dead letters of ``sinks`` no other replay holds, until ``ttl`` from now."""
        require_name("owner", owner, MAX_OWNER_LENGTH)
        return await self._run(
            lambda conn, now: deadletters.claim(conn, now, owner=owner, ttl=ttl, sink=sink, sinks=sinks)
        )

    async def finish_dead_letters(
        self, owner: str, *, delivered: Collection[int], retried: Sequence[tuple[int, str, int, str]]
    ) -> None:
        """End a replay: delete the delivered rows, update and release the others (one transaction)."""
        await self._run(lambda conn, _now: deadletters.finish(conn, owner=owner, delivered=delivered, retried=retried))
