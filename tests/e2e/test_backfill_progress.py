"""What a person sees: progress bars and a table on a terminal (a real pty), plain lines otherwise."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest

from tests.collector.helpers import daemon_config
from tests.collector.processes import write_config
from tests.e2e.test_backfill_support import clean_env, iso, minutes_ago

pytestmark = [pytest.mark.e2e]

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RUN_TIMEOUT = 90.0


def _command(sim: Any, tmp_path: Path) -> list[str]:
    raw = daemon_config(sim.url, "client-1", "secret-1", tmp_path, streams=("ttp-url", "audit"))
    config = write_config(tmp_path / "config.yaml", raw)
    since, until = minutes_ago(10), minutes_ago(4)
    return [sys.executable, "-m", "mimecast_siem", "backfill", "--config", str(config), "--tenant", "acme",
            "--stream", "ttp-url", "--stream", "audit", "--since", iso(since), "--until", iso(until),
            "--window", "1m", "--concurrency", "2"]  # fmt: skip


def _run_in_pty(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as stdin, stdout and stderr; return its exit code and output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    env = {**clean_env(), "TERM": "xterm-256color", "COLUMNS": "140"}
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        else:
            process.kill()
            raise AssertionError(f"backfill did not finish in {RUN_TIMEOUT}s")
        code = process.wait(timeout=30)
    finally:
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


def test_on_a_terminal_bars_per_stream_and_a_summary_table(simulator_process: Any, tmp_path: Path) -> None:
    code, output = _run_in_pty(_command(simulator_process, tmp_path), tmp_path)
    assert code == 0, output[-3000:]
    assert "\x1b[" in output  # drawn for a terminal
    text = ANSI.sub("", output)
    # One bar per stream: windows done / total, events, events/s, ETA.
    for stream in ("ttp-url", "audit"):
        bar = rf"{stream}\s+━+\s+6/6\s+windows\s+[\d,]+ events\s+[\d.,]+ ev/s\s+ETA 0:00"
        assert re.search(bar, text), text[-3000:]
    # The summary table (rich box drawing) and the closing line.
    assert "Backfill job 1 (acme)" in text
    assert re.search(r"┃ STREAM\s+┃ WINDOWS ┃\s+EVENTS ┃ DEAD-LETTERED ┃ DURATION ┃ EVENTS/S ┃ FAILURES ┃", text), text[
        -3000:
    ]
    assert re.search(r"│ ttp-url\s+│\s+6/6 │", text)
    assert "Backfill job 1 is done: 12 of 12 windows" in text


def test_without_a_terminal_plain_lines_and_a_plain_table(simulator_process: Any, tmp_path: Path) -> None:
    argv = [*_command(simulator_process, tmp_path), "--progress-interval", "0.5s"]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=tmp_path, env=clean_env(), check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\x1b[" not in done.stdout
    assert "\x1b[" not in done.stderr
    assert re.search(
        r"Backfill job 1 of tenant acme, stream ttp-url: 6/6 windows, [\d,]+ events in this run", done.stderr
    )
    assert re.search(r"Backfill job 1 of tenant acme, stream audit: 6/6 windows", done.stderr)
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["STREAM", "WINDOWS", "EVENTS", "DEAD-LETTERED", "DURATION", "EVENTS/S", "FAILURES"]
    assert [line.split()[:2] for line in lines[1:3]] == [["ttp-url", "6/6"], ["audit", "6/6"]]  # catalogue order
    assert lines[3].startswith("Backfill job 1 is done: 12 of 12 windows")
