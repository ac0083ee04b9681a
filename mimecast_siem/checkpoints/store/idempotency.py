"""Idempotency keys of the action API: one winner per (caller, key), answers replayed."""

from __future__ import annotations

from datetime import timedelta

from mimecast_siem.checkpoints import idempotency
from mimecast_siem.checkpoints.records import (
    IdempotencyClaim,
    require_idempotency_key,
    require_name,
)

from .core import StoreCore


class IdempotencyPart(StoreCore):
    """Idempotency keys of the action API: one winner per (caller, key), answers replayed."""

    async def claim_idempotency(
        self,
        caller: str,
        key: str,
        request_digest: str,
        *,
        ttl: timedelta = timedelta(hours=24),
        stale_after: timedelta = timedelta(minutes=10),
    ) -> IdempotencyClaim:
        """Claim ``key`` for ``caller`` (new), or report its stored answer, a body mismatch, or a run in progress.

        ``stale_after``: a claim still pending after this long belongs to a request that never
        finished (a crashed process); it is reported as abandoned, never run again.
        """
        require_name("idempotency caller", caller)
        require_idempotency_key(key)
        return await self._run(
            lambda conn, now: idempotency.claim(
                conn,
                now,
                caller=caller,
                key=key,
                request_digest=request_digest,
                ttl=ttl,
                stale_after=stale_after,
            )
        )

    async def complete_idempotency(self, caller: str, key: str, status: int, response: str) -> None:
        """Store the answer of a claimed key."""
        await self._run(
            lambda conn, _now: idempotency.complete(conn, caller=caller, key=key, status=status, response=response)
        )

    async def release_idempotency(self, caller: str, key: str) -> None:
        """Forget a pending claim whose request did nothing, so the same key can be used again."""
        await self._run(lambda conn, _now: idempotency.release(conn, caller=caller, key=key))

    async def prune_idempotency(self) -> int:
        """Delete expired idempotency keys; return how many."""
        return await self._run(idempotency.prune)
