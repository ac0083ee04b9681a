"""Two daemons' backfill workers on one PostgreSQL: a queued job is run by exactly one of them."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from mimecast_siem.checkpoints import BackfillStatus, StateStore
from mimecast_siem.collector.backfill import BackfillWorker
from tests.collector.helpers import delivered_ids, expected_ids
from tests.collector.test_backfill_support import backfill_settings, open_parts, whole_minute_ago


async def test_one_queued_job_is_run_by_one_worker_only(
    simulator_factory: Any, postgres_url: str, tmp_path: Path
) -> None:
    sim = await simulator_factory(rates={"ttp-url": 8.0, "ttp-attachment": 2.0})
    streams = ("ttp-url", "ttp-attachment")
    since, until = whole_minute_ago(10), whole_minute_ago(3)
    # 15 s: on a loaded machine a 3 s lease let the other replica take the job over (legitimately)
    settings = backfill_settings(sim, tmp_path, streams=streams, state={"url": postgres_url, "lease_ttl": "15s"})
    async with open_parts(settings) as parts:
        job = await parts.store.create_backfill_job("acme", list(streams), since, until, timedelta(minutes=1))
        second_store = await StateStore.open(postgres_url)
        stopping = asyncio.Event()
        workers = [
            BackfillWorker(
                settings,
                store,
                {"acme": parts.client},
                parts.router,
                owner=owner,
                stopping=stopping,
                poll_interval=0.1,
                metrics_=parts.metrics,
            )
            for owner, store in (("replica-a", parts.store), ("replica-b", second_store))
        ]
        try:
            for worker in workers:
                worker.start()
            deadline = time.monotonic() + 90
            while (await parts.store.get_backfill_job(job.id)).status is not BackfillStatus.DONE:
                assert time.monotonic() < deadline, "the job was not finished in time"
                await asyncio.sleep(0.2)
        finally:
            for worker in workers:
                await worker.join(timedelta(seconds=10))
            await second_store.close()
    results = {w.owner: [o.result for o in w.outcomes] for w in workers}
    assert sorted(results.values()) == [[], ["done"]], results
    for stream in streams:
        delivered = delivered_ids(tmp_path / "out", stream)
        assert set(delivered) == expected_ids(stream, sim.ground_truth(stream, since, until))
        assert max(delivered.values()) == 1
