"""Calendar edges on the live log path: windows crossing midnight, the year end and a leap day.

The simulator's clock is frozen and advanced by the test, so a poll runs at exactly the instants the
scenario names; the task reads the same clock. Records are stamped on every second (a record at
exactly each window end included: Mimecast's ``to`` is inclusive, so it comes back in both windows),
and some become visible late (within lag + overlap). Every record of the range must be delivered
once.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mimecast_siem.collector import CATALOGUE
from mimecast_siem.mimecast import parse_mimecast_time
from mimecast_siem.simulator import LateArrivals, SimulatorConfig, run_simulator
from tests.collector.helpers import RecordingClient, daemon_settings, delivered_ids, expected_ids, leased_task

STEP = 20  # seconds between polls


@pytest.mark.parametrize(
    ("stream", "midnight"),
    [
        ("ttp-url", datetime(2027, 1, 1, tzinfo=UTC)),  # 2026-12-31T23:59:59 -> 2027
        ("audit", datetime(2028, 3, 1, tzinfo=UTC)),  # the leap day 2028-02-29 ends
        ("rejections", datetime(2026, 12, 1, tzinfo=UTC)),  # a month end (start/end fields)
        ("dlp", datetime(2026, 12, 8, tzinfo=UTC)),  # an ordinary midnight
    ],
)
async def test_polls_across_midnight_deliver_every_record_once(stream: str, midnight: datetime, tmp_path: Path) -> None:
    start = midnight - timedelta(minutes=2)
    config = SimulatorConfig(
        seed=7,
        frozen_at=start + timedelta(seconds=2),  # polls at head = start + 20 k s: one window ends at midnight
        history=600.0,
        rates={stream: 3.0},
        late=LateArrivals(fraction=0.2, min_delay=1.0, max_delay=15.0),
    )
    async with run_simulator(config) as sim:
        settings = daemon_settings(
            sim.url,
            sim.client_id,
            sim.client_secret,
            tmp_path,
            streams=(stream,),
            stream_overrides={
                "start_from": start.isoformat(),
                "lag": "2s",
                "overlap": "20s",
                "max_window": "30s",
                "concurrency": 2,
                "late_audit_every": None,
            },
        )
        fields = CATALOGUE[stream].window_fields
        assert fields is not None
        recorder = functools.partial(RecordingClient, fields=fields)
        async with leased_task(settings, tmp_path, stream, recorder, clock=sim.world.clock.now) as (
            task,
            client,
            store,
        ):
            while sim.world.clock.now() < midnight + timedelta(minutes=2):
                await task.poll_once()
                sim.world.clock.advance(STEP)
            checkpoint = await store.get_checkpoint("acme", stream)
    assert checkpoint is not None
    assert checkpoint > midnight + timedelta(minutes=1)
    # A request ended exactly at midnight (inclusive there) and the next one started there.
    assert any(t == midnight for _f, t in client.ranges)
    assert any(f <= midnight < t for f, t in client.ranges)
    truth = sim.ground_truth(stream, start, checkpoint - timedelta(seconds=20))
    field = CATALOGUE[stream].time_field
    assert field is not None
    assert any(parse_mimecast_time(r[field]) == midnight for r in truth)  # a record on the boundary itself
    expected = expected_ids(stream, truth)
    delivered = delivered_ids(tmp_path / "out", stream)
    assert not expected - set(delivered), f"{len(expected - set(delivered))} of {len(expected)} events lost"
    assert not {i: n for i, n in delivered.items() if n > 1}, "events delivered twice"


async def test_a_checkpoint_older_than_the_audit_history_is_reported_and_resumed_at_its_edge(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The audit endpoint serves 60 days: a checkpoint 61 days old (the daemon was off for two months) moves to
    the oldest time still served - with a warning naming the gap, not silently."""
    now = datetime(2027, 1, 1, 0, 30, tzinfo=UTC)
    config = SimulatorConfig(seed=7, frozen_at=now, history=600.0, rates={"audit": 0.5})
    async with run_simulator(config) as sim:
        settings = daemon_settings(sim.url, sim.client_id, sim.client_secret, tmp_path, streams=("audit",),
                                   stream_overrides={"late_audit_every": None, "max_window": "7d"})  # fmt: skip
        recorder = functools.partial(RecordingClient, fields=("startDateTime", "endDateTime"))
        async with leased_task(settings, tmp_path, "audit", recorder, clock=sim.world.clock.now) as (
            task,
            client,
            store,
        ):
            stale = now - timedelta(days=61)
            await store.commit_window("acme", "audit", stale, owner="me", epoch=task.lease.epoch)
            with caplog.at_level("WARNING", logger="mimecast_siem.collector"):
                await task.poll_once()
            checkpoint = await store.get_checkpoint("acme", "audit")
    edge = now - timedelta(days=60) + timedelta(minutes=1)
    assert client.ranges[0][0] == edge  # the request the API still accepts
    assert checkpoint is not None
    assert checkpoint > edge
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("resuming at 2026-11-02T00:31:00Z" in w for w in warnings), warnings
