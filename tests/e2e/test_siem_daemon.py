"""SIEM logs end to end: the daemon (a real process) against the simulator (a real process).

* Batch: SIGKILLs land while files are being downloaded (the simulator pauses mid-file) and while
  their first events are being delivered; an expired URL and a corrupt line are injected. After a
  restart every ground-truth record of every file is in the file sink (no id missing, none the
  simulator never served; duplicates only from files in flight at a kill), the corrupt line is a
  dead letter with its file and line number.
* Stream: the same across SIGKILLs; then a checkpoint set 30 h back is reported (log, metric,
  ``checkpoints list``) and the stream resumes at the oldest point the API serves.
"""

from __future__ import annotations

import functools
import json
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.collector.helpers import daemon_config, delivered_ids, expected_ids
from tests.collector.processes import ground_truth, sim_get, start_daemon, wait_checkpoint, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

INTERVAL = 300  # seconds of records per batch file
TYPES = ("receipt", "delivery")
STREAMS = tuple("siem-" + t for t in TYPES)


def _config(sim_url: str, tmp_path: Path, *, mode: str, start: datetime, concurrency: int = 2) -> Path:
    raw = daemon_config(
        sim_url,
        "client-1",
        "secret-1",
        tmp_path,
        streams=(),
        stream_overrides={"start_from": start.isoformat(), "concurrency": concurrency, "page_size": 200},
        server={"enabled": True, "port": 0},
    )
    raw["tenants"][0]["streams"] = []
    raw["tenants"][0]["siem"] = {"mode": mode, "types": list(TYPES)}
    raw["streams"] = {s: {"poll_interval": "1s", "start_from": start.isoformat(), "concurrency": concurrency,
                          "page_size": 200} for s in STREAMS}  # fmt: skip
    return write_config(tmp_path / "config.yaml", raw)


