"""Running a daemon against the simulator and measuring its catch-up: events/s, CPU, RSS, requests.

Shared by the throughput, API-efficiency and scaling benchmarks. The daemon is a real
``mimecast-siem run`` subprocess; progress is read from its own ``/metrics``
(``mimecast_siem_events_delivered_total``) and its CPU time and RSS from psutil.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import (
    SUBJECT_CPU,
    BenchProcessError,
    ProcessGroup,
    Sample,
    Sampler,
    Served,
    can_pin,
    metric_sum,
    scrape,
    start_daemon,
    write_config,
)

DELIVERED = "mimecast_siem_events_delivered_total"
LAG = "mimecast_siem_checkpoint_lag_seconds"


@dataclass(slots=True)
class CatchUp:
    """What one daemon run did.

    Attributes:
        label: what was run.
        samples: (time, CPU, RSS, events delivered) every sampling interval.
        steady: the samples bounding the steady part of the run (5% to 95% of the final count).
        exit_code: the daemon's exit code after SIGTERM.
        metrics: the daemon's last /metrics scrape.
    """

    label: str
    all_samples: list[Sample]
    exit_code: int
    metrics: dict[Any, float] = field(default_factory=dict)
    split: int | None = None

    @property
    def samples(self) -> list[Sample]:
        """The catch-up's samples (up to the moment it was caught up)."""
        return self.all_samples if self.split is None else self.all_samples[: self.split]

    @property
    def after(self) -> list[Sample]:
        """Samples taken after the catch-up (the steady phase), if one was asked for."""
        return [] if self.split is None else self.all_samples[self.split - 1 :]

    @property
    def total(self) -> int:
        """Events delivered by the end of the catch-up."""
        return int(self.samples[-1].value) if self.samples else 0

    @property
    def steady(self) -> tuple[Sample, Sample]:
        """First sample at >= 5% and last at <= 95% of the final count (the whole run if too short)."""
        samples = self.samples
        final = self.total
        first = next((s for s in samples if s.value >= 0.05 * final), samples[0])
        last = next((s for s in reversed(samples) if s.value <= 0.95 * final), samples[-1])
        if last.at - first.at < 1.0:
            return samples[0], samples[-1]
        return first, last

    @property
    def events(self) -> int:
        """Events delivered in the steady part."""
        a, b = self.steady
        return int(b.value - a.value)

    @property
    def seconds(self) -> float:
        """Wall seconds of the steady part."""
        a, b = self.steady
        return max(b.at - a.at, 1e-9)

    @property
    def cpu(self) -> float:
        """Daemon CPU seconds (all threads) in the steady part."""
        a, b = self.steady
        return max(b.cpu - a.cpu, 1e-9)

    @property
    def rate(self) -> float:
        """Events per wall second in the steady part."""
        return self.events / self.seconds

    @property
    def cpu_rate(self) -> float:
        """Events per daemon CPU second: the rate on one core the daemon had to itself."""
        return self.events / self.cpu

    @property
    def cpu_share(self) -> float:
        """CPU seconds per wall second (1.0 = one full core)."""
        return self.cpu / self.seconds

    @property
    def peak_rss(self) -> int:
        """Largest RSS seen (the whole run)."""
        return max((s.rss for s in self.all_samples), default=0)


def run_daemon_catch_up(
    workdir: Path,
    raw_config: dict[str, Any],
    *,
    label: str,
    max_seconds: float,
    expected: int | None = None,
    settle: float = 3.0,
    min_seconds: float = 0.0,
    interval: float = 0.5,
    probe: Callable[[], Mapping[str, float]] | None = None,
    caught_up: tuple[int, float] | None = None,
    then_seconds: float = 0.0,
) -> CatchUp:
    """Start a daemon with ``raw_config`` and sample it until it caught up (or ``max_seconds``).

    Caught up = ``caught_up = (streams, seconds)``: that many streams report a checkpoint lag of at
    most ``seconds``; else ``expected`` events delivered; else the count did not move for ``settle``
    seconds after it started moving. The daemon is then stopped with SIGTERM. ``probe`` adds values
    to every sample (the simulator's 429 count, for example). With ``then_seconds`` the daemon keeps
    running that long after the catch-up (:attr:`CatchUp.after` holds those samples).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config = write_config(workdir / "config.yaml", raw_config)
    with ProcessGroup() as group:
        daemon: Served = group.add(start_daemon(workdir, config, cpu=SUBJECT_CPU if can_pin() else None))

        def progress() -> dict[str, float]:
            samples = scrape(daemon.url)
            lags = [v for (name, _), v in samples.items() if name == LAG]
            values = {
                "events": metric_sum(samples, DELIVERED),
                "lag_max": max(lags) if lags else float("inf"),
                "lag_streams": float(len(lags)),
            }
            if probe is not None:
                values.update(probe())
            return values

        sampler = Sampler(daemon.pid, probe=progress, interval=interval).start()
        started = time.monotonic()
        split: int | None = None
        try:
            _wait_caught_up(daemon, sampler, started, max_seconds, expected, settle, min_seconds, caught_up)
            if then_seconds > 0:
                sampler.take()
                split = len(sampler.samples)
                deadline = time.monotonic() + then_seconds
                while time.monotonic() < deadline:
                    if not daemon.alive():
                        raise BenchProcessError(f"daemon exited with {daemon.popen.returncode}:\n{daemon.output()}")
                    time.sleep(0.25)
        finally:
            sampler.take()
            samples = sampler.stop()
            last_metrics: dict[Any, float] = {}
            with contextlib.suppress(OSError):
                last_metrics = scrape(daemon.url)
            code = daemon.stop()
    if not samples:
        raise BenchProcessError(f"no samples of {label}:\n{daemon.output()}")
    return CatchUp(label, samples, code, last_metrics, split)


def _wait_caught_up(
    daemon: Served,
    sampler: Sampler,
    started: float,
    max_seconds: float,
    expected: int | None,
    settle: float,
    min_seconds: float,
    caught_up: tuple[int, float] | None,
) -> None:
    last_value = -1.0
    last_change = time.monotonic()
    while True:
        time.sleep(0.25)
        now = time.monotonic()
        if not daemon.alive():
            raise BenchProcessError(f"daemon exited with {daemon.popen.returncode}:\n{daemon.output()}")
        if now - started > max_seconds:
            return
        latest = sampler.samples[-1] if sampler.samples else None
        value = latest.value if latest is not None else 0.0
        if value != last_value:
            last_value, last_change = value, now
        if now - started < min_seconds:
            continue
        if caught_up is not None:
            if latest is not None and _all_caught_up(latest, *caught_up):
                return
            continue
        if expected is not None and value >= expected:
            return
        if expected is None and value > 0 and now - last_change > settle:
            return


def _all_caught_up(sample: Sample, streams: int, max_lag: float) -> bool:
    return sample.values.get("lag_streams", 0) >= streams and sample.values.get("lag_max", float("inf")) <= max_lag
