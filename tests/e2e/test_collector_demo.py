"""``mimecast-siem demo``: a newcomer sees real-looking events within seconds, and it stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.collector.helpers import read_documents

pytestmark = [pytest.mark.e2e]

DEMO_STREAMS = ("ttp-url", "ttp-attachment", "ttp-impersonation", "held-messages", "hold-summary", "email-queues")


def _demo(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_SIEM")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mimecast_siem",
            "demo",
            "--metrics-port",
            "0",
            "--out",
            str(tmp_path / "demo-out"),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=env,
    )


def test_demo_writes_events_for_every_stream_and_stops_after_duration(tmp_path: Path) -> None:
    proc = _demo(tmp_path, "--duration", "8s")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Metrics: http://127.0.0.1:" in out
    assert "progress: ttp-url=" in out  # plain lines when stdout is not a terminal
    for stream in DEMO_STREAMS:
        docs = read_documents(tmp_path / "demo-out", tenant="demo", stream=stream)
        assert docs, f"demo wrote no {stream} events:\n{out}"
        assert all(d["event"]["dataset"].startswith("mimecast.") for d in docs)
    urls = read_documents(tmp_path / "demo-out", tenant="demo", stream="ttp-url")
    assert len(urls) > 100
    assert any(d.get("url", {}).get("domain") for d in urls)
    assert "stopped cleanly" in (tmp_path / "demo-out" / "daemon.log").read_text()


def test_demo_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    proc = _demo(tmp_path)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        if line.startswith("progress:") and "ttp-url=0," not in line:
            break
    else:
        proc.kill()
        raise AssertionError(f"no progress within 30 s:\n{seen}")
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, seen + rest
    assert "Stopped." in rest
