"""The RELP client: frame encoding and parsing, and a session against a scripted RELP server.

The real receiver (rsyslog's imrelp) is in tests/e2e/test_syslog_relp.py; the scripted server here
covers what rsyslog will not do on demand: refusing a message, answering garbage, ``serverclose``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.sinks.base import SinkContext, SinkTransientError
from mimecast_siem.sinks.relp import (
    MAX_TXNR,
    RelpConnection,
    RelpError,
    RelpRefused,
    encode_frame,
    parse_response,
    read_frame,
)
from mimecast_siem.sinks.syslog import SyslogSink, SyslogSinkOptions
from tests.sinks.builders import batch

Answer = Callable[[int, str, bytes], Awaitable[bytes | None]]


def test_frames_are_encoded_as_the_spec_says() -> None:
    assert encode_frame(1, "open", b"relp_version=0") == b"1 open 14 relp_version=0\n"
    assert encode_frame(7, "close") == b"7 close 0\n"
    assert encode_frame(MAX_TXNR, "syslog", b"<134>x") == b"999999999 syslog 6 <134>x\n"


def test_responses_are_parsed_with_their_offers() -> None:
    r = parse_response(b"200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0\ncommands=syslog")
    assert (r.code, r.reason, r.offers["commands"], r.offers["relp_version"]) == (200, "OK", "syslog", "0")
    assert parse_response(b"500 queue full").reason == "queue full"
    with pytest.raises(RelpError, match="malformed"):
        parse_response(b"OK")


async def _frames(data: bytes) -> list[tuple[int, str, bytes]]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    out = []
    with contextlib.suppress(asyncio.IncompleteReadError):
        while True:
            out.append(await read_frame(reader))
    return out


async def test_read_frame_handles_empty_data_and_embedded_newlines() -> None:
    frames = await _frames(b"3 rsp 6 200 OK\n0 serverclose 0\n4 rsp 10 200 OK\na=b\n")
    assert frames == [(3, "rsp", b"200 OK"), (0, "serverclose", b""), (4, "rsp", b"200 OK\na=b")]
    for garbage in (b"x rsp 1 a\n", b"1 rsp 3 abcX", b"1 rsp 2\n", b"1  rsp 0\n"):
        with pytest.raises(RelpError):
            await _frames(garbage)


@contextlib.asynccontextmanager
async def relp_server(answer: Answer) -> AsyncIterator[int]:
    """A RELP server on a free port: ``open`` gets 200 with ``commands=syslog``; ``answer`` decides the rest."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while True:
                txnr, command, data = await read_frame(reader)
                if command == "open":
                    reply: bytes | None = b"200 OK\nrelp_version=0\ncommands=syslog"
                elif command == "close":
                    writer.write(encode_frame(txnr, "rsp"))
                    await writer.drain()
                    break
                else:
                    reply = await answer(txnr, command, data)
                if reply is None:
                    break
                writer.write(reply if reply.endswith(b"\n") and b" rsp " in reply else encode_frame(txnr, "rsp", reply))
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


def _sink(tmp_path: Path, port: int) -> SyslogSink:
    settings = SinkSettings(
        name="relp", type="syslog", format="cef", host="127.0.0.1", port=port, transport="relp",
        ack_timeout="1s", reconnect_backoff_initial="10ms", relp_window=4,
    )  # fmt: skip
    return SyslogSink(settings, SinkContext(data_dir=tmp_path, instance_id="t", version="0.1.0"))


async def test_acknowledged_messages_complete_a_send_with_a_small_window() -> None:
    seen: list[bytes] = []

    async def ok(txnr: int, command: str, data: bytes) -> bytes:
        seen.append(data)
        return b"200 OK"

    async with relp_server(ok) as port:
        connection = await RelpConnection.open("127.0.0.1", port, connect_timeout=2, software="t", window=2)
        await connection.send([b"a", b"b", b"c", b"d", b"e"], progress_timeout=2)
        assert connection.outstanding == 0
        await connection.close()
    assert seen == [b"a", b"b", b"c", b"d", b"e"]


async def test_a_refused_message_fails_the_batch(tmp_path: Path) -> None:
    async def refuse_third(txnr: int, command: str, data: bytes) -> bytes:
        return b"500 queue full" if txnr == 4 else b"200 OK"  # txnr 1 was the open

    async with relp_server(refuse_third) as port:
        connection = await RelpConnection.open("127.0.0.1", port, connect_timeout=2, software="t")
        with pytest.raises(RelpRefused, match="500 queue full"):
            await connection.send([b"a", b"b", b"c", b"d"], progress_timeout=2)
        connection.abort()
        sink = _sink(tmp_path, port)
        with pytest.raises(SinkTransientError, match="refused the syslog command: 500 queue full"):
            await sink.send(batch(5))
        await sink.close()


async def test_serverclose_and_silence_are_failures_not_deliveries(tmp_path: Path) -> None:
    async def hang_up(txnr: int, command: str, data: bytes) -> bytes:
        return b"0 serverclose 0\n"

    async def silent(txnr: int, command: str, data: bytes) -> bytes | None:
        await asyncio.sleep(5)
        return None

    async with relp_server(hang_up) as port:
        sink = _sink(tmp_path, port)
        with pytest.raises(SinkTransientError, match="serverclose"):
            await sink.send(batch(3))
        await sink.close()
    async with relp_server(silent) as port:
        sink = _sink(tmp_path, port)
        with pytest.raises(SinkTransientError, match="timed out"):
            await sink.send(batch(3))
        await sink.close()


async def test_a_server_without_the_syslog_command_is_refused() -> None:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        txnr, _command, _data = await read_frame(reader)
        writer.write(encode_frame(txnr, "rsp", b"200 OK\nrelp_version=0\ncommands="))
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    try:
        with pytest.raises(RelpError, match="does not accept the RELP syslog command"):
            await RelpConnection.open("127.0.0.1", port, connect_timeout=2, software="t")
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"transport": "relp", "framing": "lf"}, "RELP frames every message itself"),
        ({"transport": "tcp", "relp_window": 8}, "relp_window applies to transport relp only"),
    ],
)
def test_relp_options_are_checked(options: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        SyslogSinkOptions.model_validate({"host": "h", **options})
    assert SyslogSinkOptions.model_validate({"host": "h", "transport": "relp"}).effective_port() == 2514
