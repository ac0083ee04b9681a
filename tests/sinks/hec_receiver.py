"""A strict Splunk HEC receiver for tests (no real HEC can be installed here; sinks.md section 1).

Implements the documented behaviour of ``/services/collector/event``, ``/services/collector/ack``
and ``/services/collector/health``:

* auth: ``Authorization: Splunk <token>`` only - missing header 401/code 2, other scheme 401/code 3,
  unknown token 403/code 4, disabled token 403/code 1;
* channels: a token with ack on needs ``X-Splunk-Request-Channel`` (400/code 10), a GUID (400/code 11);
  ``/ack`` on a token without ack is 400/code 14;
* body: ``Content-Encoding: gzip`` decoded strictly (auto-decompression off), size cap -> 413, empty ->
  400/code 5; concatenated JSON objects (whitespace allowed, no arrays/commas) parsed one by one; the
  first bad one stops the request with ``invalid-event-number`` N: syntax -> code 6, missing ``event``
  -> 12, blank ``event`` -> 13, nested ``fields`` -> 15, index not allowed for the token -> 7, bad
  ``time`` -> 6. Events before N are indexed (sinks.md section 1.3 assumption);
* acks: per-channel ids counting from 0; an id answers true once (then it is forgotten); ids can be
  delayed (``ack_after_polls``) or lost with their events (``lose_next_acks``);
* ``report_event_number=False`` leaves ``invalid-event-number`` out (older Splunk versions);
* faults: ``fail_next(n, status, code)`` answers the next n event requests with an error, before
  anything is indexed; ``health_code`` drives ``/health`` (17 healthy, 18-20 unhealthy).

Indexed events are recorded in :attr:`HecReceiver.events` for assertions.
"""

from __future__ import annotations

import gzip
import json
import re
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

TEXTS = {
    0: "Success",
    1: "Token disabled",
    2: "Token is required",
    3: "Invalid authorization",
    4: "Invalid token",
    5: "No data",
    6: "Invalid data format",
    7: "Incorrect index",
    8: "Internal server error",
    9: "Server is busy",
    10: "Data channel is missing",
    11: "Invalid data channel",
    12: "Event field is required",
    13: "Event field cannot be blank",
    14: "ACK is disabled",
    15: "Error in handling indexed fields",
    17: "HEC is healthy",
    18: "HEC is unhealthy, queues are full",
    19: "HEC is unhealthy, ack service unavailable",
    20: "HEC is unhealthy, queues are full, ack service unavailable",
}


@dataclass
class HecToken:
    """One HEC token as configured in Splunk."""

    value: str
    enabled: bool = True
    ack: bool = False
    indexes: frozenset[str] | None = None  # allowed indexes; None = any
    default_index: str = "main"


@dataclass
class IndexedEvent:
    """One event HEC indexed: the whole envelope plus where it came from."""

    envelope: dict[str, Any]
    token: str
    channel: str | None
    request_no: int
    index: str

    @property
    def event(self) -> Any:
        return self.envelope["event"]


@dataclass
class RequestRecord:
    """What one request looked like and how it was answered."""

    path: str
    status: int
    code: int | None
    events_in_body: int
    gzip: bool
    wire_bytes: int
    channel: str | None
    authorization_present: bool


@dataclass
class _Pending:
    events: list[IndexedEvent]
    polls_left: int
    lost: bool = False


@dataclass
class _Channel:
    next_id: int = 0
    pending: dict[int, _Pending] = field(default_factory=dict)


