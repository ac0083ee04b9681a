"""Syslog over UDP: paced datagrams, counted as sent (never delivered) in metrics and in the router's report."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mimecast_siem.observability.metrics import Metrics
from mimecast_siem.sinks import DeadLetters, Router, SinkContext, build_sinks
from mimecast_siem.sinks.syslog import DEFAULT_UDP_RATE, SyslogSinkOptions
from tests.sinks.builders import batch, settings
from tests.sinks.conftest import metric_value


@pytest.fixture
def udp_port() -> Iterator[tuple[socket.socket, int]]:
    """A real UDP socket on loopback with a large receive buffer (what arrives is counted by the test)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock, int(sock.getsockname()[1])
    sock.close()


def _drain(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            sock.recv(65536)
        except BlockingIOError:
            return count
        count += 1


def _router(tmp_path: Path, port: int, **options: object) -> Router:
    sink = {"name": "udp", "type": "syslog", "host": "127.0.0.1", "port": port, "transport": "udp", **options}
    s = settings([sink], data_dir=str(tmp_path))
    return Router(s, build_sinks(s, SinkContext(tmp_path, "t", "0.1.0")), DeadLetters(tmp_path / "dead.ndjson"))


async def test_udp_events_are_counted_as_sent_not_delivered(
    tmp_path: Path, udp_port: tuple[socket.socket, int], fresh_metrics: Metrics
) -> None:
    sock, port = udp_port
    router = _router(tmp_path, port, udp_rate=None)
    await router.start()
    try:
        report = await router.deliver("acme", "ttp-url", batch(50))
    finally:
        await router.close()
    outcome = report.sinks["udp"]
    assert (outcome.delivered, outcome.sent) == (0, 50)
    labels = {"tenant": "acme", "stream": "ttp-url", "sink": "udp"}
    assert metric_value(fresh_metrics, "mimecast_siem_events_sent_total", labels) == 50
    assert metric_value(fresh_metrics, "mimecast_siem_events_delivered_total", labels) == 0
    await asyncio.sleep(0.1)
    assert _drain(sock) == 50


async def test_datagrams_are_paced_across_batches(tmp_path: Path, udp_port: tuple[socket.socket, int]) -> None:
    sock, port = udp_port
    router = _router(tmp_path, port, udp_rate=1000)
    await router.start()
    try:
        started = time.monotonic()
        for n in range(3):  # three batches of 100 back to back: the schedule carries over, no burst
            await router.deliver("acme", "ttp-url", batch(100, start=n * 100))
        elapsed = time.monotonic() - started
    finally:
        await router.close()
    assert elapsed >= 0.29, elapsed  # 300 datagrams at 1,000/s
    await asyncio.sleep(0.1)
    assert _drain(sock) == 300


def test_pacing_is_on_by_default_and_udp_only() -> None:
    options = SyslogSinkOptions.model_validate({"host": "h", "transport": "udp"})
    assert options.udp_rate == DEFAULT_UDP_RATE
    with pytest.raises(ValueError, match="udp_rate applies to transport udp only"):
        SyslogSinkOptions.model_validate({"host": "h", "transport": "tcp", "udp_rate": 100})
    with pytest.raises(ValueError, match="udp_send_buffer applies to transport udp only"):
        SyslogSinkOptions.model_validate({"host": "h", "udp_send_buffer": 65536})
