"""Start ``store_worker`` processes and collect what they print; every wait is bounded."""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 120


def spawn(mode: str, url: str, *args: str) -> subprocess.Popen[str]:
    """Start one worker (``python -m tests.checkpoints.store_worker MODE --url URL ARGS``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.checkpoints.store_worker", mode, "--url", url, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def workers(mode: str, url: str, count: int, *args: str) -> Iterator[list[subprocess.Popen[str]]]:
    """``count`` workers that are SIGKILLed if the test leaves early."""
    procs = [spawn(mode, url, *args) for _ in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=WAIT_S)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


def run_together(mode: str, url: str, count: int, go: Path, *args: str) -> list[str]:
    """Start ``count`` workers, release them at once through the ``go`` file, return their outputs."""
    with workers(mode, url, count, "--go", str(go), *args) as procs:
        go.touch()
        outputs = []
        for proc in procs:
            out, err = proc.communicate(timeout=WAIT_S)
            assert proc.returncode == 0, f"worker failed ({proc.returncode}): {err[-2000:]}"
            outputs.append(out.strip())
        return outputs


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The next line the worker prints, waiting at most ``timeout`` seconds."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"worker printed nothing within {timeout} s")
    return proc.stdout.readline().strip()
