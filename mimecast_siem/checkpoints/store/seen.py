"""Seen event ids: what was already delivered near the window edges (bounded by time)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from mimecast_siem.checkpoints import checkpointing
from mimecast_siem.checkpoints.records import (
    require_aware,
)

from .core import StoreCore, _key


class SeenIdsPart(StoreCore):
    """Seen event ids: what was already delivered near the window edges (bounded by time)."""

    async def seen_ids(self, tenant: str, stream: str, ids: Collection[str]) -> set[str]:
        """The subset of ``ids`` already delivered for (tenant, stream)."""
        _key(tenant, stream)
        if not ids:
            return set()
        return await self._run(lambda conn, _now: checkpointing.seen_ids(conn, tenant, stream, ids))

    async def prune_seen(self, older_than: datetime) -> int:
        """Forget seen ids with an event time before ``older_than``; return how many were removed."""
        require_aware("older_than", older_than)
        return await self._run(lambda conn, _now: checkpointing.prune_seen(conn, older_than))
