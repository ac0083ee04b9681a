"""The syslog sink's transport against in-process loopback servers (real sockets, no mocks).

Real rsyslog and syslog-ng are exercised in tests/e2e/test_syslog_*.py; these tests pin the
connection handling: reconnect after the receiver closed, backoff while it is down, failure while
sending, health checks, UDP datagrams and ICMP errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.observability.metrics import Metrics
from mimecast_siem.sinks.base import SinkContext, SinkTransientError
from mimecast_siem.sinks.syslog import SyslogSink
from mimecast_siem.sinks.syslog_transport import StreamConnection
from tests.sinks.builders import batch
from tests.sinks.conftest import metric_value
from tests.sinks.test_syslog_header import parse_5424

WAIT = 10.0


class FramedServer:
    """A loopback TCP server that parses octet-counted frames and can close or reset its clients."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.reset_after_bytes: int | None = None
        self.reading = asyncio.Event()
        self.reading.set()

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in self.writers:
                writer.close()
            await self.server.wait_closed()
            self.server = None

    async def close_clients(self) -> None:
        for writer in self.writers:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        self.writers.clear()

    async def reset_clients(self) -> None:
        """Drop every client with a TCP reset, discarding what was received but not yet parsed."""
        for writer in self.writers:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self.writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        received = 0
        try:
            while True:
                await self.reading.wait()
                if writer.transport.is_closing():  # dropped: what sits in the buffer is lost
                    return
                head = await reader.readuntil(b" ")
                length = int(head[:-1])
                self.frames.append(await reader.readexactly(length))
                received += len(head) + length
                if self.reset_after_bytes is not None and received >= self.reset_after_bytes:
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    async def wait_frames(self, count: int) -> list[bytes]:
        async with asyncio.timeout(WAIT):
            while len(self.frames) < count:
                await asyncio.sleep(0.01)
        return self.frames


@pytest.fixture
async def server() -> AsyncIterator[FramedServer]:
    srv = FramedServer()
    await srv.start()
    yield srv
    await srv.stop()


def make_sink(tmp_path: Path, port: int, **options: Any) -> SyslogSink:
    defaults: dict[str, Any] = {"host": "127.0.0.1", "port": port, "hostname": "fwd1", "connect_timeout": "2s"}
    defaults.update(options)
    settings = SinkSettings(name="siem", type="syslog", format="cef", **defaults)
    return SyslogSink(settings, SinkContext(data_dir=tmp_path, instance_id="t", version="0.1.0"))


async def test_batch_arrives_in_order_with_every_event_id(tmp_path: Path, server: FramedServer) -> None:
    sink = make_sink(tmp_path, server.port)
    events = batch(50)
    await sink.start()
    result = await sink.send(events)
    await sink.close()
    frames = await server.wait_frames(50)
    assert result.accepted == 50
    assert result.bytes_sent == sum(len(str(len(f)).encode()) + 1 + len(f) for f in frames)
    ids = [dict(parse_5424(f).sd[0][1])["event_id"] for f in frames]
    assert ids == [e.event_id for e in events]


async def test_reconnects_when_the_receiver_closed_between_batches(
    tmp_path: Path, server: FramedServer, fresh_metrics: Metrics
) -> None:
    sink = make_sink(tmp_path, server.port)
    await sink.send(batch(3))
    await server.wait_frames(3)
    await server.close_clients()
    await asyncio.sleep(0.1)  # the FIN reaches the sink's watcher
    result = await sink.send(batch(3, start=3))  # no error: the closed connection is noticed before writing
    await server.wait_frames(6)
    await sink.close()
    assert result.accepted == 3
    assert server.connections == 2
    # A clean FIN on plain TCP means the receiver read every byte: nothing is sent twice.
    await asyncio.sleep(0.1)
    assert len(server.frames) == 6
    assert metric_value(fresh_metrics, "mimecast_siem_sink_messages_replayed_total", {"sink": "siem"}) == 0


def frame_ids(frames: list[bytes]) -> list[str]:
    return [dict(parse_5424(f).sd[0][1])["event_id"] for f in frames]


async def test_acknowledged_messages_are_sent_again_after_the_receiver_resets(
    tmp_path: Path, server: FramedServer, fresh_metrics: Metrics
) -> None:
    """A receiver that dies with acknowledged bytes unread resets the connection; they are replayed."""
    server.reading.clear()  # the receiver stops parsing: what it is sent stays unread
    sink = make_sink(tmp_path, server.port, connect_settle="0s")
    first, second = batch(5), batch(3, start=5)
    assert (await sink.send(first)).accepted == 5  # acknowledged by the receiver's kernel
    await server.reset_clients()
    await asyncio.sleep(0.1)  # the reset reaches the sink's watcher
    server.reading.set()
    await sink.send(second)
    await sink.close()
    frames = await server.wait_frames(8)
    assert frame_ids(frames) == [e.event_id for e in [*first, *second]]
    assert server.connections == 2
    assert metric_value(fresh_metrics, "mimecast_siem_sink_messages_replayed_total", {"sink": "siem"}) == 5


