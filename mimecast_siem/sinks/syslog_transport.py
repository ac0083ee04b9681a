"""Byte movers of the syslog sink: one TCP/TLS stream connection, one UDP "connection", and backoff.

Nothing here knows about events or syslog formats; the sink hands over ready frames.

What "delivered" means on a stream connection (see docs/sinks-syslog.md): the frames were written,
``drain()``-ed, every byte left the process (asyncio's buffers, including the TLS layer's, are
empty) and - on Linux - the receiver's TCP stack acknowledged every byte (the socket's send queue,
``SIOCOUTQ``, is empty), and the receiver had not closed or reset the connection meanwhile. Syslog
has no application-level acknowledgement, so bytes the receiver's kernel acknowledged can still be
lost if the receiver process dies before reading them; everything before that point is detected and
reported as a failure, so the router resends the batch (at-least-once, with duplicates).

That remaining gap is narrowed by :class:`ReplayBuffer`: the frames of the last few batches sent on
a connection are kept (bounded by bytes, whole frames) and sent again first on the next connection
when the receiver reset the connection (a receiver that closes a socket with unread data makes its
kernel send a reset, not a FIN: RFC 1122 4.2.2.13, Linux ``tcp_close``) or when any TLS connection
ends, since a TLS close_notify can hide that reset. A clean FIN on plain TCP proves the receiver read
every byte, so nothing is replayed then.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import socket
import ssl
import struct
import sys
import termios
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mimecast_siem.aio import wait_for
from mimecast_siem.backoff import Backoff

log = logging.getLogger("mimecast_siem.sinks")

_READ_CHUNK = 65536


class PeerClosedError(ConnectionError):
    """The receiver closed or reset the connection (it never sends data to a syslog sender).

    Attributes:
        cause: the read error that revealed it (an ``ssl.SSLError`` for a TLS alert), if any.
    """

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


async def open_tcp(
    host: str, port: int, *, ssl_context: ssl.SSLContext | None, server_hostname: str | None, connect_timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP (or TLS) connection made, handshake included, within ``connect_timeout`` seconds.

    Frames go out as soon as they are written (no Nagle delay); keepalive notices a vanished peer on
    an idle connection. Used by the syslog TCP/TLS transport and RELP.
    """
    reader, writer = await wait_for(
        asyncio.open_connection(
            host,
            port,
            ssl=ssl_context,
            server_hostname=server_hostname if ssl_context is not None else None,
            ssl_handshake_timeout=connect_timeout if ssl_context is not None else None,
        ),
        connect_timeout,
    )
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return reader, writer


async def close_tcp(writer: asyncio.StreamWriter, grace: float) -> None:
    """Close a connection politely (TLS close_notify, then FIN) within ``grace`` seconds; never raises."""
    if not writer.is_closing():
        writer.close()
    with contextlib.suppress(Exception):
        await wait_for(writer.wait_closed(), grace)


@dataclass(frozen=True, slots=True)
class ReconnectBackoff:
    """Exponential reconnect delays: ``initial``, doubling up to ``maximum``, with optional jitter.

    Attributes:
        initial: delay after the first failure, seconds.
        maximum: cap, seconds.
        jitter: fraction of the delay randomised away (0 = deterministic).
    """

    initial: float = 0.5
    maximum: float = 30.0
    jitter: float = 0.2

    def delay(self, failures: int, rand: float | None = None) -> float:
        """Seconds to wait before the next attempt after ``failures`` consecutive failures (0 for none)."""
        return Backoff(self.initial, self.maximum, 2.0, self.jitter).delay(failures, rand)


