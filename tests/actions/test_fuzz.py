"""Property-based fuzz of the HTTP action API from its own OpenAPI document (schemathesis): whatever
schemathesis sends - valid, edge-case or invalid bodies - the service never answers 5xx.

The API runs in a background thread with its own event loop (simulator, audit store, service) so
schemathesis' synchronous calls reach a real server on 127.0.0.1. Examples are bounded so the whole
run stays well under a minute on a shared 2-core machine.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from mimecast_siem.actions.access import FailedAuthThrottle
from mimecast_siem.actions.audit import AuditTrail
from mimecast_siem.actions.http import build_actions_app
from mimecast_siem.actions.openapi import openapi_document
from mimecast_siem.actions.service import ActionService
from mimecast_siem.checkpoints import StateStore
from mimecast_siem.config import load_settings
from mimecast_siem.simulator import run_simulator
from tests.actions.conftest import bearer, write_config
from tests.fixtures.simulator import fast_config

START_TIMEOUT = 30.0
SERVER_TIMEOUT = 30.0

#: Fuzzing phase only, a few examples per operation: 50 operations x 10 examples of real calls (the
#: coverage phase's hundreds of boundary cases per operation would take minutes on 2 shared cores;
#: boundaries are covered by test_validation.py from the same schemas).
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}, "examples": {"enabled": False}}})
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BackgroundApi:
    """Simulator + action API served from a private event loop in a daemon thread."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, name="fuzz-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the test through .failed
            self.failed = exc
            self.ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with run_simulator(fast_config()) as sim:
            settings_ = load_settings(write_config(self.workdir, sim.url), env={})
            store = await StateStore.open(settings_.state_url())
            service = ActionService(settings_, audit=AuditTrail(store.record_audit), max_wait=5.0)
            app = build_actions_app(service, throttle=FailedAuthThrottle(max_failures=100_000))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self.ready.set()
            try:
                await self._stop.wait()
            finally:
                await runner.cleanup()
                await store.close()

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(START_TIMEOUT) or self.failed is not None:
            raise RuntimeError(f"the action API did not start: {self.failed!r}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(SERVER_TIMEOUT)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundApi]:
    server = BackgroundApi(tmp_path_factory.mktemp("fuzz"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case: Any, api: BackgroundApi) -> None:
    case.call_and_validate(base_url=api.url, headers=bearer("ops"), checks=[not_a_server_error], timeout=SERVER_TIMEOUT)
