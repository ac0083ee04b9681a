"""Supervisor behaviour: a failing stream backs off alone; a fenced lease is re-acquired from the new checkpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mimecast_siem.simulator import FaultSettings, LateArrivals, ScriptedFault
from tests.collector.harness import running_supervisor
from tests.collector.helpers import daemon_settings, delivered_ids, expected_ids


async def test_a_failing_stream_backs_off_without_stopping_the_others(simulator_factory: Any, tmp_path: Path) -> None:
    sim = await simulator_factory(
        rates={"ttp-url": 5.0, "ttp-attachment": 2.0},
        late=LateArrivals(fraction=0.0),
        faults=FaultSettings(script=[ScriptedFault(path="/api/ttp/attachment/get-logs", count=6, status=400)]),
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    settings = daemon_settings(
        sim.url,
        sim.client_id,
        sim.client_secret,
        tmp_path,
        streams=("ttp-url", "ttp-attachment"),
        stream_overrides={"start_from": start.isoformat()},
    )
    async with running_supervisor(settings) as h:
        await h.wait_checkpoint("ttp-url", datetime.now(UTC) - timedelta(seconds=4), timeout=30)

        async def permanent_errors_counted() -> bool:
            value = h.metrics.registry.get_sample_value(
                "mimecast_siem_poll_errors_total", {"tenant": "acme", "stream": "ttp-attachment", "kind": "permanent"}
            )
            return (value or 0) >= 2

        await h.wait_for(permanent_errors_counted, 30, "permanent errors of ttp-attachment")
        # Once Mimecast answers again the failed window is retried from its start: nothing is skipped.
        await h.wait_checkpoint("ttp-attachment", datetime.now(UTC) - timedelta(seconds=4), timeout=60)
        final = await h.checkpoint("ttp-attachment")
        url_errors = h.metrics.registry.get_sample_value(
            "mimecast_siem_poll_errors_total", {"tenant": "acme", "stream": "ttp-url", "kind": "permanent"}
        )
    assert url_errors is None
    assert final is not None
    truth = sim.ground_truth("ttp-attachment", start, final)
    assert expected_ids("ttp-attachment", truth) <= set(delivered_ids(tmp_path / "out", "ttp-attachment"))


async def test_moving_a_checkpoint_fences_the_task_which_resumes_from_it(
    simulator_factory: Any, tmp_path: Path
) -> None:
    sim = await simulator_factory(rates={"ttp-url": 5.0}, late=LateArrivals(fraction=0.0))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    settings = daemon_settings(
        sim.url,
        sim.client_id,
        sim.client_secret,
        tmp_path,
        streams=("ttp-url",),
        stream_overrides={"start_from": start.isoformat()},
    )
    async with running_supervisor(settings) as h:
        await h.wait_checkpoint("ttp-url", datetime.now(UTC) - timedelta(seconds=4), timeout=30)
        rewind = start + timedelta(seconds=30)
        await h.store.set_checkpoint("acme", "ttp-url", rewind, by="test")

        async def lease_lost_counted() -> bool:
            value = h.metrics.registry.get_sample_value(
                "mimecast_siem_poll_errors_total", {"tenant": "acme", "stream": "ttp-url", "kind": "lease_lost"}
            )
            return (value or 0) >= 1

        await h.wait_for(lease_lost_counted, 30, "the fenced task to notice")
        await h.wait_checkpoint("ttp-url", datetime.now(UTC) - timedelta(seconds=4), timeout=30)
    delivered = delivered_ids(tmp_path / "out", "ttp-url")
    rewound = expected_ids("ttp-url", sim.ground_truth("ttp-url", rewind, rewind + timedelta(seconds=60)))
    # Events after the new checkpoint were delivered again (operators move checkpoints back to re-send).
    assert rewound
    assert all(delivered[i] >= 2 for i in rewound)
    before = expected_ids("ttp-url", sim.ground_truth("ttp-url", start, rewind - timedelta(seconds=25)))
    assert all(delivered[i] == 1 for i in before)


async def test_seen_ids_are_pruned_against_each_streams_own_checkpoint(tmp_path: Path) -> None:
    """A stream no longer configured keeps its old checkpoint (here from October): the other streams' seen
    ids are still pruned against their own checkpoints - not kept for as long as that one is old - and its
    own ids near its checkpoint stay."""
    from mimecast_siem.checkpoints import StateStore
    from mimecast_siem.collector.supervisor import Supervisor

    now = datetime(2027, 1, 1, 0, 30, tzinfo=UTC)
    settings = daemon_settings("http://127.0.0.1:9", "id", "secret", tmp_path, streams=("ttp-url",))
    store = await StateStore.open(settings.state_url())
    try:
        stale = datetime(2026, 10, 1, tzinfo=UTC)
        await store.commit_window("acme", "dlp", stale, owner=None, seen=[("dlp-near", stale - timedelta(minutes=1))])
        await store.commit_window("acme", "ttp-url", now - timedelta(minutes=1), owner=None,
                                  seen=[("old", now - timedelta(days=3)), ("near", now - timedelta(minutes=2))])  # fmt: skip
        supervisor = Supervisor(settings, store, {"acme": object()}, object(), owner="me", clock=lambda: now)  # type: ignore[arg-type,dict-item]
        await supervisor._prune_seen()
        assert await store.seen_ids("acme", "ttp-url", ["old", "near"]) == {"near"}
        assert await store.seen_ids("acme", "dlp", ["dlp-near"]) == {"dlp-near"}
    finally:
        await store.close()
