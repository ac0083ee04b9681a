"""A RELP client (rsyslog's Reliable Event Logging Protocol) for the syslog sink's ``transport: relp``.

RELP puts an application-level acknowledgement on top of TCP: every message travels as a numbered
command and the receiver answers each number with a response. A message counts as delivered only
when the receiver answered ``200`` for it - unlike plain TCP, where the receiver's *kernel*
acknowledging the bytes says nothing about the receiver process having read them.

Wire format (one frame; ``SP`` a space, ``LF`` a newline)::

    TXNR SP COMMAND SP DATALEN [SP DATA] LF

* ``TXNR`` 1..999,999,999, incremented per command and wrapping to 1; ``0`` is reserved for
  commands the server sends on its own (``serverclose``).
* ``DATALEN`` the byte count of ``DATA``; with ``0`` the space and the data are left out.
* The session opens with ``open`` offering ``relp_version=0``, ``relp_software=...`` and
  ``commands=syslog`` (one offer a line); the server answers with its own offers, which must include
  ``commands=syslog``.
* Each message is a ``syslog`` command whose data is the syslog message itself (no framing).
* Responses are ``rsp`` frames with the command's ``TXNR``, whose data starts with a three-digit
  status: ``200`` accepted, anything else refused, with a human-readable reason after it.
* ``close`` ends the session politely (the server answers, then closes); ``serverclose`` is the
  server ending it (every unanswered command must be sent again on a new session).

Several commands may be outstanding at once (a window, like librelp's, default 128), so the
round trip is paid once per window, not per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass

from mimecast_siem.aio import wait_for
from mimecast_siem.sinks.syslog_transport import close_tcp, open_tcp

log = logging.getLogger("mimecast_siem.sinks")

MAX_TXNR = 999_999_999
#: Longest DATALEN a receiver may announce (rsyslog's responses are tiny; this bounds a garbage header).
MAX_RESPONSE_DATA = 128 * 1024
_MAX_TOKEN = 32


class RelpError(ConnectionError):
    """The RELP session failed: the receiver refused a command, broke the protocol or went away."""


class RelpRefused(RelpError):
    """The receiver answered a command with a status other than 200.

    Attributes:
        code: the status code.
        reason: the receiver's human-readable text.
    """

    def __init__(self, code: int, reason: str, command: str) -> None:
        super().__init__(f"the receiver refused the {command} command: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Response:
    """One ``rsp`` frame's data: status code, reason and the offers that follow (``open`` only)."""

    code: int
    reason: str
    offers: dict[str, str]


def encode_frame(txnr: int, command: str, data: bytes = b"") -> bytes:
    """One RELP frame (``DATALEN`` 0 leaves out the space and the data)."""
    head = f"{txnr} {command} {len(data)}".encode("ascii")
    return head + (b" " + data if data else b"") + b"\n"


def parse_response(data: bytes) -> Response:
    """Split an ``rsp`` frame's data into status, reason and ``key=value`` offers.

    Raises:
        RelpError: the data does not start with a three-digit status.
    """
    first, _, rest = data.partition(b"\n")
    text = first.decode("utf-8", errors="replace")
    status, _, reason = text.partition(" ")
    if len(status) != 3 or not status.isdigit():
        raise RelpError(f"malformed RELP response {text[:80]!r}")
    offers: dict[str, str] = {}
    for line in rest.decode("utf-8", errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if key:
            offers[key.strip()] = value.strip() if sep else ""
    return Response(int(status), reason.strip(), offers)


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, str, bytes]:
    """Read one frame: ``(txnr, command, data)``.

    Raises:
        asyncio.IncompleteReadError: the connection ended (possibly mid-frame).
        RelpError: the bytes are not a RELP frame.
    """
    txnr_text = await _read_token(reader, b" ")
    command = (await _read_token(reader, b" ")).decode("ascii", errors="replace")
    digits = b""
    while True:
        ch = await reader.readexactly(1)
        if ch.isdigit() and len(digits) < 9:
            digits += ch
            continue
        if ch not in (b" ", b"\n") or not digits:
            raise RelpError(f"malformed RELP frame header after {txnr_text!r} {command!r}")
        break
    length = int(digits)
    if length > MAX_RESPONSE_DATA:
        raise RelpError(f"RELP frame of {length} bytes announced; refusing to read it")
    if ch == b"\n":
        if length:
            raise RelpError("RELP frame announces data but has none")
        return _txnr(txnr_text), command, b""
    data = await reader.readexactly(length)
    if await reader.readexactly(1) != b"\n":
        raise RelpError("RELP frame does not end with its trailer (LF)")
    return _txnr(txnr_text), command, data


async def _read_token(reader: asyncio.StreamReader, end: bytes) -> bytes:
    token = b""
    while True:
        ch = await reader.readexactly(1)
        if ch == end:
            if not token:
                raise RelpError("malformed RELP frame: empty field")
            return token
        if len(token) >= _MAX_TOKEN or ch in (b"\n", b" "):
            raise RelpError(f"malformed RELP frame near {token[:_MAX_TOKEN]!r}")
        token += ch


def _txnr(text: bytes) -> int:
    if not text.isdigit():
        raise RelpError(f"malformed RELP transaction number {text[:16]!r}")
    return int(text)


