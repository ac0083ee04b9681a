"""Benchmark 3: memory of a 1,000,000-event backfill - peak RSS and how flat it stays.

``mimecast-siem backfill --all-streams`` runs as its own process against the simulator process
(four log streams, JSON to a file sink) and psutil samples its RSS every 0.2 s. Progress is the
sum of the events of the job's windows marked done, read from the SQLite state file (read-only).
Target: peak RSS at most 150 MB, and RSS at 100% of the events within 10% of RSS at 10%.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.configs import TenantApp, catch_up_stream, daemon_config, rate_flags
from bench.procs import (
    SIMULATOR_CPU,
    SUBJECT_CPU,
    BenchProcessError,
    ProcessGroup,
    Sample,
    Sampler,
    can_pin,
    spawn,
    start_simulator,
    write_config,
)
from bench.report import Section, Table, Target, fmt_mb, fmt_pct, fmt_rate
from bench.settings import BenchOptions

TENANT = TenantApp("acme", "client-1", "secret-1")
TARGET_PEAK = 150 * 1024 * 1024
TARGET_GROWTH = 0.10


@dataclass(frozen=True, slots=True)
class Plan:
    """Sizes of a run."""

    rates: dict[str, float]
    minutes: int
    window: str
    timeout: float


FULL = Plan(
    rates={"ttp-url": 520, "ttp-attachment": 100, "ttp-impersonation": 50, "audit": 20},
    minutes=27,
    window="1m",
    timeout=900,
)
QUICK = Plan(
    rates={"ttp-url": 40, "ttp-attachment": 10, "ttp-impersonation": 5, "audit": 2},
    minutes=3,
    window="30s",
    timeout=120,
)


def run(options: BenchOptions) -> Section:
    """A backfill of ``minutes`` of every log stream, RSS sampled throughout."""
    plan = QUICK if options.quick else FULL
    section = Section(3, "Memory: RSS of a 1,000,000-event backfill")
    workdir = options.workdir / "memory"
    workdir.mkdir(parents=True, exist_ok=True)
    until = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=6)
    since = until - timedelta(minutes=plan.minutes)
    with ProcessGroup() as group:
        sim = group.add(
            start_simulator(
                workdir,
                "--seed",
                "33",
                "--history",
                f"{plan.minutes + 10}m",
                *rate_flags(plan.rates),
                cpu=SIMULATOR_CPU if can_pin() else None,
            )
        )
        raw = daemon_config(workdir, sim.url, [TENANT], stream_settings=catch_up_stream(start_from="1m"), server=False)
        config = write_config(workdir / "config.yaml", raw)
        args = [sys.executable, "-m", "mimecast_siem", "backfill", "--config", str(config), "--tenant", TENANT.name]
        args += ["--all-streams", "--since", _iso(since), "--until", _iso(until), "--window", plan.window]
        args += ["--concurrency", "4", "--progress", "none", "--log-format", "json"]
        state = workdir / "data" / "state.db"
        backfill = group.add(spawn("backfill", args, workdir, cpu=SUBJECT_CPU if can_pin() else None))
        sampler = Sampler(backfill.pid, probe=lambda: {"events": _events_done(state)}, interval=0.2).start()
        sim_sampler = Sampler(sim.pid, interval=1.0).start()
        started = time.monotonic()
        try:
            code = backfill.wait(timeout=plan.timeout)
        finally:
            samples = sampler.stop()
            sim_samples = sim_sampler.stop()
        elapsed = time.monotonic() - started
    if code != 0:
        raise BenchProcessError(f"backfill exited with {code}:\n{backfill.output()}")
    total = _final_events(state)
    points = {share: _rss_at(samples, share * total) for share in (0.1, 0.25, 0.5, 0.75, 1.0)}
    peak = max(s.rss for s in samples)
    growth = points[1.0] / points[0.1] - 1.0 if points[0.1] else 0.0
    table = Table(
        f"Backfill of {plan.minutes} min of 4 log streams, window {plan.window}, concurrency 4, JSON file sink",
        [
            "events",
            "seconds",
            "events/s",
            "backfill CPU",
            "simulator CPU",
            "RSS 10%",
            "RSS 25%",
            "RSS 50%",
            "RSS 75%",
            "RSS 100%",
            "peak RSS",
        ],
    )
    table.add(
        f"{int(total):,}",
        f"{elapsed:.0f}",
        fmt_rate(total / elapsed),
        fmt_pct(_cpu_share(samples)),
        fmt_pct(_cpu_share(sim_samples)),
        *(fmt_mb(points[s]) for s in (0.1, 0.25, 0.5, 0.75, 1.0)),
        fmt_mb(peak),
    )
    table.notes.append(
        "RSS of the backfill process (psutil, every 0.2 s); the RSS at x% is the first sample taken once x% of "
        "the events were recorded done. Start-up (imports, SQLAlchemy, aiohttp, pydantic) is most of it."
    )
    table.notes.append(
        "CPU columns: CPU seconds per wall second of each process (100% = one core). When neither is near 100%, "
        "the two are waiting on each other (a page walk is sequential) or on other load of the shared machine."
    )
    section.tables.append(table)
    judged = not options.quick
    section.targets.append(
        Target("peak RSS", fmt_mb(peak), f"<= {fmt_mb(TARGET_PEAK)}", peak <= TARGET_PEAK if judged else None)
    )
    section.targets.append(
        Target(
            "RSS growth 10% -> 100%",
            fmt_pct(growth),
            f"< {fmt_pct(TARGET_GROWTH)}",
            growth < TARGET_GROWTH if judged else None,
        )
    )
    if judged and total < 1_000_000:
        section.summary.append(
            f"Only {total:,} events were backfilled (the simulator's rates give fewer than 1,000,000)."
        )
    return section


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _events_done(state: Path) -> float:
    """Events of the job's windows marked done (0 before the state file exists).

    Raises:
        sqlite3.Error: the file is locked right now (the sampler keeps its previous value).
    """
    if not state.exists():
        return 0.0
    connection = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=0.2)
    try:
        row = connection.execute(
            "SELECT COALESCE(SUM(events), 0) FROM backfill_windows WHERE status = 'done'"
        ).fetchone()
        return float(row[0])
    finally:
        connection.close()


def _final_events(state: Path) -> float:
    for _ in range(50):
        with contextlib.suppress(sqlite3.Error):
            return _events_done(state)
        time.sleep(0.1)
    raise BenchProcessError(f"could not read {state}")


def _cpu_share(samples: list[Sample]) -> float:
    """CPU seconds per wall second over the samples (1.0 = one core)."""
    if len(samples) < 2:
        return 0.0
    return (samples[-1].cpu - samples[0].cpu) / max(samples[-1].at - samples[0].at, 1e-9)


def _rss_at(samples: list[Sample], events: float) -> int:
    for sample in samples:
        if sample.value >= events:
            return sample.rss
    return samples[-1].rss if samples else 0
