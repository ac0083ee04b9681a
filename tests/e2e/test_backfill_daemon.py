"""The daemon runs a queued backfill next to its live streams, within the app's quota, across a restart.

Real processes: the simulator with a request quota, ``mimecast-siem backfill --queue``, and
``mimecast-siem run`` (stopped with SIGTERM mid-job and started again).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.checkpoints import StateStore
from tests.collector.helpers import daemon_config, delivered_ids, expected_ids
from tests.collector.processes import ground_truth, sim_get, start_daemon, write_config
from tests.e2e.test_backfill_support import iso, job, minutes_ago, run_cli, state, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STREAMS = ("ttp-url", "ttp-attachment")
QUOTA_PER_SECOND = 12


def test_daemon_backfill_shares_the_quota_live_keeps_up_and_a_restart_resumes(
    simulator_process_factory: Any, tmp_path: Path
) -> None:
    sim = simulator_process_factory(
        "--seed", "31", "--history", "30m", "--rate", "ttp-url=15", "--rate", "ttp-attachment=3",
        "--quota", f"{QUOTA_PER_SECOND}/1s", "--late-max-delay", "20s",
    )  # fmt: skip
    live_from = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=20)
    raw = daemon_config(
        sim.url,
        "client-1",
        "secret-1",
        tmp_path,
        streams=STREAMS,
        stream_overrides={"start_from": live_from.isoformat(), "page_size": 100},
        server={"enabled": True, "port": 0},
        backfill={"concurrency": 3},
    )
    raw["tenants"][0]["rate_limit"] = {"max_requests_per_second": QUOTA_PER_SECOND - 2}
    config = write_config(tmp_path / "config.yaml", raw)
    state_url = f"sqlite:///{tmp_path / 'data' / 'state.db'}"
    since, until = minutes_ago(24), minutes_ago(4)
    queued = run_cli(config, tmp_path, "backfill", "--tenant", "acme", *[f for s in STREAMS for f in ("--stream", s)],
                     "--since", iso(since), "--until", iso(until), "--window", "2m", "--queue")  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    assert "Backfill job 1 is queued (0 of 20 windows done)" in queued.stdout
    assert sim_get(sim.url, "/_sim/stats")["requests_total"] == 0

    daemon = start_daemon(config, tmp_path)
    daemon.port()
    lags: list[float] = []

    def progressed(at_least: int) -> bool:
        """Sample the live streams' lag and tell whether the job has ``at_least`` windows done (one connection)."""

        async def read(store: StateStore) -> tuple[Any, list[Any]]:
            jobs = [j for j in await store.list_backfill_jobs() if j.id == 1]
            return (jobs[0] if jobs else None), [await store.get_checkpoint("acme", s) for s in STREAMS]

        j, checkpoints = state(state_url, read)
        now = datetime.now(UTC)
        lags.extend((now - cp).total_seconds() for cp in checkpoints if cp is not None)
        time.sleep(0.2)
        return j is not None and j.windows_done >= at_least

    wait_until(lambda: progressed(6), 120, "the daemon to run the queued job", daemon)
    # SIGTERM mid-job: the windows in flight finish, the job goes back to the queue, the daemon exits 0.
    assert daemon.terminate() == 0, daemon.output()[-3000:]
    paused = job(state_url)
    assert paused is not None
    assert paused.status.value == "queued", (paused, daemon.output()[-3000:])
    assert 6 <= paused.windows_done < paused.windows_total, paused
    assert sum(sum(delivered_ids(tmp_path / "out", s).values()) for s in STREAMS) >= paused.events

    daemon = start_daemon(config, tmp_path)
    daemon.port()
    wait_until(lambda: progressed(20), 180, "the restarted daemon to finish the job", daemon)
    finished = job(state_url)
    assert finished is not None
    assert finished.status.value == "done", finished
    # Live polling went on while the backfill ran: it never fell behind by more than a few polls.
    settle_lags = lags[len(lags) // 10 :]
    assert settle_lags
    assert max(settle_lags) < 30, f"live lag reached {max(settle_lags):.0f} s"
    assert daemon.terminate() == 0, daemon.output()[-3000:]

    stats = sim_get(sim.url, "/_sim/stats")
    print(
        f"max live lag {max(settle_lags):.1f} s, 429s {stats['rate_limited_total']}, requests {stats['requests_total']}"
    )
    # One budget for both: paced under the quota, so 429s are rare (a burst at start-up at most).
    assert stats["rate_limited_total"] <= 3, stats["rate_limited"]
    for stream in STREAMS:
        truth = ground_truth(sim.url, stream, since, until)
        assert truth
        delivered = delivered_ids(tmp_path / "out", stream)
        expected = expected_ids(stream, truth)
        assert expected <= set(delivered), f"{stream}: {len(expected - set(delivered))} backfilled events missing"
        assert max(delivered[i] for i in expected) == 1, f"{stream}: a backfilled event was delivered twice"
    logs = daemon.output()
    assert "Backfill job 1 of tenant acme started" in logs
    assert "Backfill job 1 ended done" in logs
