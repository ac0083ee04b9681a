"""Checkpoints and held-message snapshots: where each (tenant, stream) stands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mimecast_siem.checkpoints import checkpointing
from mimecast_siem.checkpoints.records import (
    MAX_EVENT_ID_LENGTH,
    MAX_OWNER_LENGTH,
    CheckpointRow,
    require_aware,
    require_name,
)

from .core import Key, StoreCore, _check_snapshot, _key, log


class CheckpointsPart(StoreCore):
    """Checkpoints and held-message snapshots: where each (tenant, stream) stands."""

    async def get_checkpoint(self, tenant: str, stream: str) -> datetime | None:
        """The end of the last committed window of (tenant, stream), or ``None`` before the first commit."""
        _key(tenant, stream)
        value = await self._run(lambda conn, _now: checkpointing.get_checkpoint(conn, tenant, stream))
        if value is not None:
            self._cache_checkpoint(tenant, stream, value)
        return value

    async def commit_window(
        self,
        tenant: str,
        stream: str,
        end: datetime,
        *,
        owner: str | None,
        epoch: int | None = None,
        seen: Sequence[tuple[str, datetime]] = (),
        snapshot: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> datetime:
        """Commit a delivered window in ONE transaction; return the checkpoint after it.

        Verifies that ``owner`` (when given) still holds the lease - in ``epoch`` when given - and raises
        :class:`LeaseLost` otherwise, committing nothing. Moves the checkpoint to ``end`` (never
        backwards: an older ``end`` leaves it where it is), records ``seen`` (event id, event time)
        pairs, and replaces the stored snapshot when ``snapshot`` is given.
        """
        _key(tenant, stream)
        require_aware("end", end)
        if owner is not None:
            require_name("owner", owner, MAX_OWNER_LENGTH)
        seen_rows = _checked_seen(seen)
        if snapshot is not None:
            _check_snapshot(snapshot)
        checkpoint = await self._run(
            lambda conn, now: checkpointing.commit_window(
                conn, now, tenant, stream, end, owner=owner, epoch=epoch, seen=seen_rows, snapshot=snapshot
            )
        )
        self._cache_checkpoint(tenant, stream, checkpoint)
        return checkpoint

    async def list_checkpoints(self) -> list[CheckpointRow]:
        """Every stored checkpoint, ordered by tenant and stream."""
        rows = await self._run(lambda conn, _now: checkpointing.list_checkpoints(conn))
        for row in rows:
            self._cache_checkpoint(row.tenant, row.stream, row.window_end)
        return rows

    async def set_checkpoint(
        self, tenant: str, stream: str, when: datetime, *, by: str | None = None
    ) -> datetime | None:
        """Put the checkpoint at ``when`` (backwards too); return the previous one.

        Forgets seen ids at or after ``when`` (so re-read events are delivered again) and fences out
        the lease holder (its next commit raises ``LeaseLost``; it restarts from the new checkpoint).
        """
        _key(tenant, stream)
        require_aware("when", when)
        previous = await self._run(
            lambda conn, now: checkpointing.set_checkpoint(conn, now, tenant, stream, when=when, by=by)
        )
        self._cache_checkpoint(tenant, stream, when)
        log.info(
            "Checkpoint of %s/%s set to %s (was %s).",
            tenant,
            stream,
            when.isoformat(),
            previous.isoformat() if previous else "unset",
            extra={"tenant": tenant, "stream": stream},
        )
        return previous

    async def reset_checkpoint(self, tenant: str, stream: str) -> datetime | None:
        """Forget the checkpoint, seen ids and snapshot of (tenant, stream); return the previous checkpoint."""
        _key(tenant, stream)
        previous = await self._run(lambda conn, now: checkpointing.reset_checkpoint(conn, now, tenant, stream))
        with self._checkpoint_lock:
            self._checkpoint_cache.pop((tenant, stream), None)
        log.info("Checkpoint of %s/%s reset.", tenant, stream, extra={"tenant": tenant, "stream": stream})
        return previous

    def checkpoint_times(self) -> dict[Key, float]:
        """Unix times of the checkpoints this process has read or written (no I/O; for metric scrapes)."""
        with self._checkpoint_lock:
            return {key: value.timestamp() for key, value in self._checkpoint_cache.items()}

    def _cache_checkpoint(self, tenant: str, stream: str, value: datetime) -> None:
        with self._checkpoint_lock:
            self._checkpoint_cache[(tenant, stream)] = value

    async def load_snapshot(self, tenant: str, stream: str) -> dict[str, dict[str, Any]]:
        """The stored snapshot (item id -> item) of (tenant, stream); empty when none is stored."""
        _key(tenant, stream)
        return await self._run(lambda conn, _now: checkpointing.load_snapshot(conn, tenant, stream))


def _checked_seen(seen: Sequence[tuple[str, datetime]]) -> list[tuple[str, datetime]]:
    """``seen`` as a list, every id and time checked (one row per delivered event: the usual case is cheap)."""
    rows: list[tuple[str, datetime]] = []
    for eid, t in seen:
        # The usual row: an id of stable_event_id's shape and a datetime in UTC; anything else is
        # checked the long way (which raises with the argument's name, or accepts another aware zone).
        if not (
            eid.__class__ is str and 0 < len(eid) <= MAX_EVENT_ID_LENGTH and t.__class__ is datetime and t.tzinfo is UTC
        ):
            require_name("seen event id", eid, MAX_EVENT_ID_LENGTH)
            require_aware("seen event time", t)
        rows.append((eid, t))
    return rows
