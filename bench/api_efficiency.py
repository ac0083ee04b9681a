"""Benchmark 4: API efficiency - requests per event against the page-count minimum, and a request quota.

* **Requests vs minimum.** For every window the daemon (or a backfill) walked, the fewest requests
  that could return its new events are ``max(1, ceil(events / page_size))``. Requests actually made
  are the simulator's own count (``/_sim/stats``), so retries, empty extra pages and re-reads all
  show. Measured for a daemon catching up, the same daemon polling live afterwards, and a backfill
  of a closed range. Target: requests = the minimum.
* **Quota.** The simulator enforces a per-app token bucket (300 requests per 30 s: Mimecast's
  hourly quota scaled down in time, refilled one request every 0.1 s). The daemon catches up a
  long range through it. Target: no 429 after the first rate-limit episode, and events/s within
  10% of refill rate x page size once the burst allowance is spent.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.configs import LOG_STREAMS, TenantApp, catch_up_stream, daemon_config, rate_flags
from bench.measure import LAG, CatchUp, run_daemon_catch_up
from bench.procs import (
    SIMULATOR_CPU,
    SUBJECT_CPU,
    BenchProcessError,
    ProcessGroup,
    Served,
    can_pin,
    http_get_json,
    http_post_json,
    metric_sum,
    scrape,
    spawn,
    start_daemon,
    start_simulator,
    write_config,
)
from bench.report import Section, Table, Target, fmt_pct, fmt_rate, fmt_ratio
from bench.settings import BenchOptions
from mimecast_siem.checkpoints import StateStore
from mimecast_siem.collector import CATALOGUE

PAGE_SIZE = 500
TENANT = TenantApp("acme", "client-1", "secret-1")
TARGET_QUOTA_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class Plan:
    """Sizes of a run."""

    rates: dict[str, float]
    catch_up_minutes: int
    live_seconds: float
    backfill_minutes: int
    quota_limit: int
    quota_period: float
    quota_seconds: float
    quota_rate: float


FULL = Plan(
    rates={"ttp-url": 200, "ttp-attachment": 50, "ttp-impersonation": 50, "audit": 20},
    catch_up_minutes=10,
    live_seconds=60,
    backfill_minutes=20,
    quota_limit=300,
    quota_period=30.0,
    quota_seconds=60,
    quota_rate=300,
)
QUICK = Plan(
    rates={"ttp-url": 20, "ttp-attachment": 5, "ttp-impersonation": 5, "audit": 2},
    catch_up_minutes=2,
    live_seconds=2,
    backfill_minutes=2,
    quota_limit=20,
    quota_period=2.0,
    quota_seconds=3,
    quota_rate=100,
)


@dataclass(slots=True)
class StreamTally:
    """Requests and events of one stream in one phase."""

    windows: int = 0
    pages: int = 0
    events: int = 0
    reread: int = 0
    minimum: int = 0
    requests: int = 0

    def add_window(self, pages: int, events: int, reread: int) -> None:
        """Count one walked window."""
        self.windows += 1
        self.pages += pages
        self.events += events
        self.reread += reread
        self.minimum += max(1, math.ceil(events / PAGE_SIZE))


@dataclass(slots=True)
class Phase:
    """A measured phase (catch-up, live, backfill)."""

    name: str
    streams: dict[str, StreamTally] = field(default_factory=lambda: defaultdict(StreamTally))
    tokens: int = 0

    @property
    def requests(self) -> int:
        """API requests of every stream."""
        return sum(t.requests for t in self.streams.values())

    @property
    def minimum(self) -> int:
        """The page-count minimum of every stream."""
        return sum(t.minimum for t in self.streams.values())

    @property
    def events(self) -> int:
        """Events delivered."""
        return sum(t.events for t in self.streams.values())


def run(options: BenchOptions) -> Section:
    """Daemon catch-up and live polling, a backfill, then the quota run."""
    plan = QUICK if options.quick else FULL
    section = Section(4, "API efficiency: requests per event, and a request quota")
    workdir = options.workdir / "api"
    workdir.mkdir(parents=True, exist_ok=True)
    history = f"{plan.catch_up_minutes + plan.backfill_minutes + 15}m"
    with ProcessGroup() as group:
        sim = group.add(
            start_simulator(
                workdir,
                "--seed",
                "44",
                "--history",
                history,
                *rate_flags(plan.rates),
                cpu=SIMULATOR_CPU if can_pin() else None,
            )
        )
        catch_up, live = _daemon_phases(workdir / "daemon", sim.url, plan)
        backfill = _backfill_phase(workdir / "backfill", sim.url, plan)
    table = Table(
        "Requests vs the page-count minimum (page size 500)",
        ["phase", "stream", "windows", "events", "requests", "minimum", "requests/min", "re-read records"],
    )
    for phase in (catch_up, live, backfill):
        for stream, tally in sorted(phase.streams.items()):
            table.add(
                phase.name,
                stream,
                tally.windows,
                f"{tally.events:,}",
                tally.requests,
                tally.minimum,
                fmt_ratio(tally.requests / max(tally.minimum, 1)),
                f"{tally.reread:,}",
            )
        table.add(
            phase.name,
            "all (+ tokens)",
            "",
            f"{phase.events:,}",
            f"{phase.requests} (+{phase.tokens})",
            phase.minimum,
            fmt_ratio(phase.requests / max(phase.minimum, 1)),
            "",
        )
        ratio = phase.requests / max(phase.minimum, 1)
        section.targets.append(
            Target(
                f"{phase.name}: requests = page-count minimum",
                f"{phase.requests} vs {phase.minimum} ({fmt_ratio(ratio)})",
                "= 1.00x",
                None if options.quick else phase.requests <= phase.minimum,
                "" if phase.requests <= phase.minimum else _why(phase),
            )
        )
    table.notes.append(
        "requests: the simulator's count of API requests per endpoint; minimum: sum over the windows walked of "
        "max(1, ceil(new events / 500)); re-read records: records fetched again by the overlap re-read and "
        "dropped as duplicates (deduplicated) - the price of catching late records."
    )
    table.notes.append(
        "Daemon: max_window 2m, concurrency 2, lag 10s, poll_interval 10s, overlap 50s (the defaults 1m/5m "
        "scaled down in time); backfill: window 5m, concurrency 4."
    )
    section.tables.append(table)
    quota_table, quota_targets = _quota(workdir / "quota", plan, options.quick)
    section.tables.append(quota_table)
    section.targets += quota_targets
    return section


def _why(phase: Phase) -> str:
    reread = sum(t.reread for t in phase.streams.values())
    pages = sum(t.pages for t in phase.streams.values())
    if pages and phase.requests > pages:
        return f"{phase.requests - pages} requests beyond the pages walked (retries or extra calls)"
    if reread:
        return f"overlap re-read of {reread:,} already-delivered records (late-record protection)"
    return (
        "the boundary second of a window (the API's `to` is inclusive, quirk 3) pushed a page over 500 records "
        "in a few windows"
    )


# --- daemon ----------------------------------------------------------------------------------------------


def _daemon_phases(workdir: Path, sim_url: str, plan: Plan) -> tuple[Phase, Phase]:
    """Catch up ``catch_up_minutes``, then poll live for ``live_seconds``; count each phase apart."""
    workdir.mkdir(parents=True, exist_ok=True)
    raw = daemon_config(
        workdir,
        sim_url,
        [TENANT],
        stream_settings=catch_up_stream(
            start_from=f"{plan.catch_up_minutes}m",
            max_window="2m",
            concurrency=2,
            poll_interval="10s",
            lag="10s",
            overlap="50s",
        ),
    )
    config = write_config(workdir / "config.yaml", raw)
    http_post_json(f"{sim_url}/_sim/reset-stats", {})
    with ProcessGroup() as group:
        daemon = group.add(start_daemon(workdir, config, cpu=SUBJECT_CPU if can_pin() else None))
        _wait_caught_up(daemon, streams=len(LOG_STREAMS), max_lag=25.0, timeout=300)
        _wait_idle(daemon, timeout=15)
        switch = datetime.now(UTC)
        catch_up_stats = http_get_json(f"{sim_url}/_sim/stats")
        http_post_json(f"{sim_url}/_sim/reset-stats", {})
        time.sleep(plan.live_seconds)
        code = daemon.stop()
        if code != 0:
            raise BenchProcessError(f"daemon exited with {code}:\n{daemon.output()}")
    live_stats = http_get_json(f"{sim_url}/_sim/stats")
    catch_up = _phase_from_log("daemon catch-up", daemon.log_path, until=switch)
    _count_requests(catch_up, catch_up_stats, TENANT.client_id)
    live = _phase_from_log("daemon live", daemon.log_path, since=switch)
    _count_requests(live, live_stats, TENANT.client_id)
    return catch_up, live


def _wait_caught_up(daemon: Served, *, streams: int, max_lag: float, timeout: float) -> None:
    """Wait until every stream's checkpoint is within ``max_lag`` seconds of now (the catch-up is over)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not daemon.alive():
            raise BenchProcessError(f"daemon exited with {daemon.popen.returncode}:\n{daemon.output()}")
        lags = [v for (name, _), v in scrape(daemon.url).items() if name == LAG]
        if len(lags) >= streams and max(lags) <= max_lag:
            return
        time.sleep(0.25)
    raise BenchProcessError(f"daemon did not catch up within {timeout:.0f} s:\n{daemon.output()}")


