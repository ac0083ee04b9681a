"""Stream loops and /healthz: a stuck stream loop fails liveness; one waiting for a failing sink does not.

A real Supervisor polls the simulator through a real client, state store and router, with the health
app served on a loopback port. The sink is the real file sink wrapped so a test can make a send hang
(a stuck loop) or fail (a sink outage the router keeps retrying).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.collector.supervisor import SUPERVISOR_LOOP, Supervisor, stream_loop_name
from mimecast_siem.config.models import Settings
from mimecast_siem.events import Event
from mimecast_siem.mimecast import MimecastClient, reset_limiters
from mimecast_siem.observability.health import HealthState, build_health_app
from mimecast_siem.observability.metrics import reset_metrics
from mimecast_siem.simulator import RunningSimulator
from mimecast_siem.sinks import DeadLetters, Router, SendResult, SinkContext, build_sinks
from tests.collector.harness import FAST_SINK_RETRY, FlakySink
from tests.collector.helpers import daemon_settings

LOOP = stream_loop_name(("acme", "ttp-url"))
# poll_interval 1 s, stream_backoff_max 1 s, stall_timeout 1 s: a stream loop may be silent for 2 s.
MAX_AGE = 2.0


class HangingSink(FlakySink):
    """The real file sink; while ``hang`` is set, a send blocks until it is cleared (a wedged sink)."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.hang = False
        self.released = asyncio.Event()
        self.hung = asyncio.Event()

    async def send(self, events: Sequence[Event]) -> SendResult:
        if self.hang:
            self.hung.set()
            await self.released.wait()
        return await super().send(events)


@dataclass
class Running:
    supervisor: Supervisor
    health: HealthState
    sink: HangingSink
    http: TestClient[web.Request, web.Application]

    async def healthz(self) -> tuple[int, dict[str, Any]]:
        resp = await self.http.get("/healthz")
        return resp.status, orjson.loads(await resp.read())


def settings_for(sim: RunningSimulator, tmp: Path) -> Settings:
    return daemon_settings(
        sim.url,
        sim.client_id,
        sim.client_secret,
        tmp,
        streams=("ttp-url",),
        daemon={"stall_timeout": "1s", "stream_backoff_max": "1s", "shutdown_grace": "2s"},
    )


@contextlib.asynccontextmanager
async def supervised(settings: Settings) -> AsyncIterator[Running]:
    reset_limiters()
    reset_metrics()
    health = HealthState()
    store = await StateStore.open(settings.state_url())
    sinks = build_sinks(settings, SinkContext(Path(settings.data_dir), "liveness-test", "test"))
    sink = HangingSink(sinks["out"])
    router = Router(settings, {"out": sink}, DeadLetters(settings.dead_letter_path()), retry=FAST_SINK_RETRY)  # type: ignore[dict-item]
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(store.close)
        stack.push_async_callback(router.close)
        await router.start()
        client = await stack.enter_async_context(MimecastClient(settings.tenants[0]))
        supervisor = Supervisor(settings, store, {"acme": client}, router, owner="liveness-test", health=health)
        http: TestClient[web.Request, web.Application] = TestClient(
            TestServer(build_health_app(health), host="127.0.0.1")
        )
        await http.start_server()
        stack.push_async_callback(http.close)
        runner = asyncio.create_task(supervisor.run())
        try:
            yield Running(supervisor, health, sink, http)
        finally:
            sink.released.set()
            supervisor.stop()
            await asyncio.wait_for(runner, timeout=30)


async def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


