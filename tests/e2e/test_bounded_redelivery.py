"""SIGKILL the daemon every 20 s for three minutes under a tight quota and 5 % errors: progress, 0 lost, bounded duplicates.

Real processes: the simulator (``mimecast-siem simulate``, request quota and random 503s) and the
daemon (``mimecast-siem run``) with a file sink and the SQLite state store. Windows are long (the
default hour) and the backlog takes longer than 20 s to walk at the quota, so a daemon that commits
whole windows only never commits the busy stream at all (issue 15: 14,299 records, 20,500
duplicates). With in-window commits every ``redelivery_pages`` pages each kill costs at most those
pages (plus the records of the second at the commit point, which the next window starts at).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.collector.helpers import daemon_config, delivered_ids, expected_ids
from tests.collector.processes import checkpoint, ground_truth, start_daemon, wait_checkpoint, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STREAMS = ("ttp-url", "ttp-attachment")
RATES = {"ttp-url": 25, "ttp-attachment": 5}
OVERLAP = timedelta(seconds=15)
PAGE_SIZE = 100
REDELIVERY_PAGES = 2
KILLS = 9
KILL_EVERY = 20.0


@pytest.mark.timeout(480)  # its own waits: 9 lives of 20 s plus start-up (~190 s), then up to 180 s to catch up
def test_sigkill_every_20s_makes_progress_loses_nothing_and_bounds_duplicates(
    simulator_process_factory: Any, tmp_path: Path
) -> None:
    sim = simulator_process_factory(
        "--seed", "15", "--history", "30m", "--rate", f"ttp-url={RATES['ttp-url']}",
        "--rate", f"ttp-attachment={RATES['ttp-attachment']}", "--late-fraction", "0.05", "--late-max-delay", "5s",
        "--quota", "30/10s", "--error-rate", "503=0.05", "--latency", "0.02s",
    )  # fmt: skip
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    raw = daemon_config(
        sim.url,
        "client-1",
        "secret-1",
        tmp_path,
        streams=STREAMS,
        stream_overrides={
            "start_from": start.isoformat(),
            "overlap": f"{int(OVERLAP.total_seconds())}s",
            "max_window": "1h",
            "page_size": PAGE_SIZE,
            "concurrency": 2,
            "redelivery_pages": REDELIVERY_PAGES,
        },
        server={"enabled": True, "port": 0},
    )
    config = write_config(tmp_path / "config.yaml", raw)
    state_url = f"sqlite:///{tmp_path / 'data' / 'state.db'}"
    progress: list[dict[str, datetime | None]] = []
    for _ in range(KILLS):
        daemon = start_daemon(config, tmp_path)
        daemon.port()
        time.sleep(KILL_EVERY)
        daemon.kill()
        progress.append({s: checkpoint(state_url, s) for s in STREAMS})
    daemon = start_daemon(config, tmp_path)
    daemon.port()
    target = datetime.now(UTC) - timedelta(seconds=3)
    final = {s: wait_checkpoint(state_url, s, target, 180, daemon) for s in STREAMS}
    assert daemon.terminate() == 0

    for stream in STREAMS:
        # Progress under the kills: every 20-second life of the daemon moved the checkpoint.
        points = [p[stream] for p in progress]
        assert all(p is not None for p in points), (stream, points)
        stalled = [i for i in range(1, KILLS) if points[i] == points[i - 1]]
        assert not stalled, f"{stream}: no commit during the daemon lives {stalled}: {points}"

    failures = _failed_polls(tmp_path)
    out = tmp_path / "out"
    for stream in STREAMS:
        truth = ground_truth(sim.url, stream, start, final[stream] - OVERLAP)
        assert truth
        expected = expected_ids(stream, truth)
        delivered = delivered_ids(out, stream)
        missing = expected - set(delivered)
        assert not missing, f"{stream}: {len(missing)} of {len(expected)} events lost across {KILLS} SIGKILLs"
        duplicates = sum(n - 1 for n in delivered.values() if n > 1)
        # Per kill (and per window a failed poll restarted): the pages since the last in-window commit,
        # plus the records of the commit point's second, which the next window starts at.
        per_crash = REDELIVERY_PAGES * PAGE_SIZE + _max_per_second(truth)
        restarts = KILLS + failures[stream]
        print(f"{stream}: {len(expected)} events, {duplicates} duplicates over {KILLS} kills "
              f"and {failures[stream]} failed polls ({duplicates / KILLS:.0f} per kill; bound {per_crash})")  # fmt: skip
        assert duplicates <= restarts * per_crash, (stream, duplicates, restarts, per_crash)


def _failed_polls(workdir: Path) -> Counter[str]:
    """Polls that failed (a failed window is retried from the checkpoint), from every daemon's log."""
    counts: Counter[str] = Counter()
    pattern = re.compile(r"Poll of stream ([a-z-]+) of tenant acme failed")
    for log in workdir.glob("daemon-*.log"):
        for match in pattern.finditer(log.read_text(errors="replace")):
            counts[match.group(1)] += 1
    return counts


def _max_per_second(records: list[dict[str, Any]]) -> int:
    counts = Counter(str(r.get("date")) for r in records)
    return max(counts.values())