def _wait_idle(daemon: Served, *, timeout: float) -> None:
    """Wait (bounded) until no window is in flight, so no poll straddles the switch between phases."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metric_sum(scrape(daemon.url), "mimecast_siem_windows_in_flight") == 0:
            return
        time.sleep(0.05)


def _phase_from_log(
    name: str, log_path: Path, *, since: datetime | None = None, until: datetime | None = None
) -> Phase:
    """Windows of the daemon's canonical log lines (JSON) logged in ``[since, until)``."""
    phase = Phase(name)
    for line in log_path.read_bytes().splitlines():
        if b'"window_start"' not in line:
            continue
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        at = datetime.fromisoformat(entry["ts"].replace("Z", "+00:00"))
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        phase.streams[entry["stream"]].add_window(
            int(entry["pages"]), int(entry["events"]), int(entry.get("deduplicated", 0))
        )
    return phase


def _count_requests(phase: Phase, stats: Mapping[str, Any], client_id: str) -> None:
    """Add the simulator's request counts per log-stream endpoint (any status) and tokens issued."""
    paths = {CATALOGUE[s].path: s for s in LOG_STREAMS}
    for row in stats["requests"]:
        stream = paths.get(row["endpoint"])
        if stream is not None and row["client_id"] == client_id:
            phase.streams[stream].requests += int(row["count"])
    phase.tokens = int(stats.get("tokens_issued", {}).get(client_id, 0))