async def test_replay_bytes_zero_turns_the_replay_off(tmp_path: Path, server: FramedServer) -> None:
    """The opt-out, and the control of the test above: without the replay the unread batch is lost."""
    server.reading.clear()
    sink = make_sink(tmp_path, server.port, connect_settle="0s", replay_bytes=0)
    await sink.send(batch(5))
    await server.reset_clients()
    await asyncio.sleep(0.1)
    server.reading.set()
    second = batch(3, start=5)
    await sink.send(second)
    await sink.close()
    frames = await server.wait_frames(3)
    await asyncio.sleep(0.1)
    assert frame_ids(frames) == [e.event_id for e in second]


async def test_receiver_down_is_transient_and_reconnects_back_off(tmp_path: Path, fresh_metrics: Metrics) -> None:
    srv = FramedServer()
    await srv.start()
    port = srv.port
    await srv.stop()
    sink = make_sink(tmp_path, port, reconnect_backoff_initial="300ms")
    with pytest.raises(SinkTransientError, match=rf"cannot connect to 127.0.0.1:{port}"):
        await sink.send(batch(1))
    # Within the backoff window the sink does not even try.
    with pytest.raises(SinkTransientError, match="next connection attempt in"):
        await sink.send(batch(1))
    assert (
        metric_value(fresh_metrics, "mimecast_siem_sink_connections_total", {"sink": "siem", "result": "failed"}) == 1
    )
    await srv.start(port)
    try:
        async with asyncio.timeout(WAIT):
            while True:
                try:
                    result = await sink.send(batch(2))
                    break
                except SinkTransientError:
                    await asyncio.sleep(0.05)
        assert result.accepted == 2
        await srv.wait_frames(2)
    finally:
        await sink.close()
        await srv.stop()


async def test_a_reset_while_sending_fails_the_batch(
    tmp_path: Path, server: FramedServer, fresh_metrics: Metrics
) -> None:
    server.reset_after_bytes = 64 * 1024
    sink = make_sink(tmp_path, server.port, write_timeout="5s", ack_timeout="5s")
    events = batch(2000)  # several MB: more than the socket buffers hold
    for e in events:
        e.raw["subject"] = "x" * 900
    with pytest.raises(SinkTransientError, match="the batch was not confirmed"):
        await sink.send(events)
    assert metric_value(fresh_metrics, "mimecast_siem_sink_connections_total", {"sink": "siem", "result": "lost"}) == 1
    server.reset_after_bytes = None
    result = await sink.send(batch(1))  # the next batch reconnects at once (no backoff after a loss)
    await sink.close()
    assert result.accepted == 1
    assert server.connections == 2


async def test_a_cancelled_send_never_leaves_a_half_frame_on_the_connection(
    tmp_path: Path, server: FramedServer
) -> None:
    server.reading.clear()  # the receiver stalls: the big batch cannot leave the process
    sink = make_sink(tmp_path, server.port, connect_settle="0s")
    events = batch(3000)
    for e in events:
        e.raw["subject"] = "x" * 900
    task = asyncio.create_task(sink.send(events))
    async with asyncio.timeout(WAIT):  # until the batch is being written and stuck in the buffers
        while not (
            isinstance(sink._connection, StreamConnection)
            and sink._connection.writer.transport.get_write_buffer_size() > 0
        ):
            await asyncio.sleep(0.01)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    server.reading.set()
    small = batch(2, start=5000)
    await sink.send(small)
    await sink.close()
    assert server.connections == 2  # a connection in an unknown state is never reused
    wanted = {e.event_id for e in small}
    async with asyncio.timeout(WAIT):
        while not wanted <= {dict(parse_5424(f).sd[0][1])["event_id"] for f in server.frames}:
            await asyncio.sleep(0.01)


async def test_healthcheck_reports_reachability(tmp_path: Path) -> None:
    srv = FramedServer()
    await srv.start()
    sink = make_sink(tmp_path, srv.port)
    health = await sink.healthcheck()
    assert health.ok
    assert "connected to 127.0.0.1" in health.detail
    await sink.close()
    await srv.stop()
    health = await sink.healthcheck()
    assert not health.ok
    assert f"127.0.0.1:{srv.port}" in health.detail
    await sink.close()
    await sink.close()  # idempotent


async def test_udp_sends_one_datagram_per_message(tmp_path: Path) -> None:
    received: list[bytes] = []

    class Collector(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            received.append(data)

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Collector, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    sink = make_sink(tmp_path, port, transport="udp")
    try:
        events = batch(20)
        result = await sink.send(events)
        async with asyncio.timeout(WAIT):
            while len(received) < 20:
                await asyncio.sleep(0.01)
    finally:
        await sink.close()
        transport.close()
    assert result.accepted == 20
    assert all(d.startswith(b"<") for d in received)
    assert sorted(dict(parse_5424(d).sd[0][1])["event_id"] for d in received) == sorted(e.event_id for e in events)


async def test_udp_to_a_closed_port_surfaces_the_icmp_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = make_sink(tmp_path, port, transport="udp")

    async def send_until_refused() -> None:
        async with asyncio.timeout(WAIT):
            while True:  # the ICMP error arrives after the first datagram has gone
                await sink.send(batch(1))
                await asyncio.sleep(0.05)

    try:
        with pytest.raises(SinkTransientError, match="ConnectionRefusedError"):
            await send_until_refused()
    finally:
        await sink.close()
