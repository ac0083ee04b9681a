"""``mimecast-siem demo``: the whole pipeline on one machine in seconds, no Mimecast account needed.

Starts the built-in Mimecast API simulator on 127.0.0.1 (generous rates, some late records, a
moving held queue), runs the collector daemon for every stream into ``./demo-out/`` (one NDJSON
file per stream), serves ``/metrics``, and shows live progress: events per stream and checkpoint
lag (a table on a terminal, plain lines otherwise). Stops cleanly on Ctrl-C or after ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from mimecast_siem.actions.daemon import configure_daemon_app
from mimecast_siem.aio import wait_for
from mimecast_siem.collector.daemon import Daemon
from mimecast_siem.config import Settings, parse_duration
from mimecast_siem.errors import ConfigError
from mimecast_siem.observability import configure_logging
from mimecast_siem.observability.metrics import Metrics, reset_metrics
from mimecast_siem.simulator import (
    RATED_STREAMS,
    HeldQueueSettings,
    LateArrivals,
    SimulatorConfig,
    ThreatFeedSettings,
    run_simulator,
)
from mimecast_siem.streams import CATALOGUE

TENANT = "demo"
SINK = "demo-out"
#: Streams the demo polls: those the registry marks ``demo=True`` (audit too: the simulator serves it).
DEMO_STREAMS: tuple[str, ...] = tuple(name for name, spec in CATALOGUE.items() if spec.demo)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add the ``demo`` sub-command."""
    demo = sub.add_parser(
        "demo",
        help="See it work in seconds: simulator → collector → ./demo-out/, with live progress.",
        description="Start the built-in Mimecast API simulator, run the collector for every stream into "
        "./demo-out/ and show live progress. Ctrl-C stops it cleanly.",
    )
    demo.add_argument("--duration", default=None, help="Stop after this long (e.g. 30s, 2m); default: until Ctrl-C.")
    demo.add_argument("--out", type=Path, default=Path("demo-out"), help="Output directory (default ./demo-out).")
    demo.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="Port of /metrics on 127.0.0.1 (default 0: a free port, shown when the demo starts).",
    )
    demo.add_argument("--seed", type=int, default=7, help="Seed of the simulated data.")
    demo.set_defaults(handler=demo_command)


def demo_settings(sim_url: str, client_id: str, client_secret: str, out: Path, metrics_port: int) -> Settings:
    """Settings of the demo daemon: fast polling, short lag and windows, one file sink."""
    stream_defaults = {
        "poll_interval": "2s",
        "lag": "5s",
        "overlap": "30s",
        "max_window": "5m",
        "start_from": "10m",
        "concurrency": 2,
    }
    return Settings.model_validate(
        {
            "data_dir": str(out / ".state"),
            "tenants": [
                {
                    "name": TENANT,
                    "base_url": sim_url,
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "streams": list(DEMO_STREAMS),
                }
            ],
            "streams": dict.fromkeys(DEMO_STREAMS, stream_defaults),
            "sinks": [{"name": SINK, "type": "file", "path": str(out)}],
            "server": {"host": "127.0.0.1", "port": metrics_port},
            "state": {"lease_ttl": "15s"},
            "daemon": {"shutdown_grace": "10s", "stream_backoff_max": "10s", "instance_id": "demo"},
        }
    )


#: Records per second of the busiest demo streams; every other log stream the demo polls gets 1 a second.
DEMO_RATES: dict[str, float] = {"ttp-url": 20.0, "ttp-attachment": 4.0, "ttp-impersonation": 1.0, "audit": 0.5}


def demo_rates() -> dict[str, float]:
    """Records per second of each demo log stream the simulator generates."""
    streams = [n for n in DEMO_STREAMS if CATALOGUE[n].kind == "log" and n in RATED_STREAMS]
    return {name: DEMO_RATES.get(name, 1.0) for name in streams}


def simulator_config(seed: int) -> SimulatorConfig:
    """A lively simulated tenant: plenty of clicks, some late records, holds that come and go, SIEM files."""
    return SimulatorConfig(
        seed=seed,
        rates=demo_rates(),
        history=1800.0,
        late=LateArrivals(fraction=0.05, min_delay=5.0, max_delay=25.0),
        holds=HeldQueueSettings(arrival_rate=0.5, min_hold=10.0, max_hold=90.0),
        # Threat-intel indicators every few seconds, a few of them new versions of earlier ones.
        threat_feeds=ThreatFeedSettings(rates={"threat-intel-customer": 0.2, "threat-intel-grid": 1.0}, page_size=50),
        # SIEM batch files every minute (the real API: every ~15 min), so they visibly flow in the demo.
        siem_rate=2.0,
        siem_file_interval=60.0,
        siem_file_delay=5.0,
    )