# --- backfill --------------------------------------------------------------------------------------------


def _backfill_phase(workdir: Path, sim_url: str, plan: Plan) -> Phase:
    """``mimecast-siem backfill`` of a closed range; the minimum from the job's per-window event counts."""
    workdir.mkdir(parents=True, exist_ok=True)
    raw = daemon_config(workdir, sim_url, [TENANT], stream_settings=catch_up_stream(start_from="1m"), server=False)
    config = write_config(workdir / "config.yaml", raw)
    until = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=6)
    since = until - timedelta(minutes=plan.backfill_minutes)
    http_post_json(f"{sim_url}/_sim/reset-stats", {})
    args = [sys.executable, "-m", "mimecast_siem", "backfill", "--config", str(config), "--tenant", TENANT.name]
    args += ["--all-streams", "--since", _iso(since), "--until", _iso(until), "--window", "5m", "--concurrency", "4"]
    args += ["--progress", "none", "--log-format", "json"]
    proc = spawn("backfill", args, workdir, cpu=SUBJECT_CPU if can_pin() else None)
    code = proc.wait(timeout=600)
    if code != 0:
        raise BenchProcessError(f"backfill exited with {code}:\n{proc.output()}")
    stats = http_get_json(f"{sim_url}/_sim/stats")
    phase = Phase("backfill")
    for window in asyncio.run(_backfill_windows(f"sqlite:///{workdir / 'data' / 'state.db'}")):
        # A backfill re-reads nothing: every fetched record is delivered (seen=None), so pages = minimum.
        phase.streams[window.stream].add_window(0, window.events, 0)
    _count_requests(phase, stats, TENANT.client_id)
    return phase


