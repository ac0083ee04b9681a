"""Seen event ids: what was already delivered near the window edges (bounded by time)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from mimecast_siem.checkpoints import checkpointing
from mimecast_siem.checkpoints.records import (
    require_aware,
)

from .core import StoreCore, _key


class SeenIdsPart(StoreCore):
    """Seen event ids: what was already delivered near the window edges (bounded by time)."""

    async def seen_ids(
        self,
        tenant: str,
        stream: str,
        ids: Collection[str],
        *,
        between: tuple[datetime, datetime] | None = None,
    ) -> set[str]:
        """The subset of ``ids`` already delivered for (tenant, stream).

        ``between``: the earliest and latest event time (inclusive) the ids were delivered with, when
        known; the lookup then reads only that range (rows are keyed by time, then id). Without it
        every row of the stream is read.
        """
        _key(tenant, stream)
        if between is not None:
            require_aware("between[0]", between[0])
            require_aware("between[1]", between[1])
        if not ids:
            return set()
        return await self._run(lambda conn, _now: checkpointing.seen_ids(conn, tenant, stream, ids, between))

    async def prune_seen(self, older_than: datetime) -> int:
        """Forget seen ids with an event time before ``older_than``; return how many were removed."""
        require_aware("older_than", older_than)
        return await self._run(lambda conn, _now: checkpointing.prune_seen(conn, older_than))

    async def prune_seen_of(self, horizons: Mapping[tuple[str, str], datetime]) -> int:
        """Forget each (tenant, stream)'s seen ids with an event time before its horizon; return how many went.

        One horizon per stream (from its own checkpoint): one stream far behind, or a stream no longer
        configured whose checkpoint stays old, does not keep every other stream's ids.
        """
        for key, older_than in horizons.items():
            _key(*key)
            require_aware("horizon", older_than)
        if not horizons:
            return 0
        return await self._run(lambda conn, _now: checkpointing.prune_seen_of(conn, horizons))
