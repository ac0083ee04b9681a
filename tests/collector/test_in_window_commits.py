"""Bounded re-delivery: an oldest-first window commits its progress every ``redelivery_pages`` pages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mimecast_siem.events import Event
from mimecast_siem.simulator import LateArrivals
from mimecast_siem.sinks import SendResult, SinkTransientError
from tests.collector.harness import running_supervisor
from tests.collector.helpers import daemon_settings, delivered_ids, expected_ids


def _settings(sim: Any, tmp_path: Path, start: datetime, **overrides: Any) -> Any:
    stream = {
        "start_from": start.isoformat(),
        "max_window": "1h",
        "page_size": 50,
        "concurrency": 2,
        "redelivery_pages": 2,
        **overrides,
    }
    return daemon_settings(
        sim.url, sim.client_id, sim.client_secret, tmp_path, streams=("ttp-url",), stream_overrides=stream
    )


async def test_a_stuck_window_keeps_the_progress_of_its_delivered_pages(simulator_factory: Any, tmp_path: Path) -> None:
    sim = await simulator_factory(rates={"ttp-url": 5.0}, late=LateArrivals(fraction=0.0))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=8)  # ~2,400 records: ~48 pages, 1 window
    async with running_supervisor(_settings(sim, tmp_path, start)) as h:
        sink = h.sink
        inner_send = sink.send
        sent = 0

        async def fail_after_ten(events: list[Event]) -> SendResult:
            nonlocal sent
            if sent >= 10:
                raise SinkTransientError("test receiver is down", endpoint="file")
            sent += 1
            return await inner_send(events)

        sink.send = fail_after_ten  # type: ignore[method-assign,assignment]
        head = datetime.now(UTC) - timedelta(seconds=2)

        async def moved_inside() -> bool:
            cp = await h.checkpoint("ttp-url")
            return cp is not None and cp > start

        await h.wait_for(moved_inside, 30, "a checkpoint inside the first window")
        await asyncio.sleep(1.0)  # the sink keeps failing: the window cannot complete
        stuck = await h.checkpoint("ttp-url")
        assert stuck is not None
        assert start < stuck < head - timedelta(minutes=5), stuck  # well inside the one (8-minute) window
        committed_records = len(sim.ground_truth("ttp-url", start, stuck))
        # Every page but those since the last in-window commit (at most redelivery_pages = 2) is committed.
        assert committed_records >= (10 - 2) * 50 - 50, committed_records
        commits = h.metrics.registry.get_sample_value(
            "mimecast_siem_in_window_commits_total", {"tenant": "acme", "stream": "ttp-url"}
        )
        assert (commits or 0) >= 3
        sink.send = inner_send  # type: ignore[method-assign]
        await h.wait_checkpoint("ttp-url", datetime.now(UTC) - timedelta(seconds=4), timeout=60)
        final = await h.checkpoint("ttp-url")
    assert final is not None
    truth = expected_ids("ttp-url", sim.ground_truth("ttp-url", start, final))
    delivered = delivered_ids(tmp_path / "out", "ttp-url")
    assert truth <= set(delivered)
    assert max(delivered.values()) == 1  # no crash here: nothing twice


async def test_whole_window_commits_when_turned_off(simulator_factory: Any, tmp_path: Path) -> None:
    """``redelivery_pages: null`` keeps the old contract: the checkpoint moves by whole windows only."""
    sim = await simulator_factory(rates={"ttp-url": 5.0}, late=LateArrivals(fraction=0.0))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    async with running_supervisor(_settings(sim, tmp_path, start, redelivery_pages=None, max_window="10m")) as h:
        await h.wait_checkpoint("ttp-url", datetime.now(UTC) - timedelta(seconds=4), timeout=60)
        commits = h.metrics.registry.get_sample_value(
            "mimecast_siem_in_window_commits_total", {"tenant": "acme", "stream": "ttp-url"}
        )
    assert not commits
