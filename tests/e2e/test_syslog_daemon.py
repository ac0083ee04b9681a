"""End to end: the real daemon process → two syslog sinks (CEF to rsyslog over TCP, LEEF to syslog-ng
over verified TLS), with rsyslog restarted while the daemon runs.

Every event the simulator served up to the committed checkpoints must reach both receivers at least
once (syslog over TCP is at-least-once: a restart may duplicate a batch, never lose one), each
record carrying its event id in the structured data, and nothing the simulator did not serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.simulator import LateArrivals
from tests.collector.helpers import expected_ids
from tests.fixtures.receivers import SyslogPki, SyslogReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
STREAMS = ("ttp-url", "ttp-attachment")
OVERLAP = timedelta(seconds=20)


def write_config(path: Path, tmp: Path, sim: Any, start: datetime, rsyslog_port: int, tls_port: int, ca: Path) -> None:
    stream_settings = {
        "poll_interval": "1s",
        "lag": "2s",
        "overlap": "20s",
        "max_window": "2m",
        "start_from": start.isoformat(),
    }
    config = {
        "data_dir": str(tmp / "data"),
        "tenants": [
            {
                "name": "acme",
                "base_url": sim.url,
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "streams": list(STREAMS),
            }
        ],
        "streams": dict.fromkeys(STREAMS, stream_settings),
        "sinks": [
            {
                "name": "arcsight",
                "type": "syslog",
                "format": "cef",
                "host": "127.0.0.1",
                "port": rsyslog_port,
                "batch_max_events": 40,
                "connect_settle": "100ms",
                "reconnect_backoff_max": "500ms",
            },
            {
                "name": "qradar",
                "type": "syslog",
                "format": "leef",
                "format_options": {"delimiter": "tab"},
                "host": "127.0.0.1",
                "port": tls_port,
                "transport": "tls",
                "tls": {"ca_file": str(ca), "server_name": "localhost"},
            },
        ],
        "server": {"enabled": False},
        "daemon": {"shutdown_grace": "10s", "stream_backoff_max": "1s"},
        "logging": {"level": "INFO", "format": "json"},
    }
    path.write_text(yaml.safe_dump(config))


async def checkpoints_reached(state_url: str, target: datetime) -> bool:
    store = await StateStore.open(state_url)
    try:
        checkpoints = [await store.get_checkpoint("acme", s) for s in STREAMS]
    finally:
        await store.close()
    return all(cp is not None and cp >= target for cp in checkpoints)


def received_ids(receiver: SyslogReceiver) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {s: Counter() for s in STREAMS}
    for record in receiver.records():
        stream, event_id = record.param("stream"), record.param("event_id")
        assert stream in out, record
        assert event_id is not None, record
        out[stream][event_id] += 1
    return out


async def test_daemon_to_rsyslog_and_syslog_ng_survives_a_receiver_restart(
    simulator_factory: Any,
    tmp_path: Path,
    syslog_pki: SyslogPki,
    rsyslog_receiver: SyslogReceiver,
    syslog_ng_receiver: SyslogReceiver,
) -> None:
    sim = await simulator_factory(rates={"ttp-url": 8.0, "ttp-attachment": 3.0}, late=LateArrivals(fraction=0.0))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    config = tmp_path / "config.yaml"
    log = tmp_path / "daemon.log"
    state_url = f"sqlite:///{tmp_path / 'data' / 'state.db'}"
    write_config(
        config, tmp_path, sim, start, rsyslog_receiver.ports["tcp"], syslog_ng_receiver.ports["tls"], syslog_pki.ca_cert
    )
    with open(log, "ab") as out:
        daemon = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mimecast_siem", "run", "--config", str(config), cwd=ROOT, stdout=out, stderr=out
        )
    try:
        async with asyncio.timeout(60):  # the backlog starts flowing
            while not rsyslog_receiver.records():
                assert daemon.returncode is None, log.read_text()[-3000:]
                await asyncio.sleep(0.2)
        await asyncio.to_thread(rsyslog_receiver.restart)
        target = datetime.now(UTC) + timedelta(seconds=5)
        async with asyncio.timeout(120):
            while not await checkpoints_reached(state_url, target):
                assert daemon.returncode is None, log.read_text()[-3000:]
                await asyncio.sleep(0.5)
        daemon.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(daemon.wait(), 30) == 0, log.read_text()[-3000:]
    finally:
        if daemon.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(daemon.pid, signal.SIGKILL)
            await daemon.wait()

    store = await StateStore.open(state_url)
    checkpoints = {s: await store.get_checkpoint("acme", s) for s in STREAMS}
    await store.close()
    assert rsyslog_receiver.starts == 2
    for receiver in (rsyslog_receiver, syslog_ng_receiver):
        await asyncio.to_thread(receiver.wait_for, 1)
        received = received_ids(receiver)
        for stream in STREAMS:
            checkpoint = checkpoints[stream]
            assert checkpoint is not None
            expected = expected_ids(stream, sim.ground_truth(stream, start, checkpoint - OVERLAP))
            assert expected, f"the simulator served nothing for {stream}"
            missing = expected - set(received[stream])
            assert not missing, f"{receiver.kind} {stream}: {len(missing)} of {len(expected)} events never arrived"
            served = expected_ids(stream, sim.ground_truth(stream, start, checkpoint, include_future_visible=True))
            assert set(received[stream]) <= served
    leef = [r for r in syslog_ng_receiver.records() if r.msg.startswith("LEEF:2.0|Mimecast|")]
    assert leef, "syslog-ng got no LEEF"
    assert all("|x09|" in r.msg for r in leef)
    assert all(r.msg.startswith("\ufeffCEF:0|Mimecast|") for r in rsyslog_receiver.records())
