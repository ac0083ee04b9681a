"""UDP loss of the syslog sink into a real rsyslog (imudp) on loopback, per pacing setting.

``python -m bench.udp_loss [--events N] [--rates unpaced,20000,5000,2000]``

Events go through the real :class:`~mimecast_siem.sinks.Router` and syslog sink (format json, the
largest messages), 500 at a time as the collector sends a page, to an ``rsyslogd`` of its own that
writes every datagram it parses to a file. For each ``udp_rate`` setting the table gives the
fraction that arrived (received / sent): a ratio measured in this run, never an absolute number to
carry to another machine. rsyslog's imudp reads into a socket buffer of the kernel's default size
(``rmem_default``); a batch sent back to back overflows it and the kernel drops the rest silently.
The sink counts all of them as *sent* (``events_sent_total``), never as delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.procs import BenchProcessError, ProcessGroup, spawn
from bench.report import Table
from mimecast_siem.config.models import Settings
from mimecast_siem.events import Event
from mimecast_siem.sinks import DeadLetters, Router, SinkContext, build_sinks

PAGE = 500
SETTLE = 2.0

RSYSLOG_CONF = """\
global(workDirectory="{work}" maxMessageSize="64k")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{port}" ruleset="bench")
template(name="msgonly" type="string" string="%msg%\\n")
ruleset(name="bench") {{
  action(type="omfile" file="{out}" template="msgonly" asyncWriting="on" ioBufferSize="4m" flushInterval="1")
}}
"""


def _events(count: int) -> list[Event]:
    from tests.sinks.builders import batch

    return batch(count)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


async def _send(settings: Settings, workdir: Path, events: Sequence[Event]) -> tuple[float, int]:
    """Deliver ``events`` a page at a time; return (seconds, events counted as sent)."""
    sinks = build_sinks(settings, SinkContext(workdir, "bench", "bench"))
    router = Router(settings, sinks, DeadLetters(workdir / "dead-letters.ndjson"))
    await router.start()
    sent = 0
    try:
        started = time.perf_counter()
        for i in range(0, len(events), PAGE):
            report = await router.deliver("acme", "ttp-url", events[i : i + PAGE])
            for outcome in report.sinks.values():
                if outcome.delivered:
                    raise BenchProcessError("UDP events were counted as delivered")
                sent += outcome.sent
        return time.perf_counter() - started, sent
    finally:
        await router.close()


def measure(workdir: Path, rsyslogd: str, rate: int | None, events: Sequence[Event]) -> tuple[int, int, float]:
    """One run: (sent, received, seconds of sending) at ``rate`` datagrams/s (None = unpaced)."""
    label = "unpaced" if rate is None else str(rate)
    run_dir = workdir / f"udp-{label}"
    (run_dir / "work").mkdir(parents=True, exist_ok=True)
    out = run_dir / "received.log"
    port = _free_udp_port()
    conf = run_dir / "rsyslog.conf"
    conf.write_text(RSYSLOG_CONF.format(work=run_dir / "work", port=port, out=out))
    with ProcessGroup() as group:
        proc = group.add(spawn("rsyslogd", [rsyslogd, "-n", "-f", str(conf), "-i", str(run_dir / "pid")], run_dir))
        time.sleep(1.0)  # imudp binds at start; there is no connection to wait for
        if not proc.alive():
            raise BenchProcessError(f"rsyslogd exited:\n{proc.output()}")
        settings = Settings.model_validate(
            {
                "data_dir": str(run_dir / "data"),
                "tenants": [
                    {"name": "acme", "base_url": "http://127.0.0.1:9", "client_id": "x", "client_secret": "bench-s-1"}
                ],
                "sinks": [
                    {
                        "name": "udp",
                        "type": "syslog",
                        "format": "json",
                        "host": "127.0.0.1",
                        "port": port,
                        "transport": "udp",
                        "max_message_bytes": 8000,
                        "udp_rate": rate,
                    }
                ],
            }
        )
        seconds, sent = asyncio.run(_send(settings, run_dir, events))
        previous, deadline = -1, time.monotonic() + 30
        while time.monotonic() < deadline:  # until the output stops growing
            time.sleep(SETTLE)
            received = _count_lines(out)
            if received == previous or received >= sent:
                break
            previous = received
        return sent, _count_lines(out), seconds


def run(events_count: int, rates: Sequence[int | None], workdir: Path) -> Table:
    """The loss table for ``rates``."""
    rsyslogd = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None)
    if rsyslogd is None:
        raise BenchProcessError("rsyslogd is not installed (apt-get install rsyslog)")
    events = _events(events_count)
    table = Table(
        "Syslog over UDP into rsyslog on loopback, per udp_rate",
        ["udp_rate (datagrams/s)", "sent", "received", "received / sent", "send s"],
    )
    for rate in rates:
        sent, received, seconds = measure(workdir, rsyslogd, rate, events)
        table.add("unpaced" if rate is None else f"{rate:,}", f"{sent:,}", f"{received:,}", f"{received / sent:.3f}",
                  f"{seconds:.2f}")  # fmt: skip
    table.notes.append(
        f"{events_count:,} events (format json), 500 per deliver() as the collector sends a page; "
        "rsyslog imudp with the kernel's default receive buffer. Ratios are of this run only."
    )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(prog="python -m bench.udp_loss", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rates", default="unpaced,50000,20000,5000,2000")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    rates = [None if r.strip() == "unpaced" else int(r) for r in args.rates.split(",") if r.strip()]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-udp-") as tmp:
        table = run(args.events, rates, args.workdir or Path(tmp))
    print(table.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