async def demo_command(args: argparse.Namespace) -> int:
    """Run the demo; 0 after a clean stop."""
    duration: float | None = None
    if args.duration is not None:
        try:
            duration = parse_duration(args.duration).total_seconds()
        except ValueError:
            sys.stderr.write(f"error: --duration {args.duration!r} is not a duration; use e.g. 30s, 2m, 1h\n")
            return 2
    out: Path = args.out
    log_path = out / "daemon.log"
    with _open_log(log_path) as log_file:
        # The terminal shows progress; the daemon's JSON log lines go to a file beside the events.
        configure_logging("INFO", "json", stream=log_file)
        m = reset_metrics()
        async with run_simulator(simulator_config(args.seed)) as sim:
            settings = demo_settings(sim.url, sim.client_id, sim.client_secret, out, args.metrics_port)
            daemon = Daemon(settings, handle_signals=True, app_configurators=(configure_daemon_app,))
            runner = asyncio.create_task(daemon.run())
            progress = Progress(m, out, sys.stdout)
            started = time.monotonic()
            try:
                started_wait = asyncio.create_task(daemon.started.wait())
                await asyncio.wait({started_wait, runner}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
                started_wait.cancel()
                if runner.done() and not daemon.started.is_set():
                    try:
                        return runner.result()
                    except ConfigError as exc:  # e.g. the metrics port is taken: one line, exit 2
                        sys.stderr.write(f"error: {exc}\n")
                        return 2
                progress.intro(sim.url, daemon.port, log_path)
                while not runner.done():
                    if duration is not None and time.monotonic() - started >= duration:
                        daemon.stop()
                    progress.show(daemon)
                    with contextlib.suppress(TimeoutError):
                        await wait_for(asyncio.shield(runner), seconds=1.0)
                code = runner.result()
            except (KeyboardInterrupt, asyncio.CancelledError):
                daemon.stop()
                code = await runner
            progress.finish()
    return code


def _open_log(path: Path) -> TextIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a", encoding="utf-8")


class Progress:
    """Live progress: a table on a terminal, one plain line every few seconds otherwise."""

    def __init__(self, m: Metrics, out: Path, stream: TextIO) -> None:
        self.m = m
        self.out = out
        self.stream = stream
        self.tty = stream.isatty()
        self._last_plain = 0.0
        self._live: Any = None

    def intro(self, sim_url: str, port: int | None, log_path: Path) -> None:
        """Say what is running and where to look."""
        lines = [
            f"Simulated Mimecast API: {sim_url}",
            f"Events: {self.out}/{TENANT}/<stream>.ndjson   Daemon log: {log_path}",
        ]
        if port:
            lines.append(f"Metrics: http://127.0.0.1:{port}/metrics")
        lines.append("Press Ctrl-C to stop.")
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()

    def counts(self, daemon: Daemon) -> list[tuple[str, int, float | None]]:
        """``(stream, events delivered, checkpoint lag seconds)`` per stream."""
        registry = self.m.registry
        lags = daemon.supervisor.checkpoint_times() if daemon.supervisor is not None else {}
        now = time.time()
        rows = []
        for stream in DEMO_STREAMS:
            value = registry.get_sample_value(
                "mimecast_siem_events_delivered_total", {"tenant": TENANT, "stream": stream, "sink": SINK}
            )
            ts = lags.get((TENANT, stream))
            rows.append((stream, int(value or 0), (now - ts) if ts is not None else None))
        return rows

    def show(self, daemon: Daemon) -> None:
        """Refresh the display."""
        rows = self.counts(daemon)
        if self.tty:
            self._show_table(rows)
            return
        if time.monotonic() - self._last_plain < 5:
            return
        self._last_plain = time.monotonic()
        parts = [f"{s}={n}" + (f" (lag {lag:.0f}s)" if lag is not None else "") for s, n, lag in rows]
        self.stream.write("progress: " + ", ".join(parts) + "\n")
        self.stream.flush()

    def _show_table(self, rows: list[tuple[str, int, float | None]]) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.table import Table

        table = Table(title=f"mimecast-siem demo -> {self.out}/")
        table.add_column("stream")
        table.add_column("events", justify="right")
        table.add_column("checkpoint lag", justify="right")
        for stream, count, lag in rows:
            table.add_row(stream, f"{count:,}", "-" if lag is None else str(timedelta(seconds=round(lag))))
        if self._live is None:
            self._live = Live(table, console=Console(file=self.stream), refresh_per_second=2, transient=False)
            self._live.start()
        else:
            self._live.update(table)

    def finish(self) -> None:
        """Stop the live display and print a summary."""
        if self._live is not None:
            self._live.stop()
        self.stream.write(
            f"Stopped. Your events are in {self.out}/{TENANT}/ - try: head -n 1 {self.out}/{TENANT}/ttp-url.ndjson\n"
        )
        self.stream.flush()
