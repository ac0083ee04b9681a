"""``mimecast-siem demo``: the whole pipeline on one machine in seconds, no Mimecast account needed.

Starts the built-in Mimecast API simulator on 127.0.0.1 (generous rates, some late records, a
moving held queue), runs the collector daemon for every stream into ``./demo-out/`` (one NDJSON
file per stream), serves ``/metrics``, and shows live progress: events per stream and checkpoint
lag (a table on a terminal, plain lines otherwise). Stops cleanly on Ctrl-C or after ``--duration``.

``--scenario sink-outage`` adds a second sink, ``siem``: Splunk HEC to a receiver the demo runs on
127.0.0.1, with a durable queue. The receiver is stopped for a while (``--outage-start``,
``--outage-length``) and started again: the file sink keeps filling, the queue grows, then drains to
zero; the demo then stops by itself and compares what both sinks got, by event id.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import orjson

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
from mimecast_siem.simulator.hec_receiver import DemoHecReceiver, event_id_of
from mimecast_siem.sinks import RetryPolicy
from mimecast_siem.sinks.queue import SegmentQueue
from mimecast_siem.streams import CATALOGUE

TENANT = "demo"
SINK = "demo-out"
#: The second sink of the sink-outage scenario (HEC to the demo's receiver, with a durable queue).
SIEM_SINK = "siem"
#: The demo retries a failing sink within 2 s (the daemon's default backs off up to 30 s).
DEMO_SINK_RETRY = RetryPolicy(initial=0.5, maximum=2.0)
SCENARIOS = ("basic", "sink-outage")
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
    demo.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="basic",
        help="basic (default): simulator -> collector -> files. sink-outage: also a SIEM (Splunk HEC to a "
        "receiver on 127.0.0.1) with a durable queue, which goes down for a while and catches up; the demo "
        "then stops by itself and compares both sinks by event id.",
    )
    demo.add_argument(
        "--outage-start", default="10s", help="sink-outage: when the SIEM goes down (default 10s after the start)."
    )
    demo.add_argument("--outage-length", default="20s", help="sink-outage: how long it stays down (default 20s).")
    demo.set_defaults(handler=demo_command)


def demo_settings(
    sim_url: str,
    client_id: str,
    client_secret: str,
    out: Path,
    metrics_port: int,
    *,
    hec_url: str | None = None,
    hec_token: str = "",
) -> Settings:
    """Settings of the demo daemon: fast polling, short lag and windows, one file sink.

    With ``hec_url`` (the sink-outage scenario) every stream also goes to a HEC sink with a durable queue,
    presenting ``hec_token``.
    """
    sinks: list[dict[str, Any]] = [{"name": SINK, "type": "file", "path": str(out)}]
    if hec_url is not None:
        sinks.append(
            {
                "name": SIEM_SINK,
                "type": "hec",
                "url": hec_url,
                "token": hec_token,
                "timeout": "15s",
                "connect_timeout": "2s",
                "queue": {"enabled": True, "max_bytes": 256 * 1024 * 1024, "when_full": "block"},
            }
        )
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
            "sinks": sinks,
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
    durations: dict[str, float | None] = {}
    for flag, value in (
        ("--duration", args.duration),
        ("--outage-start", args.outage_start),
        (
            "--outage-length",
            args.outage_length,
        ),
    ):
        try:
            durations[flag] = None if value is None else parse_duration(value).total_seconds()
        except ValueError:
            sys.stderr.write(f"error: {flag} {value!r} is not a duration; use e.g. 30s, 2m, 1h\n")
            return 2
    duration = durations["--duration"]
    out: Path = args.out
    log_path = out / "daemon.log"
    with _open_log(log_path) as log_file:
        # The terminal shows progress; the daemon's JSON log lines go to a file beside the events.
        configure_logging("INFO", "json", stream=log_file)
        m = reset_metrics()
        async with run_simulator(simulator_config(args.seed)) as sim:
            outage: Outage | None = None
            if args.scenario == "sink-outage":
                # A fresh token each run: the receiver and the sink share it, nothing else does.
                receiver = DemoHecReceiver(str(uuid.uuid4()), out / "siem-receiver" / "events.ndjson")
                await receiver.start()
                outage = Outage(
                    receiver,
                    m,
                    out,
                    sys.stdout,
                    start=durations["--outage-start"] or 0.0,
                    length=durations["--outage-length"] or 0.0,
                )
            settings = demo_settings(
                sim.url,
                sim.client_id,
                sim.client_secret,
                out,
                args.metrics_port,
                hec_url=outage.receiver.url if outage is not None else None,
                hec_token=outage.receiver.token if outage is not None else "",
            )
            daemon = Daemon(
                settings,
                handle_signals=True,
                app_configurators=(configure_daemon_app,),
                sink_retry=DEMO_SINK_RETRY if outage is not None else None,
            )
            runner = asyncio.create_task(daemon.run())
            progress = Progress(m, out, sys.stdout, plain=outage is not None)
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
                if outage is not None:
                    outage.intro()
                while not runner.done():
                    elapsed = time.monotonic() - started
                    if duration is not None and elapsed >= duration:
                        daemon.stop()
                    if outage is not None:
                        if await outage.step(elapsed) and duration is None:
                            daemon.stop()
                    else:
                        progress.show(daemon)
                    with contextlib.suppress(TimeoutError):
                        await wait_for(asyncio.shield(runner), seconds=1.0)
                code = runner.result()
            except (KeyboardInterrupt, asyncio.CancelledError):
                daemon.stop()
                code = await runner
            finally:
                if outage is not None:
                    await outage.receiver.stop()
            if outage is not None:
                outage.summary(settings.data_dir / "queues" / SIEM_SINK)
            progress.finish()
    return code


class Outage:
    """The sink-outage scenario: takes the SIEM down and up on a timeline, prints it, then compares.

    Args:
        receiver: the demo's HEC receiver (started).
        m: the daemon's metrics.
        out: the demo's output directory (the file sink writes ``<out>/<tenant>/<stream>.ndjson``).
        stream: where the timeline goes.
        start: seconds after the start when the receiver stops.
        length: seconds it stays down.
    """

    #: After the SIEM is back, how long to wait for the queue to drain before stopping anyway.
    DRAIN_LIMIT = 120.0

    def __init__(
        self, receiver: DemoHecReceiver, m: Metrics, out: Path, stream: TextIO, *, start: float, length: float
    ) -> None:
        self.receiver = receiver
        self.m = m
        self.out = out
        self.stream = stream
        self.start = start
        self.length = length
        self.phase = "before"  # before -> down -> back -> drained
        self.peak_events = 0
        self.peak_bytes = 0
        self.back_at: float | None = None
        self.drained_after: float | None = None
        self._last_line = -1e9
        # Only this run's lines count: files may hold events of earlier demo runs.
        self.file_offsets = {path: path.stat().st_size for path in self._files()}

    def intro(self) -> None:
        """Say what the scenario will do."""
        self._say(
            f"Scenario sink-outage: every stream also goes to sink {SIEM_SINK!r} (Splunk HEC at {self.receiver.url}, "
            f"a receiver run by the demo) through a durable queue. The receiver goes down {self.start:.0f}s after "
            f"the start for {self.length:.0f}s; watch the file sink keep filling and the queue grow, then drain."
        )

    async def step(self, elapsed: float) -> bool:
        """Advance the timeline (about once a second); True once the queue drained after the outage."""
        if self.phase == "before" and elapsed >= self.start:
            await self.receiver.stop()
            self.phase = "down"
            self._say(
                f"{elapsed:5.0f}s  >>> the SIEM is DOWN (receiver stopped for {self.length:.0f}s): "
                f"the file sink carries on, {SIEM_SINK}'s events wait in its queue"
            )
        elif self.phase == "down" and elapsed >= self.start + self.length:
            await self.receiver.start()
            self.phase = "back"
            self.back_at = elapsed
            self._say(f"{elapsed:5.0f}s  >>> the SIEM is BACK: {SIEM_SINK}'s queue drains")
        events, size = self._queue()
        if self.phase in ("down", "back") and events > self.peak_events:
            self.peak_events, self.peak_bytes = events, size
        if self.phase == "back" and self.back_at is not None:
            if events == 0 and self._delivered(SIEM_SINK) > 0:
                self.phase = "drained"
                self.drained_after = elapsed - self.back_at
                self._line(elapsed, force=True)
                self._say(f"{elapsed:5.0f}s  >>> the queue is empty again: {SIEM_SINK} caught up; stopping")
                return True
            if elapsed - self.back_at > self.DRAIN_LIMIT:
                self._say(f"{elapsed:5.0f}s  >>> the queue did not drain in {self.DRAIN_LIMIT:.0f}s; stopping")
                return True
        self._line(elapsed)
        return self.phase == "drained"

    def _line(self, elapsed: float, *, force: bool = False) -> None:
        if not force and elapsed - self._last_line < 2.0:
            return
        self._last_line = elapsed
        events, size = self._queue()
        age = self._sample("mimecast_siem_queue_oldest_age_seconds", {"sink": SIEM_SINK})
        state = "DOWN" if self.phase == "down" else "up"
        self._say(
            f"{elapsed:5.0f}s  file {self._delivered(SINK):>7,} events | {SIEM_SINK} (receiver {state}) "
            f"{self._delivered(SIEM_SINK):>7,} delivered, queue {events:,} events ({size / 1e6:.1f} MB), "
            f"oldest {age:.0f}s"
        )

    def summary(self, queue_dir: Path) -> None:
        """Compare this run's file events with what the SIEM received (and what is still queued), by id."""
        file_ids = self._file_ids()
        received = self.receiver.ids
        queued = _queued_ids(queue_dir)
        unique_file = set(file_ids)
        missing = unique_file - set(received) - set(queued)
        duplicates = sum(count - 1 for count in received.values() if count > 1)
        lines = [
            "Summary of the sink-outage scenario (by event id):",
            f"  file sink ({self.out}/{TENANT}/): {len(file_ids):,} events this run ({len(unique_file):,} distinct ids)",
            f"  SIEM receiver ({self.receiver.output}): {sum(received.values()):,} events, "
            f"{len(received):,} distinct ids, duplicates {duplicates}",
            f"  still in {SIEM_SINK}'s queue (sent at the next start): {len(queued):,}",
            f"  largest queue depth: {self.peak_events:,} events ({self.peak_bytes / 1e6:.1f} MB)"
            + (
                f"; drained {self.drained_after:.0f}s after the SIEM came back"
                if self.drained_after is not None
                else ""
            ),
            f"  lost (in the file, neither received by the SIEM nor queued): {len(missing)}"
            + (" - nothing lost" if not missing else f" - e.g. {sorted(missing)[0]}"),
        ]
        self._say("\n".join(lines))

    def _files(self) -> list[Path]:
        return sorted((self.out / TENANT).glob("*.ndjson")) if (self.out / TENANT).is_dir() else []

    def _file_ids(self) -> list[str]:
        ids: list[str] = []
        for path in self._files():
            with path.open("rb") as handle:
                handle.seek(self.file_offsets.get(path, 0))
                for line in handle:
                    if line.endswith(b"\n"):
                        ids.append(event_id_of({"event": orjson.loads(line)}))
        return ids

    def _queue(self) -> tuple[int, int]:
        labels = {"sink": SIEM_SINK}
        events = self._sample("mimecast_siem_queue_events", labels)
        size = self._sample("mimecast_siem_queue_bytes", labels)
        return int(events), int(size)

    def _delivered(self, sink: str) -> int:
        total = 0.0
        for family in self.m.registry.collect():
            if family.name == "mimecast_siem_events_delivered":
                total += sum(
                    s.value for s in family.samples if s.name.endswith("_total") and s.labels.get("sink") == sink
                )
        return int(total)

    def _sample(self, name: str, labels: dict[str, str]) -> float:
        return float(self.m.registry.get_sample_value(name, labels) or 0.0)

    def _say(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def _queued_ids(directory: Path) -> list[str]:
    """Ids of the events still in a queue directory (read from its files)."""
    if not directory.is_dir():
        return []
    queue = SegmentQueue(directory, max_bytes=1 << 62)
    position = queue.cursor()
    ids: list[str] = []
    while True:
        batch = queue.read(position, 10_000, 1 << 62)
        ids += [r.event.event_id for r in batch.records]
        if batch.end == position or not (batch.records or batch.corruptions):
            return ids
        position = batch.end


def _open_log(path: Path) -> TextIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a", encoding="utf-8")


class Progress:
    """Live progress: a table on a terminal, one plain line every few seconds otherwise."""

    def __init__(self, m: Metrics, out: Path, stream: TextIO, *, plain: bool = False) -> None:
        self.m = m
        self.out = out
        self.stream = stream
        self.tty = stream.isatty() and not plain
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
