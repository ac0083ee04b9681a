"""The real daemon against a hostile Mimecast API: it logs, backs off, never crashes and loses nothing.

Real processes: the simulator (ground truth), a hostile proxy in front of it (tests/fixtures/hostile_api.py:
HTML on 200, wrong envelope types, bodies cut short, 429s with absurd headers, redirects to another
host...), and ``mimecast-siem run`` with a file sink and the SQLite store. While the proxy misbehaves
the daemon must stay up and must not move a checkpoint past data it has not delivered; once the API
behaves, everything the simulator holds for the committed range must be in the sink.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from mimecast_siem.checkpoints.engine import SQLITE_BUSY_TIMEOUT_S
from tests.collector.helpers import daemon_config, delivered_ids, expected_ids
from tests.collector.processes import (
    DaemonProcess,
    checkpoint,
    ground_truth,
    start_daemon,
    wait_checkpoint,
    write_config,
)
from tests.fixtures.hostile_api import FAULT_KINDS, HostileProxy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STREAMS = ("ttp-url", "ttp-attachment")
OVERLAP = timedelta(seconds=10)
IN_FLIGHT = timedelta(seconds=60)  # concurrency 2 x max_window 30s (config_for)
SECRET = "secret-1"  # the simulator's client secret (fixture default app)


def config_for(url: str, tmp_path: Path, start: datetime) -> Path:
    raw = daemon_config(
        url,
        "client-1",
        SECRET,
        tmp_path,
        streams=STREAMS,
        stream_overrides={
            "start_from": start.isoformat(),
            "overlap": f"{int(OVERLAP.total_seconds())}s",
            "max_window": "30s",
            "page_size": 50,
            "concurrency": 2,
        },
        server={"enabled": True, "port": 0},
    )
    return write_config(tmp_path / "config.yaml", raw)


@contextlib.contextmanager
def reaped(daemon: DaemonProcess) -> Iterator[DaemonProcess]:
    """The daemon never outlives the test: an assertion failing before its ``terminate()`` kills it."""
    try:
        yield daemon
    finally:
        if daemon.alive():
            daemon.kill()


def assert_survived(daemon: DaemonProcess) -> None:
    assert daemon.alive(), daemon.output()[-3000:]
    log = daemon.output()
    assert "Traceback" not in log
    assert "Uncaught exception" not in log
    assert "crashed" not in log
    assert SECRET not in log
    for line in log.splitlines():
        orjson.loads(line)  # every line is a structured log record, nothing printed raw


def assert_nothing_lost(sim_url: str, tmp_path: Path, start: datetime, final: dict[str, datetime]) -> None:
    """Everything up to ``final`` (committed once the API behaved) arrived, and nothing arrived that the
    simulator never served up to the checkpoints the daemon left at shutdown (it keeps polling while the
    test waits for the other streams, so ``final`` is no upper bound). Call after the daemon stopped."""
    out = tmp_path / "out"
    for stream in STREAMS:
        stopped = checkpoint(daemon_state(tmp_path), stream) or final[stream]
        truth = ground_truth(sim_url, stream, start, final[stream] - OVERLAP)
        assert truth, stream
        expected = expected_ids(stream, truth)
        delivered = delivered_ids(out, stream)
        missing = expected - set(delivered)
        lost = [r for r in truth if expected_ids(stream, [r]) <= missing]
        assert not missing, f"{stream}: {len(missing)} of {len(expected)} events lost: {lost[:3]}"
        # Windows past the checkpoint may have been delivered and not committed (at most concurrency x
        # max_window): at-least-once, they are sent again. Fabricated events are in no ground truth at all.
        reach = stopped + IN_FLIGHT
        everything = expected_ids(stream, ground_truth(sim_url, stream, start, reach, future=True))
        unknown = set(delivered) - everything
        assert not unknown, f"{stream}: {len(unknown)} delivered events the simulator never served"


def test_the_daemon_rides_out_a_hostile_api_and_loses_nothing(simulator_process_factory: Any, tmp_path: Path) -> None:
    sim = simulator_process_factory(
        "--seed", "23", "--history", "10m", "--rate", "ttp-url=10", "--rate", "ttp-attachment=3",
        "--late-fraction", "0.05", "--late-max-delay", "5s",
    )  # fmt: skip
    proxy = HostileProxy(sim.url, seed=20261125).start()
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=4)
        proxy.set_faults(rate=0.35)
        daemon = start_daemon(config_for(proxy.url, tmp_path, start), tmp_path)
        with reaped(daemon):
            daemon.port()
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and min(proxy.stats.faults[k] for k in FAULT_KINDS) == 0:
                assert daemon.alive(), daemon.output()[-3000:]
                time.sleep(0.5)
            assert all(proxy.stats.faults[k] > 0 for k in FAULT_KINDS), proxy.stats.faults
            assert_survived(daemon)
            proxy.set_faults(rate=0.0)
            target = datetime.now(UTC) - timedelta(seconds=3)
            final = {s: wait_checkpoint(daemon_state(tmp_path), s, target, 150, daemon) for s in STREAMS}
            assert_survived(daemon)
            assert daemon.terminate() == 0  # in-flight windows finish and commit before it exits
    finally:
        proxy.stop()
    assert proxy.stats.elsewhere == 0  # a redirect never took a request (or the bearer token) elsewhere
    assert_nothing_lost(sim.url, tmp_path, start, final)
    warnings = [orjson.loads(line) for line in daemon.output().splitlines()]
    assert any(w.get("level") == "warning" and "retrying" in str(w.get("msg", "")).lower() for w in warnings)


def test_a_stream_whose_answers_are_all_hostile_never_moves_its_checkpoint(
    simulator_process_factory: Any, tmp_path: Path
) -> None:
    sim = simulator_process_factory(
        "--seed", "29", "--history", "10m", "--rate", "ttp-url=10", "--rate", "ttp-attachment=3",
        "--late-fraction", "0.05", "--late-max-delay", "5s",
    )  # fmt: skip
    proxy = HostileProxy(sim.url, seed=5).start()
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
        broken = ("html_200", "data_not_a_list", "envelope_is_a_list", "truncated", "empty_200", "redirect_elsewhere")
        proxy.set_faults(rate=1.0, kinds=broken, paths=["/api/ttp/url/get-logs"])
        daemon = start_daemon(config_for(proxy.url, tmp_path, start), tmp_path)
        with reaped(daemon):
            daemon.port()
            state = daemon_state(tmp_path)
            # The healthy stream moves on; the hostile one stays exactly where it was (never committed).
            wait_checkpoint(state, "ttp-attachment", start + timedelta(minutes=2), 90, daemon)
            time.sleep(3)
            assert checkpoint(state, "ttp-url") is None
            assert sum(proxy.stats.faults.values()) >= 5
            assert delivered_ids(tmp_path / "out", "ttp-url") == {}
            assert_survived(daemon)
            proxy.set_faults(rate=0.0)
            target = datetime.now(UTC) - timedelta(seconds=3)
            final = {s: wait_checkpoint(state, s, target, 150, daemon) for s in STREAMS}
            assert daemon.terminate() == 0
    finally:
        proxy.stop()
    assert proxy.stats.elsewhere == 0
    assert_nothing_lost(sim.url, tmp_path, start, final)


def test_a_state_database_locked_past_the_busy_timeout_is_ridden_out(
    simulator_process_factory: Any, tmp_path: Path
) -> None:
    sim = simulator_process_factory(
        "--seed", "31", "--history", "10m", "--rate", "ttp-url=10", "--rate", "ttp-attachment=3",
        "--late-fraction", "0.05", "--late-max-delay", "5s",
    )  # fmt: skip
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    daemon = start_daemon(config_for(sim.url, tmp_path, start), tmp_path)
    with reaped(daemon):
        daemon.port()
        state = daemon_state(tmp_path)
        wait_checkpoint(state, "ttp-url", start + timedelta(minutes=1), 90, daemon)
        # Another process takes the write lock and keeps it longer than SQLite's busy timeout (30 s).
        locker = sqlite3.connect(tmp_path / "data" / "state.db", timeout=5, isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            held_until = time.monotonic() + SQLITE_BUSY_TIMEOUT_S + 5
            while time.monotonic() < held_until:
                assert daemon.alive(), daemon.output()[-3000:]
                time.sleep(1)
            locker.execute("ROLLBACK")
        finally:
            locker.close()
        target = datetime.now(UTC) - timedelta(seconds=3)
        final = {s: wait_checkpoint(state, s, target, 150, daemon) for s in STREAMS}
        assert_survived(daemon)
        assert daemon.terminate() == 0
    assert "locked" in daemon.output()  # the outage was reported, as a warning, not a crash
    assert_nothing_lost(sim.url, tmp_path, start, final)


def daemon_state(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'state.db'}"
