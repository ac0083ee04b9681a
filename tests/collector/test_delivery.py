"""The data path against the simulator: completeness, each id once, late records, a failing sink."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mimecast_siem.simulator import LateArrivals
from tests.collector.harness import running_supervisor
from tests.collector.helpers import LOG_STREAMS, daemon_settings, delivered_ids, expected_ids, read_documents

OVERLAP = timedelta(seconds=20)


def _start() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=4)


async def test_everything_served_is_delivered_once_including_late_records(
    simulator_factory: Any, tmp_path: Path
) -> None:
    sim = await simulator_factory(
        rates={"ttp-url": 15.0, "ttp-attachment": 4.0, "ttp-impersonation": 2.0, "audit": 1.0},
        late=LateArrivals(fraction=0.15, min_delay=1.0, max_delay=6.0),
    )
    start = _start()
    settings = daemon_settings(
        sim.url,
        sim.client_id,
        sim.client_secret,
        tmp_path,
        stream_overrides={"start_from": start.isoformat(), "overlap": "20s"},
    )
    async with running_supervisor(settings) as h:
        # Run well past the first catch-up so live polling with late arrivals is exercised too.
        target = datetime.now(UTC) + timedelta(seconds=12)
        for stream in LOG_STREAMS:
            await h.wait_checkpoint(stream, target - timedelta(seconds=3), timeout=90)
        checkpoints = {s: await h.checkpoint(s) for s in LOG_STREAMS}
    # The shutdown finishes the windows in flight, which may reach past the checkpoints read above:
    # what was served at all is bounded by the time the daemon stopped, not by those checkpoints.
    stopped = datetime.now(UTC) + timedelta(seconds=1)
    for stream in LOG_STREAMS:
        checkpoint = checkpoints[stream]
        assert checkpoint is not None
        # Records older than the overlap horizon were visible to a fetch and must have been delivered.
        horizon = checkpoint - OVERLAP
        truth = sim.ground_truth(stream, start, horizon)
        assert truth, f"the simulator served nothing for {stream}"
        expected = expected_ids(stream, truth)
        delivered = delivered_ids(tmp_path / "out", stream)
        missing = expected - set(delivered)
        assert not missing, f"{stream}: {len(missing)} of {len(expected)} events lost"
        duplicates = {i: n for i, n in delivered.items() if n > 1}
        assert not duplicates, f"{stream}: {len(duplicates)} events delivered more than once"
        everything = expected_ids(stream, sim.ground_truth(stream, start, stopped, include_future_visible=True))
        assert set(delivered) <= everything, f"{stream}: delivered events the simulator never served"
    # The world really had late records in range (otherwise the test proves less than it claims).
    docs = read_documents(tmp_path / "out", stream="ttp-url")
    created_after = [
        d
        for d in docs
        if datetime.fromisoformat(d["event"]["created"]) - datetime.fromisoformat(d["@timestamp"])
        > timedelta(seconds=4)
    ]
    assert created_after, "no ttp-url record was read more than 4 s after its timestamp"


async def test_failing_sink_holds_the_checkpoint_then_delivery_resumes(simulator_factory: Any, tmp_path: Path) -> None:
    sim = await simulator_factory(rates={"ttp-url": 10.0}, late=LateArrivals(fraction=0.0))
    start = _start()
    settings = daemon_settings(
        sim.url,
        sim.client_id,
        sim.client_secret,
        tmp_path,
        streams=("ttp-url",),
        stream_overrides={"start_from": start.isoformat()},
    )
    async with running_supervisor(settings) as h:
        await h.wait_checkpoint("ttp-url", start + timedelta(minutes=3), timeout=60)
        h.sink.failing = True
        refused_before = h.sink.refused

        async def refusing() -> bool:
            return h.sink.refused > refused_before + 3

        await h.wait_for(refusing, 30, "the sink to refuse a few batches")
        held = await h.checkpoint("ttp-url")
        await h.wait_for(lambda: _later(h.sink, refused_before + 10), 30, "more refusals")
        assert await h.checkpoint("ttp-url") == held, "checkpoint moved while the sink refused every batch"
        assert held is not None
        h.sink.failing = False
        await h.wait_checkpoint("ttp-url", held + timedelta(seconds=5), timeout=60)
        final = await h.checkpoint("ttp-url")
    assert final is not None
    truth = sim.ground_truth("ttp-url", start, final)
    delivered = delivered_ids(tmp_path / "out", "ttp-url")
    assert expected_ids("ttp-url", truth) <= set(delivered)
    assert max(delivered.values()) == 1


async def _later(sink: Any, count: int) -> bool:
    return bool(sink.refused > count)
