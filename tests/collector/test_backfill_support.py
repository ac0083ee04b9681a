"""Helpers for the backfill tests (no tests here): real store, real client, real router with file sinks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mimecast_siem.checkpoints import BackfillJob, StateStore
from mimecast_siem.collector.backfill import BackfillOutcome, BackfillRunner, SinkSelection
from mimecast_siem.collector.backfill.progress import ProgressDisplay
from mimecast_siem.config.models import Settings
from mimecast_siem.mimecast import MimecastClient, reset_limiters
from mimecast_siem.observability.metrics import Metrics, reset_metrics
from mimecast_siem.sinks import DeadLetters, RetryPolicy, Router, SinkContext, build_sinks
from tests.collector.helpers import daemon_config

FAST_SINK_RETRY = RetryPolicy(initial=0.05, maximum=0.2, multiplier=2.0, jitter=0.0)
OWNER = "test-backfill"


def whole_minute_ago(minutes: int) -> datetime:
    """A whole-minute UTC time ``minutes`` back (whole seconds, like the CLI's parsed flags)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=minutes)


def backfill_settings(sim: Any, tmp: Path, *, streams: Sequence[str], sinks: int = 1, **top: Any) -> Settings:
    """Settings for the simulator with ``sinks`` file sinks (``out``, ``out2`` ... under ``tmp``)."""
    raw = daemon_config(sim.url, sim.client_id, sim.client_secret, tmp, streams=streams, **top)
    raw["streams"] = {s: {**raw["streams"][s], "page_size": 100} for s in streams}
    if sinks > 1:
        raw["sinks"] = [
            {
                "name": "out" if i == 0 else f"out{i + 1}",
                "type": "file",
                "path": str(tmp / ("out" if i == 0 else f"out{i + 1}")),
            }
            for i in range(sinks)
        ]
    return Settings.model_validate(raw)


@dataclass
class Parts:
    """An open store, client and router for one tenant."""

    settings: Settings
    store: StateStore
    client: MimecastClient
    router: Router
    metrics: Metrics

    async def job(
        self, streams: Sequence[str], since: datetime, until: datetime, window: timedelta, sinks: Sequence[str] = ()
    ) -> BackfillJob:
        job = await self.store.create_backfill_job("acme", list(streams), since, until, window, list(sinks))
        return await self.store.start_backfill_job(job.id, OWNER, self.settings.state.lease_ttl)

    def runner(
        self,
        job: BackfillJob,
        *,
        concurrency: int = 3,
        stopping: asyncio.Event | None = None,
        display: ProgressDisplay | None = None,
        **kwargs: Any,
    ) -> BackfillRunner:
        return BackfillRunner(
            job,
            store=self.store,
            settings=self.settings,
            client=self.client,
            router=SinkSelection(self.router, job.sinks),
            owner=OWNER,
            concurrency=concurrency,
            stopping=stopping,
            display=display,
            lease_ttl=self.settings.state.lease_ttl,
            backoff_max=timedelta(seconds=0.2),
            metrics_=self.metrics,
            **kwargs,
        )

    async def run(self, job: BackfillJob, **kwargs: Any) -> BackfillOutcome:
        return await asyncio.wait_for(self.runner(job, **kwargs).run(), timeout=120)


@contextlib.asynccontextmanager
async def open_parts(settings: Settings) -> AsyncIterator[Parts]:
    """Open the state store, the tenant's client and a router over every configured sink."""
    reset_limiters()
    m = reset_metrics()
    async with contextlib.AsyncExitStack() as stack:
        store = await StateStore.open(settings.state_url())
        stack.push_async_callback(store.close)
        sinks = build_sinks(settings, SinkContext(Path(settings.data_dir), OWNER, "test"))
        router = Router(settings, sinks, DeadLetters(settings.dead_letter_path()), retry=FAST_SINK_RETRY, metrics_=m)
        await router.start()
        stack.push_async_callback(router.close)
        client = await stack.enter_async_context(MimecastClient(settings.tenants[0]))
        yield Parts(settings, store, client, router, m)
