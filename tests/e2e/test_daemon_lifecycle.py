"""The daemon process: /metrics, /healthz, /readyz on its port; SIGTERM finishes, commits, releases, exits 0."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from mimecast_siem.checkpoints import StateStore
from tests.collector.helpers import daemon_config, delivered_ids
from tests.collector.processes import start_daemon, wait_checkpoint, write_config

pytestmark = [pytest.mark.e2e]

STREAMS = ("ttp-url", "held-messages", "hold-summary", "email-queues")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _leases(url: str) -> int:
    async def count() -> int:
        store = await StateStore.open(url)
        try:
            now = await store.now()
            return sum(1 for lease in await store.list_leases() if lease.held_at(now))
        finally:
            await store.close()

    return asyncio.run(count())


def test_serves_health_and_metrics_and_stops_cleanly_on_sigterm(simulator_process_factory: Any, tmp_path: Path) -> None:
    sim = simulator_process_factory("--seed", "5", "--history", "10m", "--rate", "ttp-url=10", "--hold-rate", "0.5")
    raw = daemon_config(
        sim.url,
        "client-1",
        "secret-1",
        tmp_path,
        streams=STREAMS,
        server={"enabled": True, "port": 0},
        state={"lease_ttl": "30s"},  # a clean stop must release leases itself, not wait for expiry
        daemon={"shutdown_grace": "10s"},
    )
    config = write_config(tmp_path / "config.yaml", raw)
    state_url = f"sqlite:///{tmp_path / 'data' / 'state.db'}"
    daemon = start_daemon(config, tmp_path)
    port = daemon.port()
    base = f"http://127.0.0.1:{port}"
    wait_checkpoint(state_url, "ttp-url", datetime.now(UTC) - timedelta(seconds=5), 60, daemon)
    deadline = time.monotonic() + 30
    status, body = _get(base + "/readyz")
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        status, body = _get(base + "/readyz")
    assert status == 200, body
    checks = orjson.loads(body)["checks"]
    assert checks["auth:acme"] == "ok"
    assert checks["state_store"] == "ok"
    status, body = _get(base + "/healthz")
    assert status == 200
    status, body = _get(base + "/metrics")
    text = body.decode()
    assert status == 200
    assert 'mimecast_siem_events_fetched_total{stream="ttp-url",tenant="acme"}' in text
    assert 'mimecast_siem_lease_owned{stream="ttp-url",tenant="acme"} 1.0' in text
    assert 'mimecast_siem_checkpoint_lag_seconds{stream="ttp-url",tenant="acme"}' in text
    assert "mimecast_siem_held_messages{" in text
    assert "mimecast_siem_email_queue_messages{" in text
    assert "secret-1" not in text
    assert _leases(state_url) == len(STREAMS)

    started = time.monotonic()
    assert daemon.terminate(timeout=20) == 0
    assert time.monotonic() - started < 15
    assert _leases(state_url) == 0, "leases were not released on a clean stop"
    log = daemon.output()
    assert "stopped cleanly" in log
    assert "secret-1" not in log
    assert sum(delivered_ids(tmp_path / "out", "ttp-url").values()) > 0


def test_bad_configuration_exits_2_naming_the_key(tmp_path: Path) -> None:
    raw = daemon_config("http://127.0.0.1:9", "client-1", "secret-1", tmp_path, streams=("ttp-url",))
    raw["streams"]["ttp-url"]["lag"] = "soon"
    config = write_config(tmp_path / "config.yaml", raw)
    daemon = start_daemon(config, tmp_path)
    assert daemon.process.wait(timeout=30) == 2
    out = daemon.output()
    assert "streams.ttp-url.lag" in out
    assert "secret-1" not in out