async def _backfill_windows(url: str) -> list[Any]:
    store = await StateStore.open(url)
    try:
        jobs = await store.list_backfill_jobs()
        if not jobs:
            raise BenchProcessError("the backfill left no job in the state store")
        return list(await store.backfill_windows(jobs[0].id))
    finally:
        await store.close()


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- quota -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuotaRun:
    """One daemon run against the quota."""

    variant: str
    result: CatchUp
    bound: float
    first_429_at: float | None

    @property
    def steady_rate(self) -> float:
        """Events/s after the burst allowance (from 2 s after the first 429, or the whole run)."""
        samples = self.result.samples
        start = samples[0] if self.first_429_at is None else _at_or_after(samples, self.first_429_at + 2.0)
        end = samples[-1]
        return (end.value - start.value) / max(end.at - start.at, 1e-9)

    @property
    def total_429(self) -> int:
        """429 answers in the run."""
        return int(self.result.samples[-1].values.get("rate_limited", 0))

    @property
    def late_429(self) -> int:
        """429 answers more than 1 s after the first one (the requests in flight then are excused)."""
        if self.first_429_at is None:
            return 0
        early = _at_or_after(self.result.samples, self.first_429_at + 1.0).values.get("rate_limited", 0)
        return int(self.total_429 - early)


def _at_or_after(samples: list[Any], at: float) -> Any:
    return next((s for s in samples if s.at >= at), samples[-1])


def _quota(workdir: Path, plan: Plan, quick: bool) -> tuple[Table, list[Target]]:
    """A daemon catching up through the simulator's quota: 429s and events/s against the bound."""
    workdir.mkdir(parents=True, exist_ok=True)
    refill = plan.quota_limit / plan.quota_period
    bound = refill * PAGE_SIZE
    runs: list[QuotaRun] = []
    with ProcessGroup() as group:
        sim = group.add(
            start_simulator(
                workdir,
                "--seed",
                "45",
                "--history",
                "45m",
                "--rate",
                f"ttp-url={plan.quota_rate:g}",
                cpu=SIMULATOR_CPU if can_pin() else None,
            )
        )

        def probe() -> dict[str, float]:
            stats = http_get_json(f"{sim.url}/_sim/stats")
            return {"rate_limited": float(stats["rate_limited_total"]), "requests": float(stats["requests_total"])}

        variants: list[tuple[str, float | None]] = [("429s only (quota unknown)", None)]
        if not quick:  # the smoke run keeps one variant to stay short
            variants.append(("max_requests_per_second = quota", refill))
        for variant, pace in variants:
            # Setting the faults restarts the bucket: each run starts with the full burst allowance.
            http_post_json(
                f"{sim.url}/_sim/faults", {"quota": {"limit": plan.quota_limit, "period": plan.quota_period}}
            )
            http_post_json(f"{sim.url}/_sim/reset-stats", {})
            run_dir = workdir / f"run-{len(runs)}"
            raw = daemon_config(
                run_dir,
                sim.url,
                [TENANT],
                streams=("ttp-url",),
                stream_settings=catch_up_stream(start_from="40m", max_window="1m", concurrency=2, poll_interval="30s"),
                max_requests_per_second=pace,
            )
            result = run_daemon_catch_up(
                run_dir,
                raw,
                label=variant,
                max_seconds=plan.quota_seconds,
                min_seconds=plan.quota_seconds,
                probe=probe,
            )
            first = next((s.at for s in result.samples if s.values.get("rate_limited", 0) > 0), None)
            runs.append(QuotaRun(variant, result, bound, first))
    table = Table(
        f"Quota {plan.quota_limit} requests / {plan.quota_period:g} s (refill {refill:g}/s), ttp-url catch-up",
        ["client pacing", "429s", "429s after the first episode", "events/s after burst", "bound", "share"],
    )
    targets: list[Target] = []
    for qr in runs:
        share = qr.steady_rate / bound
        table.add(qr.variant, qr.total_429, qr.late_429, fmt_rate(qr.steady_rate), fmt_rate(bound), fmt_pct(share))
        targets.append(
            Target(
                f"quota, {qr.variant}: 429s after the first", str(qr.late_429), "0", None if quick else qr.late_429 == 0
            )
        )
        targets.append(
            Target(
                f"quota, {qr.variant}: events/s vs quota x page size",
                fmt_pct(share),
                f">= {fmt_pct(TARGET_QUOTA_SHARE)}",
                None if quick else share >= TARGET_QUOTA_SHARE,
            )
        )
    table.notes.append(
        "The bucket starts full (the burst allowance); events/s are measured from 2 s after the first 429 to the "
        f"end of a {plan.quota_seconds:g} s run, when every request must wait for a refill. Bound = refill x 500."
    )
    table.notes.append(
        "429s in the first second of the first episode are excused: requests already in flight get them too."
    )
    return table, targets