class HecReceiver:
    """The receiver's state and aiohttp app; start it with :func:`run_hec_receiver`."""

    def __init__(
        self,
        tokens: list[HecToken],
        *,
        max_content_length: int = 1_000_000,
        ack_after_polls: int = 0,
        report_event_number: bool = True,
    ) -> None:
        self.tokens = {t.value: t for t in tokens}
        self.max_content_length = max_content_length
        self.ack_after_polls = ack_after_polls
        self.report_event_number = report_event_number
        self.events: list[IndexedEvent] = []
        self.requests: list[RequestRecord] = []
        self.faults: deque[tuple[int, int | None]] = deque()
        self.lose_next_acks = 0
        self.health_code = 17
        self.channels: dict[str, _Channel] = {}
        self.ack_queries: list[list[int]] = []
        self.ack_answers: list[dict[int, bool]] = []
        self.url = ""

    # -- control ------------------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 503, code: int | None = 9) -> None:
        """Answer the next ``count`` event requests with ``status`` / ``code`` (nothing indexed)."""
        for _ in range(count):
            self.faults.append((status, code))

    def event_values(self) -> list[Any]:
        """The ``event`` field of every indexed event, in order."""
        return [e.event for e in self.events]

    # -- app ------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        for path in ("/services/collector/event", "/services/collector", "/services/collector/event/1.0"):
            app.router.add_post(path, self._event)
        app.router.add_post("/services/collector/ack", self._ack)
        app.router.add_get("/services/collector/health", self._health)
        app.router.add_get("/services/collector/health/1.0", self._health)
        return app

    @staticmethod
    def _reply(status: int, code: int, **extra: Any) -> web.Response:
        body = {"text": TEXTS.get(code, "Error"), "code": code, **extra}
        return web.json_response(body, status=status)

    def _authenticate(self, request: web.Request) -> tuple[HecToken | None, web.Response | None]:
        header = request.headers.get("Authorization")
        if header is None:
            return None, self._reply(401, 2)
        scheme, _, value = header.partition(" ")
        if scheme != "Splunk" or not value:
            return None, self._reply(401, 3)
        token = self.tokens.get(value)
        if token is None:
            return None, self._reply(403, 4)
        if not token.enabled:
            return None, self._reply(403, 1)
        return token, None

    def _channel_of(self, request: web.Request) -> str | None:
        return request.headers.get("X-Splunk-Request-Channel") or request.query.get("channel")

    async def _event(self, request: web.Request) -> web.Response:
        wire = await request.read()
        is_gzip = request.headers.get("Content-Encoding", "").lower() == "gzip"
        record = RequestRecord(
            request.path, 0, None, 0, is_gzip, len(wire), self._channel_of(request), "Authorization" in request.headers
        )
        self.requests.append(record)
        response = await self._handle_event(request, wire, is_gzip, record)
        record.status = response.status
        try:
            body = json.loads(response.body) if isinstance(response.body, bytes) else {}
        except ValueError:
            body = {}
        record.code = body.get("code") if isinstance(body, dict) else None
        return response

    async def _handle_event(
        self, request: web.Request, wire: bytes, is_gzip: bool, record: RequestRecord
    ) -> web.Response:
        token, refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        assert token is not None
        channel = self._channel_of(request)
        if token.ack:
            if not channel:
                return self._reply(400, 10)
            if not GUID.match(channel):
                return self._reply(400, 11)
        if self.faults:
            status, code = self.faults.popleft()
            if code is None:
                return web.Response(status=status, text="")
            return self._reply(status, code)
        body = wire
        if is_gzip:
            try:
                body = gzip.decompress(wire)
            except (OSError, EOFError, zlib.error):
                return self._reply(400, 6)
        if len(body) > self.max_content_length:
            return web.Response(status=413, text="Content-Length of request exceeds the limit")
        if not body.strip():
            return self._reply(400, 5)
        envelopes, failure = parse_concatenated(body)
        record.events_in_body = len(envelopes) + (1 if failure else 0)
        indexed: list[IndexedEvent] = []
        error: tuple[int, int] | None = failure
        if error is None:
            for number, env in enumerate(envelopes):
                code = self._check_envelope(env, token)
                if code is not None:
                    error = (code, number)
                    break
        accepted = envelopes if error is None else envelopes[: error[1]]
        request_no = len(self.requests) - 1
        for env in accepted:
            index = env.get("index") or token.default_index
            indexed.append(IndexedEvent(env, token.value, channel, request_no, index))
        if error is not None:
            # Events before the bad one are indexed (sinks.md 1.3), but no ackId is given.
            self.events.extend(indexed)
            code, number = error
            if not self.report_event_number:
                return self._reply(400, code)
            return self._reply(400, code, **{"invalid-event-number": number})
        if token.ack:
            assert channel is not None
            state = self.channels.setdefault(channel, _Channel())
            ack_id = state.next_id
            state.next_id += 1
            lost = self.lose_next_acks > 0
            if lost:
                self.lose_next_acks -= 1
            state.pending[ack_id] = _Pending(indexed, self.ack_after_polls, lost=lost)
            if not lost and self.ack_after_polls == 0:
                self.events.extend(indexed)
            return self._reply(200, 0, ackId=ack_id)
        self.events.extend(indexed)
        return self._reply(200, 0)

    @staticmethod
    def _check_envelope(env: dict[str, Any], token: HecToken) -> int | None:
        if "event" not in env:
            return 12
        event = env["event"]
        if event is None or (isinstance(event, str) and not event.strip()) or event == {}:
            return 13
        if "time" in env:
            value = env["time"]
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                return 6
            if isinstance(value, str):
                try:
                    float(value)
                except ValueError:
                    return 6
        fields = env.get("fields")
        if fields is not None:
            if not isinstance(fields, dict):
                return 15
            for value in fields.values():
                if isinstance(value, list):
                    if not all(isinstance(v, str) for v in value):
                        return 15
                elif not isinstance(value, str):
                    return 15
        for key in ("host", "source", "sourcetype", "index"):
            if key in env and not isinstance(env[key], str):
                return 6
        index = env.get("index")
        if index is not None and token.indexes is not None and index not in token.indexes:
            return 7
        return None

    async def _ack(self, request: web.Request) -> web.Response:
        wire = await request.read()
        record = RequestRecord(request.path, 0, None, 0, False, len(wire), self._channel_of(request), True)
        self.requests.append(record)
        token, refusal = self._authenticate(request)
        if refusal is not None:
            record.status = refusal.status
            return refusal
        assert token is not None
        if not token.ack:
            record.status = 400
            return self._reply(400, 14)
        channel = self._channel_of(request)
        if not channel:
            record.status = 400
            return self._reply(400, 10)
        if not GUID.match(channel):
            record.status = 400
            return self._reply(400, 11)
        try:
            body = json.loads(wire)
            ids = body["acks"]
            assert isinstance(ids, list)
            assert all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        except (ValueError, KeyError, TypeError, AssertionError):
            record.status = 400
            return self._reply(400, 6)
        self.ack_queries.append(list(ids))
        state = self.channels.get(channel, _Channel())
        answer: dict[str, bool] = {}
        for ack_id in ids:
            pending = state.pending.get(ack_id)
            if pending is None or pending.lost:
                answer[str(ack_id)] = False
                continue
            if pending.polls_left > 0:
                pending.polls_left -= 1
                answer[str(ack_id)] = False
                continue
            if self.ack_after_polls:
                self.events.extend(pending.events)  # indexed now
            answer[str(ack_id)] = True
            del state.pending[ack_id]  # answered true once: forgotten
        record.status = 200
        self.ack_answers.append({int(k): v for k, v in answer.items()})
        return web.json_response({"acks": answer})

    async def _health(self, request: web.Request) -> web.Response:
        status = 200 if self.health_code == 17 else 503
        return self._reply(status, self.health_code)


def parse_concatenated(body: bytes) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
    """Split ``{..}{..}`` into objects; on the first bad one return ``(code 6, its number)``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return [], (6, 0)
    decoder = json.JSONDecoder()
    objects: list[dict[str, Any]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return objects, None
        try:
            value, end = decoder.raw_decode(text, pos)
        except ValueError:
            return objects, (6, len(objects))
        if not isinstance(value, dict):
            return objects, (6, len(objects))
        objects.append(value)
        pos = end


@asynccontextmanager
async def run_hec_receiver(
    receiver: HecReceiver, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[HecReceiver]:
    """Serve ``receiver`` on a free 127.0.0.1 port for the duration of the block."""
    runner = web.AppRunner(receiver.app(), auto_decompress=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    receiver.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
