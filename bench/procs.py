"""Whole processes for the benchmarks: the simulator, the daemon, the backfill; sampling their CPU and RSS.

Every process binds 127.0.0.1 on a free port (``--port 0`` plus a port file), writes its output to a
log file in the run's work directory, and is stopped by its pid (SIGTERM, then SIGKILL). Every wait
is bounded. On a machine with two or more usable CPUs the simulator and the process under test can
be pinned to different CPUs, so "one core for the daemon" is literal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
import psutil
import yaml
from prometheus_client.parser import text_string_to_metric_families

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
SIMULATOR_CPU = 0
SUBJECT_CPU = 1


class BenchProcessError(RuntimeError):
    """A process under benchmark failed to start, exited early or did not stop."""


@dataclass
class Proc:
    """A child process with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """Process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen.poll() is None

    def output(self, tail: int = 4000) -> str:
        """The end of what it printed."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait up to ``timeout``, then SIGKILL; return the exit code."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                return self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
        return self.popen.wait(timeout=timeout)

    def wait(self, timeout: float) -> int:
        """Wait for it to exit by itself; SIGKILL and raise when it does not within ``timeout``."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=STOP_TIMEOUT)
            raise BenchProcessError(f"{self.name} did not finish within {timeout:.0f} s:\n{self.output()}") from None


@dataclass
class Served(Proc):
    """A process serving HTTP on 127.0.0.1 (its port read from a port file)."""

    port: int = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"


def pin(pid: int, cpu: int | None) -> None:
    """Pin ``pid`` (all its threads) to one CPU when this machine has it; otherwise leave it alone."""
    if cpu is None or cpu not in os.sched_getaffinity(0):
        return
    with contextlib.suppress(psutil.Error):
        for thread in psutil.Process(pid).threads():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(thread.id, {cpu})


def can_pin() -> bool:
    """True when the simulator and the subject can each have a CPU of their own."""
    return {SIMULATOR_CPU, SUBJECT_CPU} <= os.sched_getaffinity(0)


def clean_env() -> dict[str, str]:
    """This environment without MIMECAST_SIEM_* overrides (configs are explicit)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_SIEM")}


def spawn(name: str, args: Sequence[str], workdir: Path, *, cpu: int | None = None, cwd: Path | None = None) -> Proc:
    """Start ``args`` (in ``cwd``, default ``workdir``) with output to ``workdir/<name>.log``."""
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(list(args), stdout=log, stderr=subprocess.STDOUT, cwd=cwd or workdir, env=clean_env())
    proc = Proc(name, popen, log_path)
    pin(proc.pid, cpu)
    return proc


