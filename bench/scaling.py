"""Benchmark 6: scaling with tenants - 1, 10 and 50 simulated apps, every stream of each.

Each tenant is its own simulator app with the same per-tenant rates, so the events grow with the
tenants. One daemon polls every tenant's seven streams (four log streams, the held queue, two
gauges). Two phases per size:

* **Catch-up** of ``span`` minutes: events/s, daemon CPU per 1,000 events, peak RSS. Linear
  scaling = CPU per event flat as tenants grow.
* **Steady state**: caught up, polling live (poll interval 10 s) while the tenants keep producing
  events at the same rates: CPU% of the daemon. The part not explained by the live events (at the
  catch-up's CPU per event) is the idle overhead of tenants x streams: leases, token refreshes, polls,
  gauge samples, the overlap re-read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.configs import LOG_STREAMS, catch_up_stream, daemon_config, rate_flags, simulator_apps
from bench.measure import CatchUp, run_daemon_catch_up
from bench.procs import SIMULATOR_CPU, ProcessGroup, Sample, can_pin, start_simulator
from bench.report import Section, Table, Target, fmt_mb, fmt_pct, fmt_rate
from bench.settings import BenchOptions

ALL_STREAMS: tuple[str, ...] = (*LOG_STREAMS, "held-messages", "hold-summary", "email-queues")


@dataclass(frozen=True, slots=True)
class Plan:
    """Sizes of a run."""

    tenants: tuple[int, ...]
    rates: dict[str, float]
    span_minutes: int
    steady_seconds: float
    max_seconds: float


FULL = Plan(
    tenants=(1, 10, 50),
    rates={"ttp-url": 20, "ttp-attachment": 5, "ttp-impersonation": 3, "audit": 1},
    span_minutes=5,
    steady_seconds=40,
    max_seconds=240,
)
QUICK = Plan(
    tenants=(1,),
    rates={"ttp-url": 5, "ttp-attachment": 1, "ttp-impersonation": 1, "audit": 1},
    span_minutes=1,
    steady_seconds=2,
    max_seconds=30,
)


@dataclass(frozen=True, slots=True)
class ScaleRun:
    """One size: its catch-up and the steady state after it (same daemon)."""

    tenants: int
    result: CatchUp
    warm_up: float

    @property
    def steady_samples(self) -> list[Sample]:
        """Samples of the steady state, after the warm-up (the first overlap re-read near the head)."""
        after = self.result.after
        start = after[0].at + self.warm_up if after else 0.0
        kept = [s for s in after if s.at >= start]
        return kept if len(kept) >= 2 else after[-2:]

    @property
    def cpu_per_1000(self) -> float:
        """Daemon CPU seconds per 1,000 events in the catch-up."""
        return 1000 * self.result.cpu / max(self.result.events, 1)

    @property
    def steady_cpu_share(self) -> float:
        """CPU seconds per second in the steady state."""
        first, last = self.steady_samples[0], self.steady_samples[-1]
        return (last.cpu - first.cpu) / max(last.at - first.at, 1e-9)

    @property
    def steady_events_rate(self) -> float:
        """Events per second delivered in the steady state."""
        first, last = self.steady_samples[0], self.steady_samples[-1]
        return (last.value - first.value) / max(last.at - first.at, 1e-9)

    @property
    def idle_share(self) -> float:
        """Steady CPU share not explained by the live events at the catch-up's cost per event."""
        return max(0.0, self.steady_cpu_share - self.steady_events_rate * self.cpu_per_1000 / 1000)


