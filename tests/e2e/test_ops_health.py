"""Readiness of the real daemon process: it follows the state store and each tenant's authentication.

* PostgreSQL (a private server) is stopped under a running daemon: ``/readyz`` answers 503 naming the
  state store while ``/healthz`` stays 200 (an outage must not restart the pod); when the server is
  back, readiness returns and the checkpoint moves again.
* A tenant with a wrong client secret keeps the pod unready (its check names the tenant), while the
  healthy tenant is polled and liveness is 200.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.collector.helpers import daemon_config
from tests.collector.processes import DaemonProcess, start_daemon, wait_checkpoint, write_config
from tests.observability.ops_support import Scrape, http_get, http_json, private_postgres, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _base(daemon: DaemonProcess) -> str:
    return f"http://127.0.0.1:{daemon.port()}"


@pytest.mark.postgres
def test_readiness_flips_while_postgresql_is_stopped_and_back_when_it_returns(
    simulator_process_factory: Any, tmp_path: Path
) -> None:
    sim = simulator_process_factory("--seed", "3", "--history", "10m", "--rate", "ttp-url=5")
    with private_postgres() as pg:
        url = pg.url()
        raw = daemon_config(
            sim.url,
            "client-1",
            "secret-1",
            tmp_path,
            streams=("ttp-url",),
            state_url=url,
            server={"enabled": True, "port": 0},
        )
        daemon = start_daemon(write_config(tmp_path / "config.yaml", raw), tmp_path)
        try:
            base = _base(daemon)
            wait_for(lambda: http_get(base + "/readyz")[0] == 200, 60, "readiness", alive=daemon.alive)
            wait_checkpoint(url, "ttp-url", datetime.now(UTC) - timedelta(seconds=10), 60, daemon)

            pg.stop()
            wait_for(lambda: http_get(base + "/readyz")[0] == 503, 30, "readiness to fail", alive=daemon.alive)
            status, body = http_json(base + "/readyz")
            assert body["status"] == "not ready"
            assert body["checks"]["state_store"].startswith("state store unreachable"), body
            assert body["checks"]["auth:acme"] == "ok"
            # For the whole outage (lease renewals and commits failing) the process stays alive.
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                status, body = http_json(base + "/healthz")
                assert status == 200, body
                time.sleep(0.5)

            pg.start()
            wait_for(lambda: http_get(base + "/readyz")[0] == 200, 60, "readiness to return", alive=daemon.alive)
            assert http_json(base + "/readyz")[1]["checks"]["state_store"] == "ok"
            # Not just ready: the stream polls and commits again.
            wait_checkpoint(url, "ttp-url", datetime.now(UTC) - timedelta(seconds=5), 60, daemon)
            assert daemon.terminate(timeout=30) == 0
        finally:
            if daemon.alive():
                daemon.kill()
        log = daemon.output()
        assert "state store" in log.lower()
        assert pg.server.password not in log


def test_a_tenant_with_a_wrong_secret_keeps_the_pod_unready_but_alive(
    simulator_process_factory: Any, tmp_path: Path
) -> None:
    sim = simulator_process_factory("--seed", "4", "--history", "10m", "--apps", "2")
    wrong = "wrong-secret-of-globex-7f3a"
    raw = daemon_config(
        sim.url, "client-1", "secret-1", tmp_path, streams=("ttp-url",), server={"enabled": True, "port": 0}
    )
    raw["tenants"].append(
        {"name": "globex", "base_url": sim.url, "client_id": "client-2", "client_secret": wrong, "streams": ["ttp-url"]}
    )
    daemon = start_daemon(write_config(tmp_path / "config.yaml", raw), tmp_path)
    try:
        base = _base(daemon)
        state_url = f"sqlite:///{tmp_path / 'data' / 'state.db'}"
        wait_checkpoint(state_url, "ttp-url", datetime.now(UTC) - timedelta(seconds=10), 60, daemon)

        def globex_refused() -> bool:
            status, body = http_json(base + "/readyz")
            return status == 503 and body["checks"].get("auth:globex", "").startswith("authentication failed")

        wait_for(globex_refused, 30, "the globex check to report the refusal", alive=daemon.alive)
        status, body = http_json(base + "/readyz")
        assert body["checks"]["auth:acme"] == "ok"
        assert body["checks"]["auth:globex"] == "authentication failed (AuthError)"
        assert body["checks"]["state_store"] == "ok"
        status, body = http_json(base + "/healthz")
        assert status == 200, body

        def polled_and_refused() -> bool:
            scrape = Scrape(http_get(base + "/metrics")[1].decode())
            return scrape.value("mimecast_siem_poll_errors_total", tenant="globex", kind="auth") >= 1

        wait_for(polled_and_refused, 30, "globex's stream to fail with kind=auth", alive=daemon.alive)
        scrape = Scrape(http_get(base + "/metrics")[1].decode())
        assert scrape.value("mimecast_siem_auth_failures_total", tenant="globex") >= 1
        assert scrape.value("mimecast_siem_token_refreshes_total", tenant="globex") == 0
        assert scrape.value("mimecast_siem_auth_failures_total", tenant="acme") == 0
        assert scrape.value("mimecast_siem_events_fetched_total", tenant="acme", stream="ttp-url") > 0
        assert scrape.value("mimecast_siem_events_fetched_total", tenant="globex") == 0
        assert daemon.terminate(timeout=30) == 0
    finally:
        if daemon.alive():
            daemon.kill()
    assert wrong not in daemon.output()