def wait_port_file(proc: Proc, port_file: Path, timeout: float = START_TIMEOUT) -> int:
    """The port ``proc`` wrote to ``port_file``; raises when it exits or takes longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_file.exists():
            text = port_file.read_text().strip()
            if text:
                return int(text)
        if not proc.alive():
            raise BenchProcessError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.output()}")
        time.sleep(0.05)
    proc.stop()
    raise BenchProcessError(f"{proc.name} did not listen within {timeout:.0f} s:\n{proc.output()}")


def start_simulator(workdir: Path, *flags: str, name: str = "simulator", cpu: int | None = None) -> Served:
    """``python -m mimecast_siem simulate --port 0 --port-file F <flags>``, listening."""
    port_file = workdir / f"{name}.port"
    args = [sys.executable, "-m", "mimecast_siem", "simulate", "--port", "0", "--port-file", str(port_file)]
    args += ["--log-level", "WARNING", *flags]
    proc = spawn(name, args, workdir, cpu=cpu)
    port = wait_port_file(proc, port_file)
    return Served(proc.name, proc.popen, proc.log_path, port)


def start_daemon(workdir: Path, config: Path, *, name: str = "daemon", cpu: int | None = None) -> Served:
    """``python -m mimecast_siem run --config C --port-file F``, serving /metrics."""
    port_file = workdir / f"{name}.port"
    args = [sys.executable, "-m", "mimecast_siem", "run", "--config", str(config), "--port-file", str(port_file)]
    args += ["--log-format", "json"]
    proc = spawn(name, args, workdir, cpu=cpu)
    port = wait_port_file(proc, port_file)
    # Threads started after the port is up (the state store's worker) inherit nothing: pin again.
    pin(proc.pid, cpu)
    return Served(proc.name, proc.popen, proc.log_path, port)


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    """Write a YAML config."""
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def http_get_json(url: str, timeout: float = 30.0) -> Any:
    """GET a JSON document (the simulator's control API)."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return orjson.loads(resp.read())


def http_post_json(url: str, body: Any, timeout: float = 30.0) -> Any:
    """POST a JSON document (the simulator's control API)."""
    request = urllib.request.Request(
        url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return orjson.loads(resp.read())


P = TypeVar("P", bound="Proc")

MetricKey = tuple[str, tuple[tuple[str, str], ...]]


def scrape(url: str, timeout: float = 10.0) -> dict[MetricKey, float]:
    """Every sample of a Prometheus endpoint, keyed by (sample name, sorted labels)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=timeout) as resp:
        text = resp.read().decode()
    out: dict[MetricKey, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return out


def metric_sum(samples: dict[MetricKey, float], name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    total = 0.0
    for (sample_name, sample_labels), value in samples.items():
        if sample_name != name:
            continue
        have = dict(sample_labels)
        if all(have.get(k) == v for k, v in labels.items()):
            total += value
    return total


@dataclass(frozen=True, slots=True)
class Sample:
    """One observation of a process.

    Attributes:
        at: monotonic time.
        cpu: user + system CPU seconds of the process so far (all threads).
        rss: resident set size, bytes.
        values: what the probe returned (``events`` delivered so far, for example).
    """

    at: float
    cpu: float
    rss: int
    values: Mapping[str, float]

    @property
    def value(self) -> float:
        """The ``events`` value (0 when the probe gave none)."""
        return self.values.get("events", 0.0)


@dataclass
class Sampler:
    """Samples a process every ``interval`` seconds on a background thread.

    Args:
        pid: the process.
        probe: optional callable giving progress values such as ``{"events": n}`` (when it fails,
            the previous values are kept).
        interval: seconds between samples.
    """

    pid: int
    probe: Callable[[], Mapping[str, float]] | None = None
    interval: float = 0.5
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._process = psutil.Process(self.pid)

    def take(self) -> Sample | None:
        """Take one sample now (``None`` once the process is gone)."""
        try:
            with self._process.oneshot():
                times = self._process.cpu_times()
                rss = self._process.memory_info().rss
        except psutil.Error:
            return None
        values: Mapping[str, float] = self.samples[-1].values if self.samples else {}
        if self.probe is not None:
            with contextlib.suppress(Exception):
                values = self.probe()
        sample = Sample(time.monotonic(), times.user + times.system, rss, values)
        self.samples.append(sample)
        return sample

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.take() is None:
                return
            self._stop.wait(self.interval)

    def start(self) -> Sampler:
        """Start sampling."""
        self._thread = threading.Thread(target=self._run, name=f"sampler-{self.pid}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        """Stop sampling; return the samples."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return self.samples

    @property
    def peak_rss(self) -> int:
        """Largest RSS seen."""
        return max((s.rss for s in self.samples), default=0)


def wait_until(condition: Callable[[], bool], timeout: float, *, what: str, interval: float = 0.25) -> None:
    """Poll ``condition`` until true; raise naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise BenchProcessError(f"timed out after {timeout:.0f} s waiting for {what}")


class ProcessGroup:
    """Processes started in a ``with`` block, stopped by pid (newest first) when it ends."""

    def __init__(self) -> None:
        self.procs: list[Proc] = []

    def add(self, proc: P) -> P:
        """Track ``proc``; return it."""
        self.procs.append(proc)
        return proc

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop()
