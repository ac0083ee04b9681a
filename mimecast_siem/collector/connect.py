"""``config check --connect``: reach everything the configuration names, once, and report each result.

Like ``vector validate``: for every enabled tenant, obtain an access token and make one cheap call
(``/api/account/get-account``); for every enabled sink, start it, run its health check and close it;
open the state store and round-trip to it. Each check has a deadline, runs independently of the
others, and reports ``ok`` with a short detail or the reason it failed (never a secret).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mimecast_siem import __version__
from mimecast_siem.aio import wait_for
from mimecast_siem.checkpoints import StateStore
from mimecast_siem.config.models import Settings
from mimecast_siem.mimecast import MimecastClient
from mimecast_siem.observability.logging import scrub
from mimecast_siem.sinks import SinkContext, build_sinks

#: The cheap read-only call made with each tenant's token.
PROBE_PATH = "/api/account/get-account"
#: Seconds each check may take.
CHECK_TIMEOUT = 20.0


@dataclass(frozen=True)
class CheckResult:
    """One check of ``config check --connect``.

    Attributes:
        kind: ``tenant``, ``sink`` or ``state``.
        name: the tenant or sink name (``state`` for the state store).
        ok: whether it worked.
        detail: what was reached, or why it failed.
        seconds: how long the check took.
    """

    kind: str
    name: str
    ok: bool
    detail: str
    seconds: float

    def to_json(self) -> dict[str, object]:
        """The check as listed under ``connect`` in ``config check --output json``."""
        return {
            "kind": self.kind,
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


async def connect_checks(settings: Settings, *, deadline: float = CHECK_TIMEOUT) -> list[CheckResult]:
    """Run every check concurrently; tenants first, then sinks, then the state store (report order)."""
    checks: list[tuple[str, str, Callable[[], Awaitable[str]]]] = []
    for tenant in settings.tenants:
        if tenant.enabled:
            checks.append(("tenant", tenant.name, _tenant_check(settings, tenant.name)))
    context = SinkContext(settings.data_dir, "config-check", __version__)
    enabled = [s.name for s in settings.sinks if s.enabled]
    for name in enabled:
        checks.append(("sink", name, _sink_check(settings, context, name)))
    checks.append(("state", "state", _state_check(settings)))
    return list(await asyncio.gather(*(_timed(kind, name, check, deadline) for kind, name, check in checks)))


async def _timed(kind: str, name: str, check: Callable[[], Awaitable[str]], deadline: float) -> CheckResult:
    started = time.monotonic()
    try:
        detail = await wait_for(check(), seconds=deadline)
    except TimeoutError:
        return CheckResult(kind, name, False, f"no answer within {deadline:.0f} s", time.monotonic() - started)
    except Exception as exc:
        reason = scrub(str(exc)) or type(exc).__name__
        return CheckResult(kind, name, False, f"{type(exc).__name__}: {reason}", time.monotonic() - started)
    return CheckResult(kind, name, True, detail, time.monotonic() - started)


def _tenant_check(settings: Settings, name: str) -> Callable[[], Awaitable[str]]:
    async def check() -> str:
        tenant = settings.tenant(name)
        async with MimecastClient(tenant) as client:
            await client.authenticate()
            await client.request(PROBE_PATH, [], max_wait=CHECK_TIMEOUT / 2)
        return f"token obtained and {PROBE_PATH} answered ({tenant.base_url})"

    return check


def _sink_check(settings: Settings, context: SinkContext, name: str) -> Callable[[], Awaitable[str]]:
    async def check() -> str:
        (sink,) = build_sinks(settings, context, names={name}).values()
        try:
            await sink.start()
            health = await sink.healthcheck()
        finally:
            await sink.close()
        if not health.ok:
            raise SinkUnhealthy(health.detail or "health check failed")
        return health.detail or "healthy"

    return check


def _state_check(settings: Settings) -> Callable[[], Awaitable[str]]:
    async def check() -> str:
        async with await StateStore.open(settings.state_url()) as store:
            await store.ping()
            return f"{store.backend} at {store.display_url}"

    return check


class SinkUnhealthy(Exception):
    """A sink's health check said no."""


__all__ = ["CHECK_TIMEOUT", "PROBE_PATH", "CheckResult", "connect_checks"]