class ReplayBuffer:
    """The most recent frames sent on a connection, whole frames only, at most ``max_bytes`` in total.

    Frames are kept whole because a partial frame would break the receiver's framing (octet counting
    announces a length). A single frame larger than ``max_bytes`` is not kept.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._frames: deque[bytes] = deque()
        self._size = 0

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._size

    def extend(self, frames: list[bytes]) -> None:
        """Remember ``frames`` (in order), dropping the oldest frames beyond ``max_bytes``."""
        if self.max_bytes <= 0:
            return
        for frame in frames:
            self._frames.append(frame)
            self._size += len(frame)
        while self._size > self.max_bytes and self._frames:
            self._size -= len(self._frames.popleft())

    def frames(self) -> list[bytes]:
        """Every frame held, oldest first (the buffer keeps them)."""
        return list(self._frames)

    def take(self) -> list[bytes]:
        """Every frame held, oldest first; the buffer is empty afterwards."""
        frames = list(self._frames)
        self.clear()
        return frames

    def clear(self) -> None:
        """Forget everything."""
        self._frames.clear()
        self._size = 0


#: Where Linux publishes the receive-buffer limits (``tcp_rmem``: min, default, max of autotuning).
PROC_TCP_RMEM = "/proc/sys/net/ipv4/tcp_rmem"
PROC_RMEM_MAX = "/proc/sys/net/core/rmem_max"
#: Replay size when the kernel cannot be asked (not Linux): Linux's stock tcp_rmem max (6 MiB).
FALLBACK_RECEIVE_BUFFER = 6 * 1024 * 1024


def kernel_max_receive_buffer(tcp_rmem: str = PROC_TCP_RMEM, rmem_max: str = PROC_RMEM_MAX) -> int | None:
    """The largest TCP receive buffer this machine's kernel lets a socket have, in bytes.

    A socket's buffer grows by autotuning up to ``tcp_rmem``'s third value, or is set with
    ``SO_RCVBUF`` up to ``rmem_max`` (which the kernel doubles for its bookkeeping): the larger of
    the two is what a receiver that stalls can hold acknowledged but unread. ``None`` when the files
    cannot be read (not Linux).
    """
    try:
        autotune = int(Path(tcp_rmem).read_text().split()[2])
        explicit = 2 * int(Path(rmem_max).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(autotune, explicit)


def replay_needed(connection: StreamConnection, tls: bool) -> bool:
    """Whether frames acknowledged on ``connection`` may have been dropped unread by the receiver.

    False only for a plain TCP connection the receiver closed cleanly (FIN): its kernel would have
    sent a reset had any acknowledged byte still been unread.
    """
    if tls:
        return True
    return connection.closed_error is not None or connection.closed_reason is None


def kernel_unacked_bytes(sock: Any) -> int | None:
    """Bytes in the socket's send queue not yet acknowledged by the peer (Linux ``SIOCOUTQ``).

    Returns None where the kernel cannot tell (other platforms, a closed socket).
    """
    if not sys.platform.startswith("linux") or sock is None:
        return None
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")  # SIOCOUTQ == TIOCOUTQ
    except (OSError, ValueError, AttributeError):
        return None
    return int(struct.unpack("i", raw)[0])


def _user_space_pending(transport: asyncio.BaseTransport) -> int:
    """Bytes still buffered in the process: the transport's, plus the TCP transport under TLS."""
    size = 0
    # Selector transports (stream and datagram) all expose get_write_buffer_size.
    own = getattr(transport, "get_write_buffer_size", None)
    if callable(own):
        size += int(own())
    # asyncio's TLS transport writes into an inner TCP transport with a buffer of its own; there is
    # no public accessor, so look for it and treat its absence as "nothing buffered".
    inner = getattr(getattr(transport, "_ssl_protocol", None), "_transport", None)
    if isinstance(inner, asyncio.WriteTransport):
        size += inner.get_write_buffer_size()
    return size


class StreamConnection:
    """One TCP or TLS connection to a syslog receiver (asyncio streams).

    A background task reads and discards whatever the receiver sends, so an EOF (FIN, TLS
    close_notify) or a reset is noticed as soon as it arrives rather than at the next write.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.closed_reason: str | None = None
        self.closed_error: BaseException | None = None
        self._watcher = asyncio.create_task(self._watch(), name=f"syslog-watch-{peer}")

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None,
        connect_timeout: float,
        settle: float = 0.0,
    ) -> StreamConnection:
        """Connect (and complete the TLS handshake) within ``connect_timeout`` seconds.

        Then wait ``settle`` seconds for the receiver to refuse the session: with TLS 1.3 a server
        checks the client certificate only after the client's handshake has finished, and a
        receiver over its session limit accepts and closes at once. Bytes sent before such a
        refusal would be acknowledged by the receiver's kernel and then dropped.

        Raises:
            PeerClosedError: the receiver closed the connection during ``settle``.
        """
        reader, writer = await open_tcp(
            host, port, ssl_context=ssl_context, server_hostname=server_hostname, connect_timeout=connect_timeout
        )
        connection = cls(reader, writer, f"{host}:{port}")
        if settle > 0:
            try:
                await connection._settle(settle)
            except BaseException:
                connection.abort()
                raise
        return connection

    async def _settle(self, seconds: float) -> None:
        # The watcher ends only when the receiver closes, resets or sends an alert.
        await asyncio.wait({self._watcher}, timeout=seconds)
        if not self.alive():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await wait_for(asyncio.shield(self._watcher), 0.5)
            self.abort()
            raise PeerClosedError(self.closed_reason or "the connection is closed", self.closed_error)

    async def _watch(self) -> None:
        try:
            while True:
                data = await self.reader.read(_READ_CHUNK)
                if not data:
                    self.closed_reason = "the receiver closed the connection"
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any read failure means the connection is gone
            self.closed_error = exc
            self.closed_reason = f"the connection failed: {type(exc).__name__}: {exc}"

    def alive(self) -> bool:
        """True while neither side has closed the connection."""
        return self.closed_reason is None and not self.writer.is_closing()

    async def send(self, data: bytes, *, write_timeout: float, ack_timeout: float) -> None:
        """Write ``data``, drain it, and wait until the receiver's TCP stack acknowledged all of it.

        Raises:
            PeerClosedError: the receiver closed/reset the connection before everything was acknowledged.
            TimeoutError: the bytes did not leave, or were not acknowledged, in time.
            OSError: the socket failed.
        """
        if not self.alive():
            raise PeerClosedError(self.closed_reason or "the connection is closed", self.closed_error)
        self.writer.write(data)
        await wait_for(self.writer.drain(), write_timeout)
        if ack_timeout > 0:
            await wait_for(self._until_acknowledged(), ack_timeout)
        if not self.alive():
            raise PeerClosedError(self.closed_reason or "the connection is closed", self.closed_error)

    async def _until_acknowledged(self) -> None:
        sock = self.writer.get_extra_info("socket")
        pause = 0.0005
        while True:
            if not self.alive():
                raise PeerClosedError(self.closed_reason or "the connection is closed", self.closed_error)
            pending = _user_space_pending(self.writer.transport)
            unacked = kernel_unacked_bytes(sock)
            if pending == 0 and not unacked:
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def close(self, grace: float = 5.0) -> None:
        """Close politely (TLS close_notify, then FIN) within ``grace`` seconds; never raises."""
        self._watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._watcher
        await close_tcp(self.writer, grace)

    def abort(self) -> None:
        """Drop the connection at once (after a failure); never raises."""
        self._watcher.cancel()
        with contextlib.suppress(Exception):
            self.writer.transport.abort()


class _DatagramErrors(asyncio.DatagramProtocol):
    """Collects errors the kernel reports for a connected UDP socket (ICMP port unreachable ...)."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.lost = False

    def error_received(self, exc: Exception) -> None:
        self.error = exc

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if exc is not None:
            self.error = exc


