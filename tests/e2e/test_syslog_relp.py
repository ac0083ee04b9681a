"""End to end: the syslog sink over RELP to rsyslog's imrelp - delivered means acknowledged by rsyslog.

The receiver is killed (SIGKILL) mid-flood and stalled (SIGSTOP, then killed while stopped): every
event whose batch the sink reported as sent must be in rsyslog's output, and a stalled receiver
must not be reported as having taken anything. The router contract is emulated by
``send_until_accepted`` (resend the batch after every transient failure).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.events import Event
from mimecast_siem.sinks.base import SinkContext, SinkTransientError
from mimecast_siem.sinks.syslog import SyslogSink
from tests.fixtures.receivers import SyslogReceiver, send_until_accepted
from tests.sinks.builders import batch

pytestmark = pytest.mark.e2e


def relp_sink(tmp_path: Path, receiver: SyslogReceiver, **options: Any) -> SyslogSink:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": receiver.ports["relp"],
        "transport": "relp",
        "hostname": "fwd1",
        "connect_timeout": "2s",
        "ack_timeout": "2s",
        "reconnect_backoff_initial": "50ms",
        "reconnect_backoff_max": "300ms",
    }
    base.update(options)
    settings = SinkSettings(name="siem", type="syslog", format="cef", **base)
    return SyslogSink(settings, SinkContext(data_dir=tmp_path, instance_id="t", version="0.1.0"))


def arrived(receiver: SyslogReceiver) -> Counter[str]:
    return Counter(r.param("event_id") or "?" for r in receiver.records() if r.raw.get("input") == "relp")


async def wait_for_ids(receiver: SyslogReceiver, ids: set[str], timeout: float = 20.0) -> Counter[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = arrived(receiver)
    while not ids <= set(seen) and loop.time() < deadline:
        await asyncio.sleep(0.1)
        seen = arrived(receiver)
    return seen


async def test_every_event_arrives_and_is_counted_only_when_acknowledged(
    tmp_path: Path, rsyslog_receiver: SyslogReceiver
) -> None:
    sink = relp_sink(tmp_path, rsyslog_receiver, relp_window=16)
    await sink.start()
    events = batch(300)
    result = await sink.send(events)
    assert result.accepted == 300
    # Acknowledged means written: the direct-queue ruleset writes before imrelp answers.
    assert set(arrived(rsyslog_receiver)) == {e.event_id for e in events}
    await sink.close()


async def test_receiver_sigkill_during_a_flood_loses_nothing(tmp_path: Path, rsyslog_receiver: SyslogReceiver) -> None:
    sink = relp_sink(tmp_path, rsyslog_receiver)
    acknowledged: list[Event] = []
    stop = asyncio.Event()
    failures = 0

    async def stream() -> None:
        nonlocal failures
        n = 0
        while not stop.is_set():
            events = batch(300, start=n * 300)
            failures += await send_until_accepted(sink, events, timeout=60)
            acknowledged.extend(events)
            n += 1

    sender = asyncio.create_task(stream())
    try:
        for _ in range(2):
            await asyncio.sleep(0.8)
            await asyncio.to_thread(rsyslog_receiver.stop, signal.SIGKILL)
            await asyncio.sleep(0.3)
            await asyncio.to_thread(rsyslog_receiver.start)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.wait_for(sender, 90)
        await sink.close()
    expected = {e.event_id for e in acknowledged}
    seen = await wait_for_ids(rsyslog_receiver, expected)
    assert failures >= 1  # the kills were noticed, and the batches in flight sent again
    assert len(expected) > 600
    assert expected - set(seen) == set()  # 0 lost


async def test_a_stalled_receiver_is_not_counted_and_loses_nothing_when_killed(
    tmp_path: Path, rsyslog_receiver: SyslogReceiver
) -> None:
    sink = relp_sink(tmp_path, rsyslog_receiver, ack_timeout="1s")
    first = batch(100)
    await send_until_accepted(sink, first)
    process = rsyslog_receiver.process
    assert process is not None
    os.kill(process.pid, signal.SIGSTOP)
    stalled = batch(2000, start=100)
    try:
        with pytest.raises(SinkTransientError, match="timed out"):
            await sink.send(stalled)  # nothing acknowledged: the batch is not reported as delivered
    finally:
        # Killed while stopped: whatever sat unread in its socket is gone with it.
        await asyncio.to_thread(rsyslog_receiver.stop, signal.SIGKILL)
    await asyncio.to_thread(rsyslog_receiver.start)
    await send_until_accepted(sink, stalled, timeout=60)
    await sink.close()
    expected = {e.event_id for e in [*first, *stalled]}
    seen = await wait_for_ids(rsyslog_receiver, expected)
    assert expected - set(seen) == set()
