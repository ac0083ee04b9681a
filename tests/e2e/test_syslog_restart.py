"""End to end: the receiver restarts mid-stream; the sink reconnects and nothing is silently lost.

The router contract is emulated by ``send_until_accepted`` (resend the same batch after every
transient failure). Every event id must arrive at least once; duplicates are allowed (they carry
the same event id, so a SIEM can drop them).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.events import Event
from mimecast_siem.sinks.base import SinkContext
from mimecast_siem.sinks.syslog import SyslogSink
from tests.fixtures.receivers import SyslogPki, SyslogReceiver, send_until_accepted
from tests.sinks.builders import batch

pytestmark = pytest.mark.e2e


def make_sink(tmp_path: Path, port: int, **options: Any) -> SyslogSink:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "hostname": "fwd1",
        "connect_timeout": "2s",
        "reconnect_backoff_initial": "50ms",
        "reconnect_backoff_max": "300ms",
        "connect_settle": "100ms",
    }
    base.update(options)
    settings = SinkSettings(name="siem", type="syslog", format="cef", **base)
    return SyslogSink(settings, SinkContext(data_dir=tmp_path, instance_id="t", version="0.1.0"))


def sink_for(tmp_path: Path, receiver: SyslogReceiver, pki: SyslogPki, transport: str) -> SyslogSink:
    """A sink to ``receiver``'s plain TCP listener, or its TLS one (server certificate verified)."""
    if transport == "tcp":
        return make_sink(tmp_path, receiver.ports["tcp"])
    port = receiver.ports["gtls" if receiver.kind == "rsyslog" else "tls"]
    tls = {"ca_file": str(pki.ca_cert), "server_name": "localhost"}
    return make_sink(tmp_path, port, transport="tls", tls=tls)


def arrived(receiver: SyslogReceiver) -> Counter[str]:
    return Counter(r.param("event_id") or "?" for r in receiver.records())


async def wait_for_ids(receiver: SyslogReceiver, ids: set[str], timeout: float = 20.0) -> Counter[str]:
    """What arrived, once every id in ``ids`` did or ``timeout`` passed (the caller asserts)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = arrived(receiver)
    while not ids <= set(seen) and loop.time() < deadline:
        await asyncio.sleep(0.1)
        seen = arrived(receiver)
    return seen


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_restart_between_batches_reconnects_and_loses_nothing(
    tmp_path: Path, syslog_receiver: SyslogReceiver, syslog_pki: SyslogPki, transport: str
) -> None:
    sink = sink_for(tmp_path, syslog_receiver, syslog_pki, transport)
    batches = [batch(20, start=n * 20) for n in range(8)]
    for n, events in enumerate(batches):
        if n in (3, 6):
            await asyncio.to_thread(syslog_receiver.restart)
        await send_until_accepted(sink, events)
    await sink.close()
    expected = {e.event_id for events in batches for e in events}
    seen = await wait_for_ids(syslog_receiver, expected)
    assert syslog_receiver.starts == 3
    assert set(seen) - {"?"} == expected


@pytest.mark.parametrize(
    ("transport", "size", "pause"),
    [("tcp", 10, 0.005), ("tcp", 300, 0.0), ("tls", 300, 0.0)],
    ids=["tcp-trickle", "tcp-flood", "tls-flood"],
)
async def test_restart_during_a_continuous_stream_loses_nothing(
    tmp_path: Path,
    syslog_receiver: SyslogReceiver,
    syslog_pki: SyslogPki,
    transport: str,
    size: int,
    pause: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A flood keeps the receiver's socket buffer full, so a restart finds acknowledged bytes unread.

    Without the replay of the last acknowledged messages (``replay_bytes``) the flood variants lose
    hundreds of events per restart against both receivers (measured: rsyslog 381-1,707, syslog-ng 70).
    """
    sink = sink_for(tmp_path, syslog_receiver, syslog_pki, transport)
    sent: list[Event] = []
    stop = asyncio.Event()
    failures = 0

    async def stream() -> None:
        nonlocal failures
        n = 0
        while not stop.is_set():
            events = batch(size, start=n * size)
            failures += await send_until_accepted(sink, events)
            sent.extend(events)
            n += 1
            await asyncio.sleep(pause)

    caplog.set_level(logging.WARNING, logger="mimecast_siem.sinks")
    sender = asyncio.create_task(stream())
    try:
        for _ in range(2):
            await asyncio.sleep(0.7)
            await asyncio.to_thread(syslog_receiver.restart)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.wait_for(sender, 60)
        await sink.close()
    expected = {e.event_id for e in sent}
    seen = await wait_for_ids(syslog_receiver, expected, timeout=60.0)
    missing = expected - set(seen)
    assert not missing, f"{len(missing)} of {len(expected)} events lost (sender saw {failures} failures)"
    # The restarts were noticed, not sailed through: a send failed, or the sink found the connection
    # gone before its next send and replayed what the receiver may have dropped (no send fails then).
    assert failures >= 1 or "again to" in caplog.text
