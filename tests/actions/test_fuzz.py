"""Property-based fuzz of the HTTP action API from its own OpenAPI document (schemathesis): whatever
schemathesis sends - valid, edge-case or invalid bodies, Idempotency-Key headers - the service never
answers 5xx, with the all-scopes token and with read, write and admin tokens alone. The document
itself validates against the OpenAPI 3.1 meta-schema.

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

import jsonschema  # type: ignore[import-untyped]
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.definitions import OPENAPI_31

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
            app = build_actions_app(service, throttle=FailedAuthThrottle(max_failures=100_000), idempotency=store)
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


#: The same fuzz with each single-scope token: refusals (403) for the other scopes, real calls for
#: its own - none may be a 5xx. Fewer examples per token keep the three runs bounded.
@pytest.mark.parametrize("token", ["reader", "writer", "admin"])
@schema.parametrize()
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_per_scope(case: Any, token: str, api: BackgroundApi) -> None:
    case.call_and_validate(base_url=api.url, headers=bearer(token), checks=[not_a_server_error], timeout=SERVER_TIMEOUT)


def test_the_openapi_document_validates() -> None:
    """Against the OpenAPI 3.1 meta-schema (the copy schemathesis ships), every component schema
    against JSON Schema 2020-12 - and a broken document is caught (the check is not vacuous)."""
    document = openapi_document()
    validator = jsonschema.Draft202012Validator(OPENAPI_31)
    errors = [f"{list(e.path)}: {e.message[:200]}" for e in validator.iter_errors(document)]
    assert not errors, errors[:5]
    for name, component in document["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(component), name
    broken = {**document, "paths": {"/x": {"post": {"responses": "none"}}}}
    assert list(validator.iter_errors(broken))
    ops = [op for path in document["paths"].values() for op in path.values()]
    actions = [op for op in ops if op["operationId"] not in ("listActions", "openapi")]
    assert all(op["parameters"][0]["name"] == "Idempotency-Key" for op in actions)
    assert all(
        "207" in op["responses"] for op in actions if "application/octet-stream" not in str(op["responses"]["200"])
    )
