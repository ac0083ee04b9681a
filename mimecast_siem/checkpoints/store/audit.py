"""The action audit: every action call, allowed or refused, without parameters or tokens."""

from __future__ import annotations

from datetime import datetime

from mimecast_siem.checkpoints import audit
from mimecast_siem.checkpoints.records import (
    AuditRecord,
    require_aware,
)

from .core import StoreCore


class AuditPart(StoreCore):
    """The action audit: every action call, allowed or refused, without parameters or tokens."""

    async def record_audit(self, entry: AuditRecord) -> int:
        """Append an audit record; return its id."""
        return await self._run(lambda conn, _now: audit.record(conn, entry))

    async def list_audit(
        self,
        limit: int = 100,
        action: str | None = None,
        since: datetime | None = None,
        *,
        actor: str | None = None,
    ) -> list[AuditRecord]:
        """Audit records, newest first, optionally for one action / actor / since an instant."""
        if since is not None:
            require_aware("since", since)
        if limit < 1:
            raise ValueError(f"limit must be at least 1; got {limit}")
        return await self._run(
            lambda conn, _now: audit.list_records(conn, limit=limit, action=action, since=since, actor=actor)
        )
