"""The machine a run happened on: CPU, memory, OS, Python, library versions, commit, load.

Benchmarks on a shared 2-core box are noisy; the load averages at the start and end of a run go
into RESULTS.md so a reader can tell a quiet run from a busy one.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import psutil

LIBRARIES = ("aiohttp", "orjson", "pydantic", "sqlalchemy", "prometheus-client", "psutil")


@dataclass(slots=True)
class Machine:
    """A description of the machine and the moment of a run."""

    cpu_model: str
    logical_cpus: int
    usable_cpus: int
    memory_gb: float
    os_name: str
    kernel: str
    python: str
    libraries: dict[str, str]
    commit: str
    started_at: str
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float] | None = None
    extras: list[str] = field(default_factory=list)

    def finish(self) -> None:
        """Record the load average at the end of the run."""
        self.load_end = os.getloadavg()

    def lines(self) -> list[str]:
        """``key: value`` lines for the terminal and RESULTS.md."""
        libs = ", ".join(f"{k} {v}" for k, v in self.libraries.items())
        out = [
            f"CPU: {self.cpu_model}, {self.logical_cpus} logical CPUs ({self.usable_cpus} usable by this process)",
            f"Memory: {self.memory_gb:.1f} GB",
            f"OS: {self.os_name}, kernel {self.kernel}",
            f"Python: {self.python}",
            f"Libraries: {libs}",
            f"Commit: {self.commit}",
            f"Started: {self.started_at}",
            f"Load average at start (1/5/15 min): {_load(self.load_start)}",
        ]
        if self.load_end is not None:
            out.append(f"Load average at end (1/5/15 min): {_load(self.load_end)}")
        out.extend(self.extras)
        return out


def describe_machine(repo: Path) -> Machine:
    """Describe this machine now."""
    return Machine(
        cpu_model=_cpu_model(),
        logical_cpus=os.cpu_count() or 1,
        usable_cpus=len(os.sched_getaffinity(0)),
        memory_gb=psutil.virtual_memory().total / 1e9,
        os_name=_os_name(),
        kernel=platform.release(),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        libraries={name: _version(name) for name in LIBRARIES},
        commit=_commit(repo),
        started_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        load_start=os.getloadavg(),
    )


def _load(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit(repo: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "log", "-1", "--format=%h %s"],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"
