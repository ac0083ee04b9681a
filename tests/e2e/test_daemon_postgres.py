"""Two daemons on one PostgreSQL: no (tenant, stream) is polled twice at once; SIGKILL fails over.

Real processes (simulator, two daemons) and a real PostgreSQL server started by the test suite.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from mimecast_siem.checkpoints import LeaseRow, StateStore
from tests.collector.helpers import daemon_config, delivered_ids, expected_ids
from tests.collector.processes import DaemonProcess, ground_truth, start_daemon, wait_checkpoint, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]

LOG_STREAMS = ("ttp-url", "ttp-attachment", "ttp-impersonation")
STREAMS = (*LOG_STREAMS, "held-messages")
LEASE_TTL = 3.0
OVERLAP = timedelta(seconds=15)


def _leases(url: str) -> list[LeaseRow]:
    async def read() -> list[LeaseRow]:
        store = await StateStore.open(url)
        try:
            now = await store.now()
            return [lease for lease in await store.list_leases() if lease.held_at(now)]
        finally:
            await store.close()

    return asyncio.run(read())


def _committed_windows(daemon: DaemonProcess) -> list[tuple[str, str, str]]:
    """(stream, window_start, window_end) of every committed window in the daemon's JSON log."""
    out = []
    for line in daemon.output().splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a line torn by SIGKILL
        if "window_start" in record:
            out.append((record["stream"], record["window_start"], record["window_end"]))
    return out


def test_two_daemons_share_streams_and_fail_over(
    simulator_process_factory: Any, postgres_url: str, tmp_path: Path
) -> None:
    sim = simulator_process_factory(
        "--seed", "21", "--history", "15m", "--rate", "ttp-url=10", "--rate", "ttp-attachment=3",
        "--rate", "ttp-impersonation=1", "--hold-rate", "0.5", "--hold-duration", "2s:8s",
        "--late-fraction", "0.05", "--late-max-delay", "5s",
    )  # fmt: skip
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    daemons: dict[str, DaemonProcess] = {}
    for name in ("a", "b"):
        raw = daemon_config(
            sim.url,
            "client-1",
            "secret-1",
            tmp_path,
            streams=STREAMS,
            stream_overrides={"start_from": start.isoformat(), "overlap": "15s", "max_window": "30s"},
            state_url=postgres_url,
            out=tmp_path / f"out-{name}",
            instance_id=f"daemon-{name}",
            state={"lease_ttl": f"{LEASE_TTL:g}s"},
            server={"enabled": True, "port": 0},
        )
        raw["data_dir"] = str(tmp_path / f"data-{name}")
        config = write_config(tmp_path / f"config-{name}.yaml", raw)
        daemons[name] = start_daemon(config, tmp_path, name=f"daemon-{name}")
    try:
        for d in daemons.values():
            d.port()
        caught_up = datetime.now(UTC) - timedelta(seconds=3)
        for stream in LOG_STREAMS:
            wait_checkpoint(postgres_url, stream, caught_up, 90, *daemons.values())
        leases = _leases(postgres_url)
        keys = Counter((lease.tenant, lease.stream) for lease in leases)
        assert set(keys) == {("acme", s) for s in STREAMS}
        assert max(keys.values()) == 1
        owners = Counter(lease.owner for lease in leases)
        # Kill the instance holding the most streams; the other takes them over within the TTL.
        victim_name = "a" if owners["daemon-a"] >= owners["daemon-b"] else "b"
        survivor_name = "b" if victim_name == "a" else "a"
        daemons[victim_name].kill()
        killed_at = time.monotonic()
        deadline = killed_at + LEASE_TTL + 10
        while time.monotonic() < deadline:
            if {lease.owner for lease in _leases(postgres_url)} == {f"daemon-{survivor_name}"} and len(
                _leases(postgres_url)
            ) == len(STREAMS):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"daemon-{survivor_name} did not take over within {LEASE_TTL + 10}s")
        takeover = time.monotonic() - killed_at
        assert takeover <= LEASE_TTL + 5, takeover
        after = datetime.now(UTC) + timedelta(seconds=2)
        final = {s: wait_checkpoint(postgres_url, s, after, 60, daemons[survivor_name]) for s in LOG_STREAMS}
        assert daemons[survivor_name].terminate() == 0
    finally:
        for d in daemons.values():
            if d.alive():
                d.kill()

    # No window was committed twice, by either daemon: each key had one poller at a time.
    windows = _committed_windows(daemons["a"]) + _committed_windows(daemons["b"])
    per_stream: dict[str, list[tuple[str, str]]] = {}
    for stream, w_start, w_end in windows:
        per_stream.setdefault(stream, []).append((w_start, w_end))
    for stream, spans in per_stream.items():
        spans.sort()
        for (_, end_a), (start_b, _) in itertools.pairwise(spans):
            assert end_a <= start_b, f"{stream}: overlapping committed windows {spans}"
    # Nothing lost across the failover; duplicates only from the victim's in-flight windows.
    for stream in LOG_STREAMS:
        truth = ground_truth(sim.url, stream, start, final[stream] - OVERLAP)
        delivered = delivered_ids(tmp_path / "out-a", stream) + delivered_ids(tmp_path / "out-b", stream)
        missing = expected_ids(stream, truth) - set(delivered)
        assert not missing, f"{stream}: {len(missing)} events lost across the failover"
    held = delivered_ids(tmp_path / "out-a", "held-messages") + delivered_ids(tmp_path / "out-b", "held-messages")
    assert held, "no held-message transitions were delivered"