def run(options: BenchOptions) -> Section:
    """Each size in turn against one simulator with as many apps as the largest size."""
    plan = QUICK if options.quick else FULL
    section = Section(6, "Scaling: 1, 10 and 50 tenants, every stream")
    workdir = options.workdir / "scaling"
    workdir.mkdir(parents=True, exist_ok=True)
    runs: list[ScaleRun] = []
    with ProcessGroup() as group:
        sim = group.add(
            start_simulator(
                workdir,
                "--seed",
                "66",
                "--apps",
                str(max(plan.tenants)),
                "--history",
                f"{plan.span_minutes + 10}m",
                *rate_flags(plan.rates),
                cpu=SIMULATOR_CPU if can_pin() else None,
            )
        )
        for n in plan.tenants:
            runs.append(_size(workdir / f"tenants-{n}", sim.url, n, plan))
    table = Table(
        "Catch-up and steady state by number of tenants (7 streams each)",
        [
            "tenants",
            "streams",
            "catch-up events",
            "events/s",
            "CPU s / 1k events",
            "peak RSS",
            "steady CPU",
            "steady events/s",
            "idle overhead CPU",
            "per tenant",
        ],
    )
    for r in runs:
        table.add(
            r.tenants,
            r.tenants * len(ALL_STREAMS),
            f"{r.result.events:,}",
            fmt_rate(r.result.rate),
            f"{r.cpu_per_1000:.3f}",
            fmt_mb(r.result.peak_rss),
            fmt_pct(r.steady_cpu_share),
            fmt_rate(r.steady_events_rate),
            fmt_pct(r.idle_share),
            fmt_pct(r.idle_share / r.tenants),
        )
    per_tenant = ", ".join(f"{k} {v:g}/s" for k, v in plan.rates.items())
    table.notes.append(
        f"Per tenant: {per_tenant}; catch-up of {plan.span_minutes} min (max_window 2m, concurrency 2); "
        f"steady state over {plan.steady_seconds:g} s with poll_interval 10s, lag 10s, overlap 1m."
    )
    table.notes.append(
        "idle overhead CPU = steady CPU - steady events/s x catch-up CPU per event: what tenants x streams cost "
        "beyond moving their events (polls, the overlap re-read, leases, gauges, tokens)."
    )
    section.tables.append(table)
    base = runs[0].cpu_per_1000
    largest = runs[-1]
    growth = largest.cpu_per_1000 / base if base else 0.0
    section.targets.append(
        Target(
            f"CPU per event, {largest.tenants} tenants vs 1",
            f"{growth:.2f}x",
            "<= 1.25x (linear in events)",
            None if options.quick else growth <= 1.25,
            why=_growth_why(runs[0], largest),
        )
    )
    return section


def _growth_why(small: ScaleRun, large: ScaleRun) -> str:
    """How much of the growth of CPU per event the tenants' idle polling during the catch-up explains."""

    def without_idle(run: ScaleRun) -> float:
        busy = run.result.cpu - run.idle_share * run.result.seconds
        return 1000 * max(busy, 0.0) / max(run.result.events, 1)

    base = without_idle(small)
    if base <= 0:
        return ""
    return (
        f"the catch-up also pays the idle polling of {large.tenants * len(ALL_STREAMS)} streams "
        f"({large.idle_share:.0%} of a core for {large.result.seconds:.0f} s); without it "
        f"{without_idle(large) / base:.2f}x"
    )


def _size(workdir: Path, sim_url: str, tenants: int, plan: Plan) -> ScaleRun:
    apps = simulator_apps(tenants)
    settings = catch_up_stream(
        start_from=f"{plan.span_minutes}m",
        max_window="2m",
        concurrency=2,
        poll_interval="10s",
        lag="10s",
        overlap="1m",
    )
    raw = daemon_config(workdir, sim_url, apps, streams=ALL_STREAMS, stream_settings=settings)
    result = run_daemon_catch_up(
        workdir,
        raw,
        label=f"{tenants} tenants",
        max_seconds=plan.max_seconds,
        caught_up=(tenants * len(ALL_STREAMS), 40.0),
        then_seconds=plan.steady_seconds,
        # /metrics of 50 tenants is big: scraping it every second would itself cost the daemon CPU.
        interval=1.0 if tenants == 1 else 3.0,
    )
    return ScaleRun(tenants, result, warm_up=plan.steady_seconds / 4)
