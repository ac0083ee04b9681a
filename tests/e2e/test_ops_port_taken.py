"""A taken HTTP port: ``run`` and ``demo`` print one clear line and exit 2 at once (no traceback, no
blank screen), and the demo picks a free port by itself."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port bound and listened on by this test for its duration."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield int(holder.getsockname()[1])


def _run(args: list[str], cwd: Path, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_SIEM")}
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "mimecast_siem", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return out, time.monotonic() - started


def _assert_one_clear_line(out: subprocess.CompletedProcess[str], port: int) -> None:
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: 127.0.0.1:{port} (server.host:server.port) is already in use; stop the other "
                      "process, or set server.port to a free port (0 picks one)"]  # fmt: skip


def test_run_with_the_port_taken(taken_port: int, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    tenant = {"name": "acme", "base_url": "http://127.0.0.1:9", "client_id": "id", "client_secret": "not-used"}
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "data"),
                "tenants": [tenant],
                "sinks": [{"name": "out", "type": "file", "path": str(tmp_path / "out")}],
                "server": {"host": "127.0.0.1", "port": taken_port},
                "logging": {"format": "console"},
            }
        )
    )
    out, _ = _run(["run", "--config", str(config)], tmp_path)
    _assert_one_clear_line(out, taken_port)


def test_demo_with_the_port_taken_fails_at_once(taken_port: int, tmp_path: Path) -> None:
    out, took = _run(["demo", "--metrics-port", str(taken_port), "--out", str(tmp_path / "o"), "--duration", "5s"],
                     tmp_path)  # fmt: skip
    _assert_one_clear_line(out, taken_port)
    assert took < 20, f"the demo took {took:.0f} s to say its port is taken"


def test_demo_picks_a_free_port_by_default(tmp_path: Path) -> None:
    out, _ = _run(["demo", "--out", str(tmp_path / "o"), "--duration", "3s"], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    line = next(line for line in out.stdout.splitlines() if "Metrics: http://127.0.0.1:" in line)
    port = int(line.rsplit(":", 1)[1].split("/")[0])
    assert port > 0
