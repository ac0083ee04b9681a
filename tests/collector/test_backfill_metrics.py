"""Metrics of backfill runs: the ``backfill`` command writes them with ``--metrics-file`` and serves them with
``--metrics-port`` (a taken port is one line and exit 2); the numbers agree with the job in the state store."""

from __future__ import annotations

import re
import socket
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.cli import main
from mimecast_siem.observability.metrics import reset_metrics
from tests.collector.helpers import daemon_config, delivered_ids
from tests.collector.processes import write_config


@pytest.fixture
def simulator_process(simulator_process_factory: Any) -> Any:
    return simulator_process_factory("--seed", "77", "--history", "15m", "--late-max-delay", "20s")


def _run_args(sim: Any, tmp_path: Path) -> list[str]:
    raw = daemon_config(sim.url, "client-1", "secret-1", tmp_path, streams=("ttp-url",))
    raw["server"] = {"host": "127.0.0.1", "port": 0}
    config = write_config(tmp_path / "config.yaml", raw)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    since, until = (
        (now - timedelta(minutes=9)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        (now - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return ["backfill", "--config", str(config), "--tenant", "acme", "--stream", "ttp-url", "--since", since,
            "--until", until, "--window", "2m", "--progress", "none"]  # fmt: skip


def _value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in the metrics")


def test_metrics_file_of_a_cli_backfill(simulator_process: Any, tmp_path: Path) -> None:
    reset_metrics()
    out = tmp_path / "backfill.prom"
    assert main([*_run_args(simulator_process, tmp_path), "--metrics-file", str(out)]) == 0
    text = out.read_text()
    delivered = sum(delivered_ids(tmp_path / "out", "ttp-url").values())
    assert delivered > 0
    assert _value(text, "mimecast_siem_backfill_events_total", tenant="acme", stream="ttp-url") == delivered
    assert _value(text, "mimecast_siem_backfill_windows_total", tenant="acme", stream="ttp-url") == 3
    assert _value(text, "mimecast_siem_backfill_runs_total", tenant="acme", ending="done") == 1
    assert _value(text, "mimecast_siem_backfill_running", tenant="acme") == 0
    assert _value(text, "mimecast_siem_backfill_windows_remaining", tenant="acme") == 0
    assert "process_cpu_seconds_total" in text


def test_metrics_port_serves_during_the_run_and_a_taken_port_is_refused(
    simulator_process: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reset_metrics()
    args = _run_args(simulator_process, tmp_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        taken = holder.getsockname()[1]
        assert main([*args, "--metrics-port", str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"error: 127.0.0.1:{taken} (server.host:--metrics-port) is already in use" in err
    assert "Traceback" not in err

    scraped: list[str] = []
    free = _free_port()
    watcher = threading.Thread(target=lambda: _scrape(free, scraped))
    watcher.start()
    assert main([*args, "--metrics-port", str(free), "--concurrency", "1"]) == 0
    watcher.join(timeout=30)
    assert f"Serving this backfill's metrics on http://127.0.0.1:{free}/metrics" in capsys.readouterr().err
    assert scraped, "nothing answered on --metrics-port while the backfill ran"
    assert re.search(r'mimecast_siem_backfill_running\{tenant="acme"\} 1\.0', scraped[0])
    with pytest.raises(urllib.error.URLError):  # closed once the command ended
        urllib.request.urlopen(f"http://127.0.0.1:{free}/metrics", timeout=1)


def _scrape(port: int, scraped: list[str]) -> None:
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as resp:
                body = resp.read().decode()
        except OSError:
            threading.Event().wait(0.02)
            continue
        if 'mimecast_siem_backfill_running{tenant="acme"} 1.0' in body:
            scraped.append(body)
            return
        threading.Event().wait(0.02)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
