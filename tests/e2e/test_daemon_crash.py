"""SIGKILL the daemon at random points many times; after a restart nothing is lost.

Real processes: the simulator (``mimecast-siem simulate``) and the daemon (``mimecast-siem run``)
with a file sink and the SQLite state store. Kills land during fetches (small pages, many of them)
and between delivery and commit. Ground truth comes from the simulator's control API.
"""

from __future__ import annotations

import random
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
OVERLAP = timedelta(seconds=15)
MAX_WINDOW = timedelta(seconds=30)
CONCURRENCY = 2
KILLS = 8


def test_sigkill_at_random_points_loses_nothing(simulator_process_factory: Any, tmp_path: Path) -> None:
    sim = simulator_process_factory(
        "--seed", "11", "--history", "15m", "--rate", "ttp-url=25", "--rate", "ttp-attachment=5",
        "--late-fraction", "0.1", "--late-max-delay", "5s", "--latency", "0.01s",
    )  # fmt: skip
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    raw = daemon_config(
        sim.url,
        "client-1",
        "secret-1",
        tmp_path,
        streams=STREAMS,
        stream_overrides={
            "start_from": start.isoformat(),
            "overlap": f"{int(OVERLAP.total_seconds())}s",
            "max_window": f"{int(MAX_WINDOW.total_seconds())}s",
            "page_size": 100,
            "concurrency": CONCURRENCY,
        },
        server={"enabled": True, "port": 0},
    )
    config = write_config(tmp_path / "config.yaml", raw)
    state_url = f"sqlite:///{tmp_path / 'data' / 'state.db'}"
    rng = random.Random(20261125)
    for _ in range(KILLS):
        daemon = start_daemon(config, tmp_path)
        daemon.port()  # it is up (state store open, sinks started)
        time.sleep(rng.uniform(0.2, 2.5))
        daemon.kill()
    # The killed daemons made progress between kills (the crashes hit real work, not idle start-ups).
    assert checkpoint(state_url, "ttp-url") is not None
    daemon = start_daemon(config, tmp_path)
    daemon.port()
    target = datetime.now(UTC) - timedelta(seconds=3)
    final = {s: wait_checkpoint(state_url, s, target, 120, daemon) for s in STREAMS}
    assert daemon.terminate() == 0

    out = tmp_path / "out"
    for stream in STREAMS:
        horizon = final[stream] - OVERLAP
        truth = ground_truth(sim.url, stream, start, horizon)
        assert truth
        expected = expected_ids(stream, truth)
        delivered = delivered_ids(out, stream)
        missing = expected - set(delivered)
        assert not missing, f"{stream}: {len(missing)} of {len(expected)} events lost across {KILLS} SIGKILLs"
        # Upper bound: the checkpoint at shutdown (the daemon kept delivering this stream while the test
        # waited for the others) plus the windows that may be delivered and not committed.
        stopped = checkpoint(state_url, stream) or final[stream]
        reach = stopped + CONCURRENCY * MAX_WINDOW
        everything = expected_ids(stream, ground_truth(sim.url, stream, start, reach, future=True))
        unknown = set(delivered) - everything
        assert not unknown, f"{stream}: {len(unknown)} delivered events the simulator never served"
        # Duplicates only from windows in flight at a kill: at most `concurrency` windows per kill.
        duplicates = sum(n - 1 for n in delivered.values() if n > 1)
        per_window = _max_per_window(truth, start)
        assert duplicates <= KILLS * CONCURRENCY * per_window, (stream, duplicates, per_window)


def _max_per_window(records: list[dict[str, Any]], start: datetime) -> int:
    counts: Counter[int] = Counter()
    for r in records:
        when = datetime.fromisoformat(str(r.get("date")).replace("+0000", "+00:00"))
        counts[int((when - start) / MAX_WINDOW)] += 1
    return max(counts.values())
