"""Backfill of the DLP, release, rejection, archive and threat-intel streams: exactly the ground truth, once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.checkpoints import BackfillStatus
from mimecast_siem.simulator import HeldQueueSettings
from mimecast_siem.simulator.config import ThreatFeedSettings
from tests.collector.helpers import delivered_ids, expected_ids
from tests.collector.test_backfill_support import backfill_settings, open_parts, whole_minute_ago

STREAMS = (
    "dlp", "message-release", "rejections", "archive-search", "archive-view", "search",
    "threat-intel-customer", "threat-intel-grid",
)  # fmt: skip
pytestmark = pytest.mark.slow

RATES = {"dlp": 3.0, "rejections": 3.0, "archive-search": 1.0, "archive-view": 1.0, "search": 1.0}


async def test_backfill_of_every_new_stream_delivers_the_ground_truth_once(
    simulator_factory: Any, tmp_path: Path
) -> None:
    sim = await simulator_factory(
        rates=RATES,
        holds=HeldQueueSettings(arrival_rate=0.5, min_hold=20, max_hold=240),
        threat_feeds=ThreatFeedSettings(rates={"threat-intel-customer": 0.2, "threat-intel-grid": 1.0}, page_size=15),
        history=3600.0,
    )
    since, until = whole_minute_ago(10), whole_minute_ago(3)
    settings = backfill_settings(sim, tmp_path, streams=STREAMS)
    async with open_parts(settings) as parts:
        job = await parts.job(STREAMS, since, until, timedelta(minutes=1))
        outcome = await parts.run(job, concurrency=3)
        assert outcome.result == "done"
        assert outcome.job.status is BackfillStatus.DONE
        assert outcome.job.windows_done == outcome.job.windows_total == 7 * len(STREAMS)
        assert await parts.store.list_checkpoints() == []
        for stream in STREAMS:
            truth = sim.ground_truth(stream, since, until)
            assert truth, f"the simulator served nothing for {stream}"
            expected = expected_ids(stream, truth)
            delivered = delivered_ids(tmp_path / "out", stream)
            assert set(delivered) == expected, f"{stream}: missing or extra events"
            assert max(delivered.values()) == 1, f"{stream}: an event was delivered twice"
        # The grid feed needed many pages per window, each token taken from the response header.
        grid_truth = sim.ground_truth("threat-intel-grid", since, until)
        feed_requests = sum(n for (path, status, _c), n in sim.stats().requests.items()
                            if path == "/api/ttp/threat-intel/get-feed" and status == 200)  # fmt: skip
        assert len(grid_truth) > 7 * 15
        assert feed_requests > 14
