"""Token expiry mid-window, 429 storms and 5xx bursts: nothing lost, nothing crashes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mimecast_siem.simulator import FaultSettings, LateArrivals, RequestQuota, ScriptedFault
from tests.collector.harness import running_supervisor
from tests.collector.helpers import daemon_settings, delivered_ids, expected_ids

STREAMS = ("ttp-url", "ttp-attachment")


async def test_token_expiry_rate_limits_and_server_errors_lose_nothing(simulator_factory: Any, tmp_path: Path) -> None:
    sim = await simulator_factory(
        rates={"ttp-url": 10.0, "ttp-attachment": 3.0},
        late=LateArrivals(fraction=0.0),
        token_lifetime=3.0,  # tokens expire during multi-page walks
        faults=FaultSettings(
            quota=RequestQuota(limit=4, period=1.0),  # 429 storms: far fewer requests than the walks want
            error_rates={500: 0.05, 503: 0.1},
            force_401=3,
            script=[ScriptedFault(path="/api/ttp/url/get-logs", count=4, status=502)],
            seed=5,
        ),
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    settings = daemon_settings(
        sim.url,
        sim.client_id,
        sim.client_secret,
        tmp_path,
        streams=STREAMS,
        stream_overrides={"start_from": start.isoformat(), "page_size": 50, "max_window": "40s"},
    )
    async with running_supervisor(settings) as h:
        target = datetime.now(UTC) - timedelta(seconds=5)
        for stream in STREAMS:
            await h.wait_checkpoint(stream, target, timeout=150)
        assert not h.runner.done()
        checkpoints = {s: await h.checkpoint(s) for s in STREAMS}
    stats = sim.stats()
    assert stats.count(status=429) > 0, "the quota never bit; the test proves less than it claims"
    assert stats.count(status=401) > 0
    assert stats.count(status=503) + stats.count(status=500) + stats.count(status=502) > 0
    for stream in STREAMS:
        checkpoint = checkpoints[stream]
        assert checkpoint is not None
        truth = sim.ground_truth(stream, start, checkpoint)
        delivered = delivered_ids(tmp_path / "out", stream)
        missing = expected_ids(stream, truth) - set(delivered)
        assert not missing, f"{stream}: {len(missing)} events lost under faults"
        assert max(delivered.values()) == 1