#: A paced sender sleeps only once it is this far ahead of its schedule (timer granularity), so at
#: high rates datagrams leave in small bursts rather than with one sleep each.
PACING_SLACK = 0.002


class DatagramConnection:
    """A connected UDP socket: one datagram per message, no delivery feedback beyond ICMP errors.

    Args:
        transport: the datagram transport.
        protocol: its error collector.
        peer: ``host:port`` for messages.
        rate: datagrams per second at most (``None`` = as fast as the socket takes them). A receiver
            reads datagrams from a bounded socket buffer; a batch sent back to back overflows it and
            the kernel drops the rest silently, so pacing is what keeps UDP loss down.
    """

    def __init__(
        self, transport: asyncio.DatagramTransport, protocol: _DatagramErrors, peer: str, *, rate: float | None = None
    ) -> None:
        self.transport = transport
        self.protocol = protocol
        self.peer = peer
        self.interval = 1.0 / rate if rate else 0.0
        self._next_slot = 0.0

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        connect_timeout: float,
        rate: float | None = None,
        send_buffer: int | None = None,
    ) -> DatagramConnection:
        """Create the socket and resolve the receiver within ``connect_timeout`` seconds.

        ``send_buffer`` sets ``SO_SNDBUF`` (the kernel doubles it and caps it at ``wmem_max``).
        """
        loop = asyncio.get_running_loop()
        transport, protocol = await wait_for(
            loop.create_datagram_endpoint(_DatagramErrors, remote_addr=(host, port)), connect_timeout
        )
        sock = transport.get_extra_info("socket")
        if send_buffer is not None and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        return cls(transport, protocol, f"{host}:{port}", rate=rate)

    def alive(self) -> bool:
        """True until the socket reported an error or was closed."""
        return self.protocol.error is None and not self.protocol.lost and not self.transport.is_closing()

    async def send(self, datagrams: list[bytes], *, write_timeout: float) -> None:
        """Send each datagram; wait until the socket buffer is empty.

        Raises:
            OSError: the kernel reported an error for this socket (e.g. ConnectionRefusedError).
            TimeoutError: the datagrams did not leave the process in time.
        """
        self._raise_error()
        if self.interval:
            await self._send_paced(datagrams)
        else:
            for datagram in datagrams:
                self.transport.sendto(datagram)
                self._raise_error()
        await wait_for(self._until_flushed(), write_timeout)
        self._raise_error()

    async def _send_paced(self, datagrams: list[bytes]) -> None:
        """One datagram per ``interval`` on a schedule kept across batches (no burst between them)."""
        loop = asyncio.get_running_loop()
        slot = max(self._next_slot, loop.time())
        for datagram in datagrams:
            ahead = slot - loop.time()
            if ahead > PACING_SLACK:
                await asyncio.sleep(ahead)
            self.transport.sendto(datagram)
            self._raise_error()
            slot += self.interval
        self._next_slot = slot

    async def _until_flushed(self) -> None:
        pause = 0.0005
        while _user_space_pending(self.transport) > 0:
            self._raise_error()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)
        # Let a pending ICMP error reach error_received before the caller looks: one loop turn for
        # the selector to report the socket, a second for its callback (which the loop runs after
        # this task's own step of that turn). With a single yield the error surfaced only on the
        # next send, which reconnected instead (a closed UDP port was never reported).
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    def _raise_error(self) -> None:
        error = self.protocol.error
        if error is not None:
            raise error if isinstance(error, OSError) else OSError(str(error))
        if self.protocol.lost:
            raise OSError("the UDP socket was closed")

    async def close(self, grace: float = 5.0) -> None:
        """Close the socket; never raises."""
        del grace
        with contextlib.suppress(Exception):
            self.transport.close()

    def abort(self) -> None:
        """Close at once; never raises."""
        with contextlib.suppress(Exception):
            self.transport.abort()
