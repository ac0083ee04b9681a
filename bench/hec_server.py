"""The test HEC receiver (tests/sinks/hec_receiver.py) as a process of its own, for the sink benchmark.

``python -m bench.hec_server --port-file F --token T`` serves HEC on 127.0.0.1 (a free port, written
to F) and adds ``GET /_bench/count``: ``{"events": n, "requests": n, "wire_bytes": n}``. It keeps a
count instead of every event, so a long run does not grow its memory. SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.sinks.hec_receiver import HecReceiver, HecToken, run_hec_receiver


class CountingHecReceiver(HecReceiver):
    """The strict test receiver that forgets indexed events after counting them."""

    def __init__(self, tokens: list[HecToken]) -> None:
        super().__init__(tokens, max_content_length=64 * 1024 * 1024)
        self.indexed = 0

    def app(self) -> web.Application:
        """The receiver's routes plus ``/_bench/count``."""
        app = super().app()
        app.router.add_get("/_bench/count", self._count)
        return app

    async def _event(self, request: web.Request) -> web.Response:
        response = await super()._event(request)
        # Count, then drop what the base class kept for assertions: memory stays flat.
        self.indexed += len(self.events)
        self.events.clear()
        self.requests.clear()
        return response

    async def _count(self, request: web.Request) -> web.Response:
        return web.json_response({"events": self.indexed})


async def serve(port_file: Path, token: str) -> None:
    """Serve until SIGTERM/SIGINT."""
    receiver = CountingHecReceiver([HecToken(token)])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with run_hec_receiver(receiver) as running:
        await asyncio.to_thread(port_file.write_text, running.url.rsplit(":", 1)[1])
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Parse flags and serve."""
    parser = argparse.ArgumentParser(prog="python -m bench.hec_server")
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--token", required=True)
    args: Any = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port_file, args.token))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
