"""Benchmark 5: sink throughput - syslog TCP to a real rsyslog, Splunk HEC (gzip) to the test receiver.

Events are normalised once from captured simulator pages (all four log streams), then delivered
through the real :class:`~mimecast_siem.sinks.Router` and sink, 500 at a time (one page), as the
collector does. The receivers run as processes of their own: ``rsyslogd`` (imtcp, writing each
message to a file) and the strict test HEC receiver (``bench.hec_server``). Events/s run from the
first send until the receiver holds every event; bytes/s are what the sink put on the wire
(``mimecast_siem_sink_bytes_total``). The CPU column is this process's CPU time per event (the
sink's own cost, whatever the receiver does). Target: at least 20,000 events/s per sink.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.capture import LOG_STREAMS, capture_pages
from bench.procs import BenchProcessError, Proc, ProcessGroup, http_get_json, spawn, wait_port_file
from bench.report import Section, Table, Target, fmt_mb, fmt_rate, fmt_us
from bench.settings import BenchOptions
from mimecast_siem.collector import CATALOGUE, NormaliseContext, normalise_records
from mimecast_siem.config.models import Settings
from mimecast_siem.events import Event
from mimecast_siem.observability.metrics import reset_metrics
from mimecast_siem.sinks import DeadLetters, Router, SinkContext, build_sinks

TARGET_RATE = 20_000.0
HEC_TOKEN = "bench-hec-token-0123456789"
PAGE = 500
RECEIVE_TIMEOUT = 180.0
#: The repository root: the HEC receiver process imports tests.sinks.hec_receiver from there.
REPO = Path(__file__).resolve().parent.parent

RSYSLOG_CONF = """\
global(workDirectory="{work}" maxMessageSize="64k")
module(load="imtcp" maxSessions="20")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="bench")
template(name="msgonly" type="string" string="%msg%\\n")
ruleset(name="bench") {{
  action(type="omfile" file="{out}" template="msgonly" asyncWriting="on" ioBufferSize="4m" flushInterval="1")
}}
"""


@dataclass(frozen=True, slots=True)
class SinkRun:
    """One sink's measurement."""

    label: str
    events: int
    seconds: float
    send_seconds: float
    cpu: float
    wire_bytes: float

    @property
    def rate(self) -> float:
        """Events/s until the receiver had all of them."""
        return self.events / self.seconds

    @property
    def bytes_rate(self) -> float:
        """Wire bytes/s over the same time."""
        return self.wire_bytes / self.seconds


def run(options: BenchOptions) -> Section:
    """Syslog (CEF and JSON) to rsyslog, HEC (JSON, gzip) to the test receiver."""
    section = Section(5, "Sinks: syslog TCP to rsyslog, HEC with gzip to the test receiver")
    workdir = options.workdir / "sinks"
    workdir.mkdir(parents=True, exist_ok=True)
    per_stream = 500 if options.quick else 25_000
    events = _events(per_stream)
    table = Table(
        "Sink throughput, events delivered through the router 500 at a time",
        ["sink", "events", "events/s", "wire bytes/s", "send s", "until received s", "our CPU / event"],
    )
    runs: list[SinkRun] = []
    rsyslogd = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None)
    if rsyslogd is None:
        table.notes.append("rsyslogd is not installed (apt-get install rsyslog): the syslog rows were skipped.")
    else:
        for fmt in ("cef", "json"):
            runs.append(_syslog_run(workdir / f"syslog-{fmt}", rsyslogd, fmt, events))
    runs.append(_hec_run(workdir / "hec", events))
    for r in runs:
        table.add(
            r.label,
            f"{r.events:,}",
            fmt_rate(r.rate),
            f"{fmt_mb(r.bytes_rate)}/s",
            f"{r.send_seconds:.2f}",
            f"{r.seconds:.2f}",
            fmt_us(r.cpu / r.events),
        )
        section.targets.append(
            Target(
                f"{r.label}: events/s",
                fmt_rate(r.rate),
                f">= {fmt_rate(TARGET_RATE)}",
                None if options.quick else r.rate >= TARGET_RATE,
            )
        )
    table.notes.append(
        f"{sum(len(p) for p in events):,} events: {per_stream:,} normalised records of each of "
        f"{', '.join(LOG_STREAMS)}, "
        "interleaved by page. One sink per run; the receiver is its own process."
    )
    table.notes.append(
        "our CPU / event: this process (router + sink: encoding, framing, gzip, HTTP) divided by the events; "
        "1,000,000 / that is the rate one core would give the sink if the receiver kept up."
    )
    section.tables.append(table)
    return section


