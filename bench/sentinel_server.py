"""The Sentinel emulator (tests/sinks/sentinel_emulator.py) as a process of its own, for the sink benchmark.

``python -m bench.sentinel_server --port-file F --ca-file C`` serves the token endpoint and the Logs
Ingestion API over HTTPS on 127.0.0.1 (a free port, written to F; the test CA written to C) and adds
``GET /_bench/count`` (``{"events": n}``). It counts rows and forgets them, so memory stays flat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

from tests.sinks.sentinel_emulator import SentinelEmulator, run_emulator


class CountingEmulator(SentinelEmulator):
    """The strict emulator that forgets rows after counting them."""

    counted: int = 0

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_get("/_bench/count", self._count)
        return app

    async def _ingest(self, request: web.Request) -> web.StreamResponse:
        response = await super()._ingest(request)
        self.counted += sum(len(rows) for rows in self.rows.values())
        self.rows.clear()
        self.calls.clear()
        return response

    async def _count(self, request: web.Request) -> web.Response:
        return web.json_response({"events": self.counted})


async def serve(port_file: Path, ca_file: Path) -> None:
    """Serve until SIGTERM/SIGINT."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.cert_pem.write_to_path(str(ca_file))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with run_emulator(CountingEmulator(), context) as running:
        await asyncio.to_thread(port_file.write_text, running.url.rsplit(":", 1)[1])
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Parse flags and serve."""
    parser = argparse.ArgumentParser(prog="python -m bench.sentinel_server")
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--ca-file", type=Path, required=True)
    args: Any = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port_file, args.ca_file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
