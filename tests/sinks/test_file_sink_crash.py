"""SIGKILL the writing process at random points: acknowledged events survive, readers never see garbage.

A real child process writes numbered events through the file sink and reports every acknowledged
batch. The parent kills it with SIGKILL at random moments (often in the middle of a write), restarts
it from the first unacknowledged number (what the router does: re-send the unacknowledged batch) and
checks the file after each kill and at the end.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from mimecast_siem.sinks.file import FileWriter

ROOT = Path(__file__).resolve().parents[2]


def complete_lines(path: Path) -> tuple[list[int], bytes]:
    """Subjects of every newline-terminated line (all must parse) and the unterminated tail."""
    data = path.read_bytes() if path.exists() else b""
    body, _, tail = data.rpartition(b"\n")
    numbers = [int(orjson.loads(line)["mimecast"]["subject"]) for line in body.split(b"\n") if line] if body else []
    return numbers, tail


def run_until_killed(out: Path, first: int, rng: random.Random) -> int:
    """Start the child at ``first``, kill it after a random number of acks; return the last acked seq."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.sinks.file_writer_child", str(out), str(first), "50", "100000"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    last = first - 1
    wanted = rng.randint(1, 3)
    deadline = time.monotonic() + 60
    try:
        while wanted > 0 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            last = int(line.split()[1])
            wanted -= 1
        # Kill at a random moment of the next batch (often inside its multi-megabyte write()).
        time.sleep(rng.uniform(0, 0.05))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        # Acks printed before the kill but not yet read still count: they were acknowledged.
        for line in child.stdout.read().splitlines():
            last = int(line.split()[1])
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    return last


def test_sigkill_never_loses_acknowledged_events_or_corrupts_the_file(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    path = tmp_path / "events.ndjson"
    acked = -1
    for _ in range(6):
        acked = run_until_killed(tmp_path, acked + 1, rng)
        numbers, _tail = complete_lines(path)  # every terminated line parses (complete_lines asserts it)
        assert set(range(acked + 1)) <= set(numbers)
    writer = FileWriter(path)  # what the sink does when it opens the file again
    writer.append(b"")
    writer.close()
    numbers, tail = complete_lines(path)
    assert tail == b""
    assert set(range(acked + 1)) <= set(numbers)
    # Duplicates only from batches that were written but not acknowledged before a kill.
    assert len(numbers) - len(set(numbers)) <= 6 * 50