def _events(per_stream: int) -> list[list[Event]]:
    """Pages of normalised events (500 each), streams interleaved."""
    captured = asyncio.run(capture_pages(per_stream, LOG_STREAMS))
    per: list[list[list[Event]]] = []
    for stream, cap in captured.items():
        spec = CATALOGUE[stream]
        records: list[Any] = []
        for page in cap.pages:
            data = orjson.loads(page)["data"]
            records += data if spec.record_key is None else data[0][spec.record_key]
        ctx = NormaliseContext(tenant="acme", observed_at=datetime.now(UTC))
        normalised = normalise_records(spec, records[:per_stream], ctx)
        per.append([normalised[i : i + PAGE] for i in range(0, len(normalised), PAGE)])
    pages: list[list[Event]] = []
    for i in range(max(len(p) for p in per)):
        pages += [p[i] for p in per if i < len(p)]
    return pages


def _settings(workdir: Path, sink: dict[str, Any]) -> Settings:
    return Settings.model_validate(
        {
            "data_dir": str(workdir / "data"),
            "tenants": [
                {"name": "acme", "base_url": "http://127.0.0.1:9", "client_id": "x", "client_secret": "bench-secret-1"}
            ],
            "sinks": [sink],
        }
    )


async def _deliver(settings: Settings, workdir: Path, pages: Sequence[Sequence[Event]]) -> tuple[float, float]:
    """Deliver every page through a router; return (wall seconds, CPU seconds) of the sending."""
    sinks = build_sinks(settings, SinkContext(workdir, "bench", "bench"))
    router = Router(settings, sinks, DeadLetters(workdir / "dead-letters.ndjson"))
    await router.start()
    try:
        started, cpu = time.perf_counter(), time.process_time()
        for page in pages:
            report = await router.deliver("acme", page[0].stream, page)
            if report.dead_lettered:
                raise BenchProcessError(f"{report.dead_lettered} events were dead-lettered")
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        await router.close()


def _measure(
    label: str, settings: Settings, workdir: Path, pages: Sequence[Sequence[Event]], received: Callable[[], int]
) -> SinkRun:
    metrics = reset_metrics()
    total = sum(len(p) for p in pages)
    started = time.perf_counter()
    send_seconds, cpu = asyncio.run(_deliver(settings, workdir, pages))
    deadline = time.monotonic() + RECEIVE_TIMEOUT
    while received() < total:
        if time.monotonic() > deadline:
            raise BenchProcessError(f"{label}: the receiver got {received()} of {total} events")
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    wire = sum(
        s.value
        for family in metrics.registry.collect()
        if family.name == "mimecast_siem_sink_bytes"
        for s in family.samples
        if s.name.endswith("_total")
    )
    return SinkRun(label, total, seconds, send_seconds, cpu, wire)


def _syslog_run(workdir: Path, rsyslogd: str, fmt: str, pages: Sequence[Sequence[Event]]) -> SinkRun:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "work").mkdir(exist_ok=True)
    out = workdir / "received.log"
    port = _free_port()
    conf = workdir / "rsyslog.conf"
    conf.write_text(RSYSLOG_CONF.format(work=workdir / "work", port=port, out=out))
    with ProcessGroup() as group:
        proc = group.add(spawn("rsyslogd", [rsyslogd, "-n", "-f", str(conf), "-i", str(workdir / "pid")], workdir))
        _wait_listening(proc, port)
        settings = _settings(
            workdir,
            {"name": "syslog", "type": "syslog", "format": fmt, "host": "127.0.0.1", "port": port, "transport": "tcp"},
        )
        return _measure(f"syslog tcp ({fmt}) -> rsyslog", settings, workdir, pages, lambda: _count_lines(out))


def _hec_run(workdir: Path, pages: Sequence[Sequence[Event]]) -> SinkRun:
    workdir.mkdir(parents=True, exist_ok=True)
    port_file = workdir / "hec.port"
    args = [sys.executable, "-m", "bench.hec_server", "--port-file", str(port_file), "--token", HEC_TOKEN]
    with ProcessGroup() as group:
        proc = group.add(spawn("hec-receiver", args, workdir, cwd=REPO))
        port = wait_port_file(proc, port_file)
        url = f"http://127.0.0.1:{port}"
        settings = _settings(
            workdir,
            {
                "name": "hec",
                "type": "hec",
                "format": "json",
                "url": url,
                "token": HEC_TOKEN,
                "gzip": True,
                "allow_plain_http": True,
            },
        )
        return _measure(
            "hec json gzip -> test receiver",
            settings,
            workdir,
            pages,
            lambda: int(http_get_json(f"{url}/_bench/count")["events"]),
        )


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(proc: Proc, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise BenchProcessError(f"rsyslogd exited:\n{proc.output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchProcessError(f"rsyslogd did not listen on {port} within {timeout:.0f} s:\n{proc.output()}")
