"""A small Splunk HTTP Event Collector stand-in for the demo: a SIEM that can go down and come back.

``mimecast-siem demo --scenario sink-outage`` sends every event to it (a ``hec`` sink with a durable
queue), stops it for a while and starts it again on the same port, to show the queue absorbing the
outage and draining afterwards. It answers like HEC does for the calls the sink makes:

* ``POST /services/collector/event`` with ``Authorization: Splunk <token>``: a body of concatenated
  JSON objects (gzip or not); each needs an ``event``. 200 ``{"text": "Success", "code": 0}``; a bad
  token 403 (code 4), bad data 400 (code 6, nothing of the request kept);
* ``GET /services/collector/health``: 200 code 17.

Accepted envelopes are appended, one JSON object a line, to ``output`` (a file the reader of the demo
can open: what the SIEM received) and their ids are counted in :attr:`DemoHecReceiver.ids`. While
stopped, the port refuses connections, like a SIEM that is down.

Like the rest of the simulator it imports nothing of mimecast-siem's own code.
"""

from __future__ import annotations

import gzip
import json
import socket
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

EVENT_PATH = "/services/collector/event"
HEALTH_PATH = "/services/collector/health"


class DemoHecReceiver:
    """The receiver; :meth:`start` and :meth:`stop` may be called repeatedly (same port every time).

    Args:
        token: the HEC token the sink must present.
        output: NDJSON file of the accepted envelopes (appended).
        host: address to listen on.
        port: 0 picks a free port at the first start, kept for the later ones.
    """

    def __init__(self, token: str, output: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = token
        self.output = output
        self.host = host
        self.port = port
        #: How many times each event id was received (``event.event.id`` of the json format).
        self.ids: Counter[str] = Counter()
        self.requests = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The base URL to configure in the sink."""
        return f"http://{self.host}:{self.port}"

    @property
    def up(self) -> bool:
        """True while it listens."""
        return self._runner is not None

    async def start(self) -> None:
        """Listen (again); requests are accepted from now on."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(EVENT_PATH, self._event)
        app.router.add_get(HEALTH_PATH, self._health)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the same port again after a stop
            sock.bind((self.host, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening: requests in progress finish, new connections are refused."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"text": "HEC is healthy", "code": 17})

    async def _event(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "") != f"Splunk {self.token}":
            return web.json_response({"text": "Invalid token", "code": 4}, status=403)
        body = await request.read()  # aiohttp already inflates a gzip body it can read
        if body[:2] == b"\x1f\x8b":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error):
                return web.json_response({"text": "Invalid data format", "code": 6}, status=400)
        try:
            envelopes = _split(body.decode("utf-8"))
        except ValueError:
            return web.json_response({"text": "Invalid data format", "code": 6}, status=400)
        if not envelopes:
            return web.json_response({"text": "No data", "code": 5}, status=400)
        self.requests += 1
        with self.output.open("ab") as handle:
            for envelope in envelopes:
                handle.write(json.dumps(envelope, separators=(",", ":")).encode() + b"\n")
        for envelope in envelopes:
            self.ids[event_id_of(envelope)] += 1
        return web.json_response({"text": "Success", "code": 0})


def _split(text: str) -> list[dict[str, Any]]:
    """Concatenated JSON objects, each with an ``event``; ValueError for anything else."""
    decoder = json.JSONDecoder()
    envelopes: list[dict[str, Any]] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index == len(text):
            return envelopes
        value, index = decoder.raw_decode(text, index)
        if not isinstance(value, dict) or "event" not in value:
            raise ValueError("an envelope without event")
        envelopes.append(value)


def event_id_of(envelope: dict[str, Any]) -> str:
    """The event id of a HEC envelope carrying a json-format document (``event.event.id``), or ``""``."""
    event = envelope.get("event")
    section = event.get("event") if isinstance(event, dict) else None
    value = section.get("id") if isinstance(section, dict) else None
    return value if isinstance(value, str) else ""