def _dead_letters(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "data" / "dead-letters.ndjson"
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _delivered_a_file(daemon: Any) -> bool:
    return "SIEM file" in daemon.output()


def _wait_until(condition: Callable[[], bool], timeout: float, daemon: Any) -> bool:
    """True once ``condition`` holds; False after ``timeout``; raises if the daemon exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if not daemon.alive():
            raise AssertionError(f"daemon exited:\n{daemon.output()[-3000:]}")
        time.sleep(0.05)
    return False


def _slot_end(when: datetime) -> datetime:
    epoch = int(when.timestamp()) // INTERVAL * INTERVAL + INTERVAL
    return datetime.fromtimestamp(epoch, UTC)


@pytest.mark.timeout(600)  # up to 5 lives of 60 s each, then up to 240 s to catch up
def test_batch_files_survive_sigkills_expired_urls_and_corrupt_lines(
    simulator_process_factory: Any, tmp_path: Path
) -> None:
    sim = simulator_process_factory(
        "--seed", "12", "--history", "50m", "--siem-rate", "8", "--siem-file-interval", f"{INTERVAL}s",
        "--siem-file-delay", "5s", "--siem-download-delay", "0.6s", "--siem-corrupt-files", "1",
        "--siem-expired-urls", "2", "--rate", "ttp-url=0",
    )  # fmt: skip
    start = datetime.now(UTC) - timedelta(minutes=45)
    config = _config(sim.url, tmp_path, mode="batch", start=start)
    state_url = f"sqlite:///{tmp_path / 'data' / 'state.db'}"
    rng = random.Random(1207)
    kills = 0
    files_before_kill = 0
    for _ in range(5):
        daemon = start_daemon(config, tmp_path)
        daemon.port()
        # Kill once real work is under way: a file was delivered, others are downloading or delivering.
        # A fast run can deliver every existing file in the earlier lives; a life that finds nothing left
        # ends the kill loop (the next file appears only after INTERVAL seconds).
        if not _wait_until(functools.partial(_delivered_a_file, daemon), 60, daemon):
            daemon.kill()
            assert kills >= 2, f"only {kills} kills before the daemon had caught up:\n{daemon.output()[-3000:]}"
            break
        time.sleep(rng.uniform(0.2, 1.5))
        daemon.kill()
        files_before_kill += daemon.output().count("SIEM file")
        kills += 1
    stats = sim_get(sim.url, "/_sim/stats")
    assert stats["faults"].get("siem_download_aborted", 0) >= 1, "no kill landed during a file download"
    assert files_before_kill >= kills
    daemon = start_daemon(config, tmp_path)
    daemon.port()
    # Caught up: the last file that exists now was delivered (its slot ended at least a file delay ago).
    last_slot = _slot_end(datetime.now(UTC) - timedelta(seconds=INTERVAL + 10)) - timedelta(seconds=INTERVAL)
    final = {s: wait_checkpoint(state_url, s, last_slot, 240, daemon) for s in STREAMS}
    assert daemon.terminate() == 0
    # The expired URLs were listed and answered 403; the files were listed again and delivered (below).
    stats = sim_get(sim.url, "/_sim/stats")
    assert stats["faults"].get("siem_expired_url") == 2
    forbidden = [r for r in stats["requests"] if r["endpoint"].startswith("/siem-files/") and r["status"] == 403]
    assert forbidden, "no expired URL was ever fetched"

    out = tmp_path / "out"
    origin = datetime.fromtimestamp(int(start.timestamp()) // 86400 * 86400, UTC)
    for stream in STREAMS:
        end = _slot_end(final[stream])
        truth = ground_truth(sim.url, stream, origin, end)
        assert truth
        expected = expected_ids(stream, truth)
        delivered = delivered_ids(out, stream)
        missing = expected - set(delivered)
        assert not missing, f"{stream}: {len(missing)} of {len(expected)} events lost across {kills} SIGKILLs"
        everything = expected_ids(stream, ground_truth(sim.url, stream, origin, _slot_end(datetime.now(UTC))))
        unknown = set(delivered) - everything
        assert not unknown, f"{stream}: {len(unknown)} delivered events the simulator never served"
        duplicates = sum(n - 1 for n in delivered.values() if n > 1)
        per_file = max(1, len(truth) // max(1, len({int(r["timestamp"]) // 1000 // INTERVAL for r in truth})))
        # Re-delivery only of the files in flight at a kill: at most `concurrency` files per kill (x3 for skew).
        assert duplicates <= kills * 2 * per_file * 3, (stream, duplicates, per_file)
    corrupt = [d for d in _dead_letters(tmp_path) if "corrupt line" in d.get("reason", "")]
    assert corrupt, "the corrupt line was not dead-lettered"
    assert "line 2 of SIEM file email_" in corrupt[0]["reason"]
    assert "signature" not in json.dumps(corrupt)


def test_stream_survives_sigkills_and_reports_an_old_checkpoint(simulator_process_factory: Any, tmp_path: Path) -> None:
    sim = simulator_process_factory("--seed", "13", "--history", "20m", "--siem-rate", "6", "--rate", "ttp-url=0")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=15)
    config = _config(sim.url, tmp_path, mode="stream", start=start)
    state_url = f"sqlite:///{tmp_path / 'data' / 'state.db'}"
    rng = random.Random(1208)
    for _ in range(4):
        daemon = start_daemon(config, tmp_path)
        daemon.port()
        time.sleep(rng.uniform(0.3, 2.0))
        daemon.kill()
    daemon = start_daemon(config, tmp_path)
    daemon.port()
    target = datetime.now(UTC) - timedelta(seconds=5)
    final = {s: wait_checkpoint(state_url, s, target, 120, daemon) for s in STREAMS}
    assert daemon.terminate() == 0
    out = tmp_path / "out"
    for stream in STREAMS:
        truth = ground_truth(sim.url, stream, start, final[stream] - timedelta(seconds=2))
        assert truth
        delivered = delivered_ids(out, stream)
        missing = expected_ids(stream, truth) - set(delivered)
        assert not missing, f"{stream}: {len(missing)} events lost"
        everything = expected_ids(stream, ground_truth(sim.url, stream, start, datetime.now(UTC)))
        assert not set(delivered) - everything

    # A checkpoint older than the 24 h the stream serves: reported, then resumed at the oldest point.
    cli = [sys.executable, "-m", "mimecast_siem", "checkpoints"]
    subprocess.run([*cli, "set", "--config", str(config), "--tenant", "acme", "--stream", STREAMS[0], "--to", "30h",
                    "--yes"], check=True, capture_output=True, timeout=60)  # fmt: skip
    daemon = start_daemon(config, tmp_path)
    port = daemon.port()
    wait_checkpoint(state_url, STREAMS[0], datetime.now(UTC) - timedelta(minutes=1), 60, daemon)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert daemon.terminate() == 0
    gap = [line for line in metrics.splitlines() if line.startswith("mimecast_siem_siem_gap_seconds_total{")]
    assert gap, metrics[-2000:]
    assert any(float(line.rsplit(" ", 1)[1]) > 5 * 3600 for line in gap)
    assert "older than the 24 h" in daemon.output()
    listing = subprocess.run([*cli, "list", "--config", str(config)], capture_output=True, text=True, timeout=60,
                             check=True)  # fmt: skip
    assert "older than the 24 h" in listing.stdout
