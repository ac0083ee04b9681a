"""Helpers for the backfill e2e tests (no tests here): the command as a subprocess, job state, event windows."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mimecast_siem.checkpoints import BackfillJob, StateStore, WindowStatus
from mimecast_siem.mimecast import parse_mimecast_time
from mimecast_siem.streams import CATALOGUE

STOP_TIMEOUT = 30.0


@dataclass
class BackfillProcess:
    """``python -m mimecast_siem backfill ...`` with stdout and stderr in files."""

    process: subprocess.Popen[bytes]
    out_path: Path
    err_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
            raise AssertionError(
                f"backfill {self.pid} did not finish in {timeout}s:\n{self.stderr()[-3000:]}"
            ) from None

    def kill(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)


def clean_env() -> dict[str, str]:
    """The environment without our own variables (the test passes --config)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_SIEM")}


def start_backfill(config: Path, workdir: Path, *flags: str, name: str = "backfill") -> BackfillProcess:
    """Start the backfill command; its output goes to ``workdir/<name>-<n>.out|err``."""
    n = len(list(workdir.glob(f"{name}-*.out")))
    out_path, err_path = workdir / f"{name}-{n}.out", workdir / f"{name}-{n}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mimecast_siem",
                "backfill",
                "--config",
                str(config),
                "--log-format",
                "json",
                *flags,
            ],
            stdout=out,
            stderr=err,
            cwd=workdir,
            env=clean_env(),
        )
    return BackfillProcess(process, out_path, err_path)


def run_cli(config: Path, workdir: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``mimecast-siem <args> --config CONFIG`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "mimecast_siem", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=workdir,
        env=clean_env(),
        check=False,
    )


def state(state_url: str, read: Callable[[StateStore], Any]) -> Any:
    """Read the state store with a connection of its own (what an operator's command would see)."""

    async def go() -> Any:
        store = await StateStore.open(state_url)
        try:
            return await read(store)
        finally:
            await store.close()

    return asyncio.run(go())


def job(state_url: str, job_id: int = 1) -> BackfillJob | None:
    async def read(store: StateStore) -> BackfillJob | None:
        jobs = [j for j in await store.list_backfill_jobs() if j.id == job_id]
        return jobs[0] if jobs else None

    result: BackfillJob | None = state(state_url, read)
    return result


def done_windows(state_url: str, job_id: int = 1) -> set[tuple[str, datetime]]:
    async def read(store: StateStore) -> set[tuple[str, datetime]]:
        return {(w.stream, w.start) for w in await store.backfill_windows(job_id, status=WindowStatus.DONE)}

    result: set[tuple[str, datetime]] = state(state_url, read)
    return result


def wait_until(condition: Callable[[], bool], timeout: float, what: str, *procs: Any) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for p in procs:
            if not p.alive():
                raise AssertionError(f"process {p.pid} ended while waiting for {what}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def minutes_ago(minutes: int) -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=minutes)


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def window_of(stream: str, record: dict[str, Any], since: datetime, window: timedelta) -> datetime:
    """Start of the backfill window a ground-truth record falls in."""
    field = CATALOGUE[stream].time_field
    assert field is not None
    when = parse_mimecast_time(str(record[field]))
    return since + ((when - since) // window) * window