async def test_a_stuck_stream_loop_fails_liveness_until_it_turns_again(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    settings = settings_for(simulator, tmp_path)
    async with supervised(settings) as run:

        async def registered() -> bool:
            return LOOP in run.health.loops

        await wait_until(registered, 10, "the stream loop to register")
        status, body = await run.healthz()
        assert status == 200
        assert body["loops"] == {SUPERVISOR_LOOP: "ok", LOOP: "ok"}

        run.sink.hang = True  # the next delivery never returns: the stream loop is wedged
        await asyncio.wait_for(run.sink.hung.wait(), timeout=15)

        async def unhealthy() -> bool:
            return (await run.healthz())[0] == 503

        await wait_until(unhealthy, 10 * MAX_AGE, "/healthz to report the stuck loop")
        status, body = await run.healthz()
        assert body["status"] == "unhealthy"
        assert body["loops"][LOOP].startswith("stale: last tick")
        assert body["loops"][SUPERVISOR_LOOP] == "ok"  # only the stuck loop is blamed

        run.sink.hang = False
        run.sink.released.set()

        async def healthy() -> bool:
            return (await run.healthz())[0] == 200

        await wait_until(healthy, 10 * MAX_AGE, "/healthz to recover once the loop turns")


async def test_a_loop_waiting_for_a_failing_sink_is_not_stuck(simulator: RunningSimulator, tmp_path: Path) -> None:
    settings = settings_for(simulator, tmp_path)
    async with supervised(settings) as run:
        run.sink.failing = True  # every send raises a transient error: the router retries forever

        async def retrying() -> bool:
            return run.sink.refused >= 3

        await wait_until(retrying, 15, "the router to retry the failing sink")
        # Stay in the outage for several times the loop's allowed silence.
        reports = []
        deadline = time.monotonic() + 3 * MAX_AGE
        while time.monotonic() < deadline:
            status, body = await run.healthz()
            assert status == 200, body
            reports.append(body["loops"][LOOP])
            await asyncio.sleep(0.25)
        assert any(r.startswith("waiting: sink out is failing; delivery is being retried") for r in reports), reports
        refused_before = run.sink.refused
        run.sink.failing = False

        async def delivered() -> bool:
            status, body = await run.healthz()
            return status == 200 and body["loops"][LOOP] == "ok"

        await wait_until(delivered, 10 * MAX_AGE, "the loop to tick again after the sink recovered")
        assert run.sink.refused >= refused_before


async def test_stream_loops_are_registered_per_leased_stream_and_forgotten_on_stop(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    settings = settings_for(simulator, tmp_path)
    async with supervised(settings) as run:

        async def registered() -> bool:
            return LOOP in run.health.loops

        await wait_until(registered, 10, "the stream loop to register")
        assert run.health.loops == sorted([SUPERVISOR_LOOP, LOOP])
        health = run.health
    assert health.loops == []  # a clean stop must not leave loops that would go stale


class _Limiter:
    rate_limited = True


class _Client:
    limiter = _Limiter()


class _Status:
    def __init__(self, up: bool | None) -> None:
        self.up = up


class _Router:
    def __init__(self, up: bool | None) -> None:
        self.up = up

    def status(self) -> dict[str, _Status]:
        return {"out": _Status(self.up), "other": _Status(False)}

    def routed_sinks(self, tenant: str, stream: str) -> list[str]:
        return ["out"]

    async def deliver(self, tenant: str, stream: str, events: Sequence[Event]) -> None:
        return None


def test_waiting_reasons_name_the_failing_routed_sink_or_the_rate_limit(tmp_path: Path) -> None:
    settings = daemon_settings("http://127.0.0.1:9", "client-1", "secret-1", tmp_path, streams=("ttp-url",))
    key = ("acme", "ttp-url")

    def supervisor(router: _Router, client: object) -> Supervisor:
        return Supervisor(settings, None, {"acme": client}, router, owner="o")  # type: ignore[arg-type,dict-item]

    assert supervisor(_Router(up=False), object()).waiting_reason(key) == (
        "sink out is failing; delivery is being retried"
    )
    # A sink that is not routed for this stream ("other") is no excuse; a sink never tried (None) neither.
    assert supervisor(_Router(up=True), object()).waiting_reason(key) is None
    assert supervisor(_Router(up=None), object()).waiting_reason(key) is None
    assert supervisor(_Router(up=True), _Client()).waiting_reason(key) == "Mimecast is rate-limiting tenant acme"
