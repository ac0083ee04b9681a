"""Leases: which replica polls which (tenant, stream), with expiry and fencing epochs."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from mimecast_siem.checkpoints import leasing
from mimecast_siem.checkpoints.records import (
    MAX_OWNER_LENGTH,
    LeaseRow,
    require_name,
    require_positive,
)

from .core import Key, StoreCore, _key


class LeasesPart(StoreCore):
    """Leases: which replica polls which (tenant, stream), with expiry and fencing epochs."""

    async def acquire(self, tenant: str, stream: str, owner: str, ttl: timedelta) -> bool:
        """Take (or keep) the lease of (tenant, stream) for ``ttl``; True when ``owner`` holds it now."""
        return await self.acquire_lease(tenant, stream, owner, ttl) is not None

    async def acquire_lease(self, tenant: str, stream: str, owner: str, ttl: timedelta) -> LeaseRow | None:
        """Like :meth:`acquire`, returning the lease (with its fencing ``epoch``) or ``None``."""
        _key(tenant, stream, stream_length=96)
        require_name("owner", owner, MAX_OWNER_LENGTH)
        require_positive("ttl", ttl)
        return await self._run(lambda conn, now: leasing.acquire(conn, now, tenant, stream, owner=owner, ttl=ttl))

    async def renew(self, owner: str, keys: Collection[Key], ttl: timedelta) -> set[Key]:
        """Extend ``owner``'s leases among ``keys`` by ``ttl`` from now; return the keys still held."""
        require_name("owner", owner, MAX_OWNER_LENGTH)
        require_positive("ttl", ttl)
        wanted = list(keys)
        if not wanted:
            return set()
        return await self._run(lambda conn, now: leasing.renew(conn, now, owner, wanted, ttl))

    async def release(self, owner: str, keys: Collection[Key] | None = None) -> int:
        """Give up ``owner``'s leases on ``keys`` (all of them when ``None``); return how many were released."""
        require_name("owner", owner, MAX_OWNER_LENGTH)
        wanted = None if keys is None else list(keys)
        if wanted == []:
            return 0
        return await self._run(lambda conn, now: leasing.release(conn, now, owner, wanted))

    async def list_leases(self) -> list[LeaseRow]:
        """Every owned lease (expired ones included; compare ``expires_at`` with :meth:`now`)."""
        return await self._run(lambda conn, _now: leasing.list_all(conn))

    async def get_lease(self, tenant: str, stream: str) -> LeaseRow | None:
        """The lease of (tenant, stream) if it has an owner."""
        return await self._run(lambda conn, _now: leasing.get(conn, tenant, stream))