class RelpConnection:
    """One RELP session over TCP (or TLS) to a receiver such as rsyslog's ``imrelp``.

    A background task reads the responses and settles the waiting commands; the connection counts
    as dead once the receiver closes it, sends ``serverclose`` or breaks the protocol, and every
    command still waiting fails then (the caller sends them again on a new session).

    Args:
        reader: the stream reader.
        writer: the stream writer.
        peer: ``host:port`` for messages.
        window: most commands outstanding at once.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str, *, window: int) -> None:
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.window = max(1, window)
        self.closed_reason: str | None = None
        self._next_txnr = 1
        self._pending: dict[int, tuple[str, asyncio.Future[Response]]] = {}
        self._room = asyncio.Condition()
        self._reader_task: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        connect_timeout: float,
        software: str,
        window: int = 128,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> RelpConnection:
        """Connect and open the RELP session (``open`` answered with 200 and ``commands=syslog``).

        Raises:
            RelpError: the receiver refused the session or does not speak RELP.
            OSError, TimeoutError: the connection could not be made in time.
        """
        reader, writer = await open_tcp(
            host, port, ssl_context=ssl_context, server_hostname=server_hostname, connect_timeout=connect_timeout
        )
        connection = cls(reader, writer, f"{host}:{port}", window=window)
        connection._reader_task = asyncio.create_task(connection._read_responses(), name=f"relp-read-{host}:{port}")
        try:
            offers = f"relp_version=0\nrelp_software={software}\ncommands=syslog".encode()
            future = await connection._submit("open", offers)
            response = await wait_for(future, connect_timeout)
        except BaseException:
            connection.abort()
            raise
        commands = {c.strip() for c in response.offers.get("commands", "").split(",")}
        if "syslog" not in commands:
            connection.abort()
            raise RelpError(f"the receiver at {host}:{port} does not accept the RELP syslog command")
        return connection

    def alive(self) -> bool:
        """True until the session ended (either side) or failed."""
        return self.closed_reason is None and not self.writer.is_closing()

    @property
    def outstanding(self) -> int:
        """Commands sent and not answered yet."""
        return len(self._pending)

    async def send(self, messages: list[bytes], *, progress_timeout: float) -> None:
        """Send each message as a ``syslog`` command; return once the receiver answered 200 to all.

        ``progress_timeout`` bounds the wait for progress: each answer (or the room to send the next command)
        must come within it.

        Raises:
            RelpRefused: the receiver refused a message (status other than 200).
            RelpError: the session ended or broke before every message was answered.
            TimeoutError: the receiver answered nothing for ``progress_timeout`` seconds.
            OSError: the socket failed.
        """
        futures: list[asyncio.Future[Response]] = []
        try:
            for message in messages:
                async with self._room:
                    await wait_for(
                        self._room.wait_for(lambda: len(self._pending) < self.window or not self.alive()),
                        progress_timeout,
                    )
                futures.append(await self._submit("syslog", message))
            await wait_for(self.writer.drain(), progress_timeout)
            for future in futures:
                response = await wait_for(asyncio.shield(future), progress_timeout)
                if response.code != 200:
                    raise RelpRefused(response.code, response.reason, "syslog")
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # retrieved: the first failure is the one raised

    async def _submit(self, command: str, data: bytes) -> asyncio.Future[Response]:
        if not self.alive():
            raise RelpError(self.closed_reason or "the RELP session is closed")
        txnr = self._next_txnr
        self._next_txnr = 1 if txnr >= MAX_TXNR else txnr + 1
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[txnr] = (command, future)
        self.writer.write(encode_frame(txnr, command, data))
        if self.writer.transport.get_write_buffer_size() > 1024 * 1024:
            await self.writer.drain()
        return future

    async def _read_responses(self) -> None:
        try:
            while True:
                txnr, command, data = await read_frame(self.reader)
                if command == "serverclose":
                    self._end("the receiver ended the RELP session (serverclose)")
                    return
                if command != "rsp":
                    raise RelpError(f"unexpected RELP command {command!r} from the receiver")
                entry = self._pending.pop(txnr, None)
                if entry is None:
                    raise RelpError(f"RELP response to unknown transaction {txnr}")
                sent, future = entry
                response = parse_response(data) if data else Response(200, "", {})
                if not future.done():
                    if response.code == 200 or sent == "syslog":
                        future.set_result(response)
                    else:
                        future.set_exception(RelpRefused(response.code, response.reason, sent))
                async with self._room:
                    self._room.notify_all()
        except asyncio.CancelledError:
            self._end("the RELP session was closed")
            raise
        except asyncio.IncompleteReadError:
            self._end("the receiver closed the connection")
        except RelpError as exc:
            self._end(str(exc))
        except Exception as exc:  # any read failure means the session is gone
            self._end(f"the connection failed: {type(exc).__name__}: {exc}")
        async with self._room:
            self._room.notify_all()

    def _end(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
        pending, self._pending = self._pending, {}
        for _command, future in pending.values():
            if not future.done():
                future.set_exception(RelpError(f"{reason}; the message was not acknowledged"))

    async def close(self, grace: float = 5.0) -> None:
        """End the session politely (``close``, answered by the receiver) within ``grace``; never raises."""
        if self.alive() and not self._pending:
            with contextlib.suppress(Exception):
                future = await self._submit("close", b"")
                await wait_for(future, grace)
        self._end("the RELP session was closed")
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task
        await close_tcp(self.writer, grace)

    def abort(self) -> None:
        """Drop the connection at once; never raises."""
        self._end("the RELP session was aborted")
        if self._reader_task is not None:
            self._reader_task.cancel()
        with contextlib.suppress(Exception):
            self.writer.transport.abort()
