"""A backfill killed mid-run (SIGKILL) or interrupted (Ctrl-C) and re-run: nothing missing, done windows not re-sent.

Real processes: the simulator and ``mimecast-siem backfill`` with a file sink and the SQLite state
store. Ground truth comes from the simulator's control API.
"""

from __future__ import annotations

import signal
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.collector.helpers import daemon_config, delivered_ids, expected_ids
from tests.collector.processes import ground_truth, write_config
from tests.e2e.test_backfill_support import (
    done_windows,
    iso,
    job,
    minutes_ago,
    start_backfill,
    wait_until,
    window_of,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STREAMS = ("ttp-url", "ttp-attachment")
WINDOW = timedelta(minutes=1)
CONCURRENCY = 3
# Late records arrive within 20 s, long before the range's end (3 min ago) is read: the ground truth
# read at the end is what the API served during the run. (With the default 5 min, a record of the
# last windows could become visible after its window was read - a test artefact, see docs/backfill.md.)
SIMULATOR = ("--history", "30m", "--rate", "ttp-url=20", "--rate", "ttp-attachment=4", "--latency", "0.03s",
             "--late-max-delay", "20s")  # fmt: skip


def _setup(sim: Any, tmp_path: Path) -> tuple[Path, str]:
    raw = daemon_config(sim.url, "client-1", "secret-1", tmp_path, streams=STREAMS, stream_overrides={"page_size": 50})
    return write_config(tmp_path / "config.yaml", raw), f"sqlite:///{tmp_path / 'data' / 'state.db'}"


def _flags(since: Any, until: Any) -> list[str]:
    flags = [f for s in STREAMS for f in ("--stream", s)]
    return [*flags, "--tenant", "acme", "--since", iso(since), "--until", iso(until), "--window", "1m",
            "--concurrency", str(CONCURRENCY), "--progress", "log", "--progress-interval", "1s"]  # fmt: skip


Snapshot = tuple[set[tuple[str, Any]], dict[str, Counter[str]]]


def _snapshot(state_url: str, tmp_path: Path) -> Snapshot:
    """Windows recorded done, and how often each event was delivered, right after an interruption."""
    return done_windows(state_url), {s: delivered_ids(tmp_path / "out", s) for s in STREAMS}


def _check_delivery(sim: Any, tmp_path: Path, since: Any, until: Any, snapshots: list[Snapshot]) -> None:
    """Nothing missing; no event of a window recorded done at an interruption was sent after it."""
    for stream in STREAMS:
        truth = ground_truth(sim.url, stream, since, until)
        assert truth, f"the simulator served nothing for {stream}"
        delivered = delivered_ids(tmp_path / "out", stream)
        expected = expected_ids(stream, truth)
        assert not expected - set(delivered), f"{stream}: {len(expected - set(delivered))} events missing"
        assert set(delivered) <= expected, f"{stream}: events outside the range were delivered"
        per_window: Counter[Any] = Counter()
        checked = 0
        for record in truth:
            start = window_of(stream, record, since, WINDOW)
            per_window[start] += 1
            (event_id,) = expected_ids(stream, [record])
            for done, counts in snapshots:
                if (stream, start) in done:
                    checked += 1
                    assert counts[stream][event_id] >= 1
                    assert delivered[event_id] == counts[stream][event_id], (
                        f"{stream}: an event of window {start.isoformat()}, recorded done, was sent again later"
                    )
        assert checked or not snapshots, "no window was done at an interruption: the test proved nothing"
        duplicates = sum(n - 1 for n in delivered.values())
        # Only windows in flight at an interruption can be sent twice.
        assert duplicates <= len(snapshots) * CONCURRENCY * max(per_window.values())


def test_sigkill_mid_backfill_and_rerun(simulator_process_factory: Any, tmp_path: Path) -> None:
    sim = simulator_process_factory(*SIMULATOR, "--seed", "21")
    config, state_url = _setup(sim, tmp_path)
    since, until = minutes_ago(22), minutes_ago(3)
    snapshots: list[Snapshot] = []
    for at_least in (5, 16):
        proc = start_backfill(config, tmp_path, *_flags(since, until))
        wait_until(lambda n=at_least: (j := job(state_url)) is not None and j.windows_done >= n, 90, "progress", proc)  # type: ignore[misc]
        proc.kill(signal.SIGKILL)
        proc.wait(30)
        current = job(state_url)
        assert current is not None
        assert current.status.value == "running"  # a killed runner cannot say goodbye; its lease expires
        assert current.windows_done < current.windows_total, "the job finished before the kill"
        snapshots.append(_snapshot(state_url, tmp_path))
    # The re-run takes the job over once the dead runner's lease expires (state.lease_ttl: 3s) and finishes.
    final = start_backfill(config, tmp_path, *_flags(since, until))
    assert final.wait(120) == 0, final.stderr()[-3000:]
    finished = job(state_url)
    assert finished is not None
    assert finished.status.value == "done"
    assert finished.windows_done == finished.windows_total == 2 * 19
    # Windows recorded done were not fetched again by the re-run.
    assert "Backfill job 1 of tenant acme started" in final.stderr()
    assert f"{len(snapshots[-1][0])} of 38 windows done" in final.stderr()
    _check_delivery(sim, tmp_path, since, until, snapshots)


def test_ctrl_c_stops_after_the_windows_in_flight_and_a_rerun_finishes(
    simulator_process_factory: Any, tmp_path: Path
) -> None:
    sim = simulator_process_factory(*SIMULATOR, "--seed", "22")
    config, state_url = _setup(sim, tmp_path)
    since, until = minutes_ago(20), minutes_ago(3)
    proc = start_backfill(config, tmp_path, *_flags(since, until))
    wait_until(lambda: (j := job(state_url)) is not None and j.windows_done >= 4, 90, "progress", proc)
    proc.kill(signal.SIGINT)
    assert proc.wait(60) == 130, proc.stderr()[-3000:]
    assert "is queued again: re-run the same command to continue" in proc.stdout()
    assert proc.stdout().splitlines()[0].split()[:2] == ["STREAM", "WINDOWS"]  # the summary is still printed
    stopped = job(state_url)
    assert stopped is not None
    assert stopped.status.value == "queued"
    assert stopped.windows_done < stopped.windows_total
    snapshot = _snapshot(state_url, tmp_path)
    # Graceful: the windows in flight were finished and recorded, so nothing delivered is unrecorded.
    assert sum(sum(delivered_ids(tmp_path / "out", s).values()) for s in STREAMS) == stopped.events
    again = start_backfill(config, tmp_path, *_flags(since, until))
    assert again.wait(120) == 0, again.stderr()[-3000:]
    assert "is being run by" not in again.stderr()  # the job was released: no lease to wait for
    _check_delivery(sim, tmp_path, since, until, [snapshot])
    for stream in STREAMS:  # a graceful stop leaves nothing half-sent: every event exactly once
        assert max(delivered_ids(tmp_path / "out", stream).values()) == 1
