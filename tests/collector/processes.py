"""Whole-process helpers for the e2e tests: the daemon as a subprocess, the simulator's control API."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from mimecast_siem.checkpoints import StateStore

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


@dataclass
class DaemonProcess:
    """``python -m mimecast_siem run --config ...`` with its output in a log file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    port_file: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup at all (the crash the delivery guarantee is about)."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait; SIGKILL if it does not exit in time (and fail loudly)."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)
            raise AssertionError(
                f"daemon {self.pid} ignored SIGTERM for {timeout}s:\n{self.output()[-3000:]}"
            ) from None

    def port(self, timeout: float = START_TIMEOUT) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.port_file.exists() and self.port_file.read_text().strip():
                return int(self.port_file.read_text())
            if not self.alive():
                raise AssertionError(f"daemon exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"daemon did not listen within {timeout}s:\n{self.output()[-3000:]}")


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def start_daemon(config: Path, workdir: Path, name: str = "daemon") -> DaemonProcess:
    """Start the daemon; its log (JSON lines) goes to ``workdir/<name>-<n>.log``."""
    n = len(list(workdir.glob(f"{name}-*.log")))
    log_path = workdir / f"{name}-{n}.log"
    port_file = workdir / f"{name}-{n}.port"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_SIEM")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mimecast_siem", "run", "--config", str(config), "--port-file", str(port_file),
             "--log-format", "json"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
        )  # fmt: skip
    return DaemonProcess(process, log_path, port_file)


def sim_get(sim_url: str, path: str, **params: Any) -> Any:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    with urllib.request.urlopen(f"{sim_url}{path}?{query}", timeout=30) as resp:
        return orjson.loads(resp.read())


def ground_truth(
    sim_url: str, stream: str, start: datetime, end: datetime, *, future: bool = False
) -> list[dict[str, Any]]:
    """Records the simulator serves for ``[start, end)`` (its control API, no auth)."""
    body = sim_get(
        sim_url,
        "/_sim/ground-truth",
        stream=stream,
        **{"from": start.strftime("%Y-%m-%dT%H:%M:%S+0000"), "to": end.strftime("%Y-%m-%dT%H:%M:%S+0000")},
        include_future_visible="1" if future else None,
    )
    records: list[dict[str, Any]] = body["records"]
    return records


def checkpoint(state_url: str, stream: str, tenant: str = "acme") -> datetime | None:
    """Read a checkpoint with a separate store connection (what an operator would see)."""

    async def read() -> datetime | None:
        store = await StateStore.open(state_url)
        try:
            return await store.get_checkpoint(tenant, stream)
        finally:
            await store.close()

    return asyncio.run(read())


def wait_checkpoint(
    state_url: str, stream: str, at_least: datetime, timeout: float, *daemons: DaemonProcess
) -> datetime:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cp = checkpoint(state_url, stream)
        if cp is not None and cp >= at_least:
            return cp
        for d in daemons:
            if not d.alive():
                raise AssertionError(f"daemon {d.pid} exited with {d.process.returncode}:\n{d.output()[-3000:]}")
        time.sleep(0.25)
    logs = "\n".join(d.output()[-2000:] for d in daemons)
    raise AssertionError(f"checkpoint of {stream} did not reach {at_least.isoformat()} within {timeout}s\n{logs}")
