"""``/metrics``, ``/healthz`` and ``/readyz`` on the daemon's one HTTP port.

* ``/healthz`` (liveness): the event loop answers and every registered loop has ticked within its
  allowed staleness. A stuck stream loop makes the pod restart. A loop that is overdue but can
  name what it legitimately waits for (a failing sink the router keeps retrying, a Mimecast rate
  limit) is reported as waiting, not stuck: restarting the pod would not help, and the alerts on
  sink failures and 429s say what is wrong.
* ``/readyz`` (readiness): every readiness check passes - config valid, state store reachable, each
  tenant authenticated at least once.
* ``/metrics``: the process metrics registry, in OpenMetrics when the ``Accept`` header asks for it
  (Prometheus does), else the Prometheus text format.

Other apps (the response-action API) add their routes to the same :class:`aiohttp.web.Application`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.exposition import choose_encoder

from mimecast_siem.observability.metrics import Metrics, metrics

ReadinessCheck = Callable[[], Awaitable[tuple[bool, str]]]
#: Returns why an overdue loop is legitimately waiting (``"sink splunk is failing"``), or ``None``.
WaitingReason = Callable[[], str | None]

#: Staleness allowed to a loop that ticks without having been registered.
DEFAULT_MAX_AGE = 300.0


@dataclass(slots=True)
class _Loop:
    last_tick: float
    max_age: float
    waiting: WaitingReason | None = None


@dataclass
class HealthState:
    """Liveness ticks and readiness checks registered by the daemon's components.

    Times are measured on ``clock`` (monotonic seconds; tests pass a fake one).
    """

    clock: Callable[[], float] = time.monotonic
    _loops: dict[str, _Loop] = field(default_factory=dict)
    _checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    _flags: dict[str, tuple[bool, str]] = field(default_factory=dict)

    def register_loop(self, name: str, max_age: float, waiting: WaitingReason | None = None) -> None:
        """Declare a loop that must tick at least every ``max_age`` seconds to count as alive.

        Args:
            name: bounded loop name (``supervisor``, ``stream:<tenant>:<stream>``).
            max_age: longest allowed gap between two ticks, seconds.
            waiting: asked when the loop is overdue; a reason means "blocked on something outside
                this process, not stuck" and keeps liveness green.
        """
        self._loops[name] = _Loop(self.clock(), max_age, waiting)

    def tick(self, name: str) -> None:
        """Record that loop ``name`` is turning."""
        loop = self._loops.get(name)
        if loop is None:
            self._loops[name] = _Loop(self.clock(), DEFAULT_MAX_AGE)
        else:
            loop.last_tick = self.clock()

    def unregister_loop(self, name: str) -> None:
        """Forget loop ``name`` (it ended on purpose: shutdown, lost lease)."""
        self._loops.pop(name, None)

    @property
    def loops(self) -> list[str]:
        """Names of the registered loops."""
        return sorted(self._loops)

    def add_check(self, name: str, check: ReadinessCheck) -> None:
        """Add an async readiness check returning ``(ok, detail)``."""
        self._checks[name] = check

    def set_flag(self, name: str, ok: bool, detail: str = "") -> None:
        """Set a readiness flag directly (e.g. ``auth:acme`` after the first successful token)."""
        self._flags[name] = (ok, detail)

    def liveness(self) -> tuple[bool, dict[str, str]]:
        """``(alive, {loop: "ok" | "waiting: ..." | "stale: ..."})``; alive unless a loop is stale."""
        now = self.clock()
        report: dict[str, str] = {}
        ok = True
        for name, loop in sorted(self._loops.items()):
            age = now - loop.last_tick
            if age <= loop.max_age:
                report[name] = "ok"
                continue
            reason = _waiting_reason(loop.waiting)
            if reason:
                report[name] = f"waiting: {reason} (last tick {age:.0f}s ago)"
                continue
            ok = False
            report[name] = f"stale: last tick {age:.0f}s ago (limit {loop.max_age:.0f}s)"
        return ok, report

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """``(ready, {check: "ok" | why not})``: every flag set and every check passing."""
        report: dict[str, str] = {}
        ok = True
        for name, (flag_ok, detail) in sorted(self._flags.items()):
            report[name] = "ok" if flag_ok else (detail or "not ready")
            ok = ok and flag_ok
        for name, check in sorted(self._checks.items()):
            try:
                check_ok, detail = await check()
            except Exception as exc:  # a failing check means not ready, never a 500
                check_ok, detail = False, f"check failed: {type(exc).__name__}"
            report[name] = "ok" if check_ok else (detail or "not ready")
            ok = ok and check_ok
        return ok, report


def _waiting_reason(waiting: WaitingReason | None) -> str | None:
    if waiting is None:
        return None
    try:
        return waiting()
    except Exception:  # a broken excuse is no excuse: the loop counts as stale
        return None


HEALTH_STATE_KEY = web.AppKey("health_state", HealthState)
METRICS_KEY = web.AppKey("metrics", Metrics)


def build_health_app(state: HealthState, registry_metrics: Metrics | None = None) -> web.Application:
    """An application serving the three endpoints; add more routes to it before starting."""
    app = web.Application()
    app[HEALTH_STATE_KEY] = state
    app[METRICS_KEY] = registry_metrics or metrics()
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    return app


async def _metrics(request: web.Request) -> web.Response:
    # OpenMetrics when the scraper asks for it (Prometheus does), the classic text format otherwise.
    registry = request.app[METRICS_KEY].registry
    accept = request.headers.get("Accept", "")
    if "application/openmetrics-text" in accept:
        encoder, content_type = choose_encoder(accept)
        return web.Response(body=encoder(registry), headers={"Content-Type": content_type})
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    ok, report = request.app[HEALTH_STATE_KEY].liveness()
    return web.json_response({"status": "ok" if ok else "unhealthy", "loops": report}, status=200 if ok else 503)


async def _readyz(request: web.Request) -> web.Response:
    ok, report = await request.app[HEALTH_STATE_KEY].readiness()
    return web.json_response({"status": "ready" if ok else "not ready", "checks": report}, status=200 if ok else 503)
