"""In-process harness: a real Supervisor over a real state store, real Mimecast clients and a real router.

Only the sink may be wrapped (``FlakySink``: the real file sink that refuses batches on demand) so a
test can make delivery fail for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.collector.supervisor import Supervisor
from mimecast_siem.config.models import Settings
from mimecast_siem.events import Event
from mimecast_siem.mimecast import MimecastClient, reset_limiters
from mimecast_siem.observability.metrics import Metrics, reset_metrics
from mimecast_siem.sinks import (
    DeadLetters,
    RetryPolicy,
    Router,
    SendResult,
    SinkContext,
    SinkTransientError,
    build_sinks,
)

FAST_SINK_RETRY = RetryPolicy(initial=0.05, maximum=0.2, multiplier=2.0, jitter=0.0)


class FlakySink:
    """The real file sink, refusing whole batches while ``failing`` is set (a receiver that is down)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.options_model = inner.options_model
        self.failing = False
        self.refused = 0

    async def start(self) -> None:
        await self.inner.start()

    async def healthcheck(self) -> Any:
        return await self.inner.healthcheck()

    async def send(self, events: Sequence[Event]) -> SendResult:
        if self.failing:
            self.refused += 1
            raise SinkTransientError("test receiver is down", endpoint="file")
        result: SendResult = await self.inner.send(events)
        return result

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class Harness:
    """A running supervisor and the parts a test inspects."""

    settings: Settings
    store: StateStore
    supervisor: Supervisor
    router: Router
    sink: FlakySink
    metrics: Metrics
    runner: asyncio.Task[None]
    clients: dict[str, MimecastClient] = field(default_factory=dict)

    async def checkpoint(self, stream: str, tenant: str = "acme") -> datetime | None:
        return await self.store.get_checkpoint(tenant, stream)

    async def wait_for(self, condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.runner.done():
                self.runner.result()  # re-raise a crash
                raise AssertionError(f"supervisor ended while waiting for {what}")
            if await condition():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

    async def wait_checkpoint(self, stream: str, at_least: datetime, timeout: float = 60) -> None:
        async def reached() -> bool:
            cp = await self.checkpoint(stream)
            return cp is not None and cp >= at_least

        await self.wait_for(reached, timeout, f"checkpoint of {stream} >= {at_least.isoformat()}")


@contextlib.asynccontextmanager
async def running_supervisor(settings: Settings, *, owner: str = "test-owner") -> AsyncIterator[Harness]:
    """Start a supervisor for ``settings``; stop it gracefully on exit."""
    reset_limiters()
    m = reset_metrics()
    store = await StateStore.open(settings.state_url())
    context = SinkContext(Path(settings.data_dir), owner, "test")
    sinks = build_sinks(settings, context)
    flaky = FlakySink(sinks["out"])
    router = Router(
        settings,
        {"out": flaky},  # type: ignore[dict-item]
        DeadLetters(settings.dead_letter_path()),
        retry=FAST_SINK_RETRY,
    )
    await router.start()
    clients: dict[str, MimecastClient] = {}
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(store.close)
        stack.push_async_callback(router.close)
        for tenant in settings.tenants:
            clients[tenant.name] = await stack.enter_async_context(MimecastClient(tenant))
        supervisor = Supervisor(settings, store, clients, router, owner=owner)
        runner = asyncio.create_task(supervisor.run())
        harness = Harness(settings, store, supervisor, router, flaky, m, runner, clients)
        try:
            yield harness
        finally:
            supervisor.stop()
            await asyncio.wait_for(runner, timeout=30)
