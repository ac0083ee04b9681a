"""The DLP, release, rejection, archive and threat-intel streams through the real daemon, across a restart.

Real processes: the simulator (``mimecast-siem simulate``) and the daemon (``mimecast-siem run``)
with a file sink and the SQLite state store. The daemon runs, is stopped (SIGTERM), and runs again;
afterwards every record the simulator serves for each stream was delivered exactly once. The
threat-intel feeds use small bundles, so every window is a multi-page walk whose token arrives in
the ``X-Mc-Threat-Feed-Next-Token`` header.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.collector.helpers import daemon_config, delivered_ids, expected_ids, read_documents
from tests.collector.processes import ground_truth, sim_get, start_daemon, wait_checkpoint, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STREAMS = (
    "dlp", "message-release", "rejections", "archive-search", "archive-view", "search",
    "threat-intel-customer", "threat-intel-grid",
)  # fmt: skip
OVERLAP = timedelta(seconds=15)
FEED_PAGE = 10


def test_new_streams_deliver_everything_once_across_a_restart(simulator_process_factory: Any, tmp_path: Path) -> None:
    sim = simulator_process_factory(
        "--seed", "13", "--history", "20m", "--rate", "dlp=4", "--rate", "rejections=4", "--rate", "archive-search=1",
        "--rate", "archive-view=1", "--rate", "search=1", "--rate", "threat-intel-customer=0.5",
        "--rate", "threat-intel-grid=3", "--feed-page-size", str(FEED_PAGE), "--hold-rate", "1",
        "--hold-duration", "10s:2m", "--late-fraction", "0.05", "--late-max-delay", "5s",
    )  # fmt: skip
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=6)
    raw = daemon_config(
        sim.url, "client-1", "secret-1", tmp_path, streams=(*STREAMS, "held-messages"),
        stream_overrides={"start_from": start.isoformat(), "overlap": f"{int(OVERLAP.total_seconds())}s",
                          "max_window": "1m", "page_size": 50, "concurrency": 2},
        server={"enabled": True, "port": 0},
    )  # fmt: skip
    config = write_config(tmp_path / "config.yaml", raw)
    state_url = f"sqlite:///{tmp_path / 'data' / 'state.db'}"

    first = start_daemon(config, tmp_path, name="first")
    first.port()
    halfway = datetime.now(UTC) - timedelta(minutes=2)
    for stream in STREAMS:
        wait_checkpoint(state_url, stream, halfway, 120, first)
    assert first.terminate() == 0

    second = start_daemon(config, tmp_path, name="second")
    second.port()
    # A release joins a held-messages event only when the message was seen in hold by this run and left
    # it since (holds last 10 s to 2 min): give the run the time for that before taking the checkpoints.
    _wait_for_a_joined_release(tmp_path / "out", second)
    target = datetime.now(UTC) - timedelta(seconds=3)
    final = {s: wait_checkpoint(state_url, s, target, 120, second) for s in STREAMS}
    assert second.terminate() == 0

    out = tmp_path / "out"
    for stream in STREAMS:
        truth = ground_truth(sim.url, stream, start, final[stream] - OVERLAP)
        assert truth, f"the simulator served nothing for {stream}"
        expected = expected_ids(stream, truth)
        delivered = delivered_ids(out, stream)
        missing = expected - set(delivered)
        assert not missing, f"{stream}: {len(missing)} of {len(expected)} events lost across the restart"
        twice = {i: n for i, n in delivered.items() if n > 1}
        assert not twice, f"{stream}: {len(twice)} events delivered more than once across the restart"
    # Hold -> outcome: the release log names the held message by the id the held list uses, and the
    # events of both streams carry it in email.local_id (a SIEM joins them there).
    releases = read_documents(out, stream="message-release")
    held_ids = {
        r["id"] for r in ground_truth(sim.url, "held-messages", start - timedelta(minutes=3), final["message-release"])
    }
    assert releases
    assert {d["email"]["local_id"] for d in releases} <= held_ids
    held = {d["email"]["local_id"]: d for d in read_documents(out, stream="held-messages")}
    joined = [d for d in releases if d["email"]["local_id"] in held]
    assert joined, "no release event joined a held-messages event of this run"
    for release in joined:
        assert release["email"].get("subject") == held[release["email"]["local_id"]]["email"].get("subject")
    # Multi-page feed walks: more answers than windows, every follow-up carrying the header token.
    stats = sim_get(sim.url, "/_sim/stats")
    feed = [r for r in stats["requests"] if r["endpoint"] == "/api/ttp/threat-intel/get-feed" and r["status"] == 200]
    grid = ground_truth(sim.url, "threat-intel-grid", start, final["threat-intel-grid"] - OVERLAP)
    assert len(grid) > 6 * FEED_PAGE
    assert sum(r["count"] for r in feed) > len(grid) // FEED_PAGE


def _joined_releases(out: Path) -> list[dict[str, Any]]:
    held = {d["email"]["local_id"] for d in read_documents(out, stream="held-messages")}
    return [d for d in read_documents(out, stream="message-release") if d["email"]["local_id"] in held]


def _wait_for_a_joined_release(out: Path, daemon: Any, timeout: float = 150) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _joined_releases(out):
            return
        assert daemon.alive(), daemon.output()[-3000:]
        time.sleep(1)
