"""A Mimecast API 2.0 simulator: realistic data, pagination, 429s and faults, for tests, demo and benchmarks.

Standalone: it imports nothing else of ``mimecast_siem`` (only the stdlib, aiohttp and orjson), so
it cannot share the client's assumptions. It follows ``shared/docs/mimecast-api.md`` sections 1-4
and 6; docs/simulator.md describes its behaviour and the few things it invents.

In-process::

    from mimecast_siem.simulator import SimulatorConfig, run_simulator

    async with run_simulator(SimulatorConfig(seed=7, rates={"ttp-url": 50})) as sim:
        sim.url                      # http://127.0.0.1:PORT
        sim.client_id, sim.client_secret
        sim.set_faults(error_rates={503: 0.1}, quota=RequestQuota(limit=20, period=1))
        sim.world.clock.advance(600) # move simulated time instead of sleeping
        truth = sim.ground_truth("ttp-url", start, end)   # what the API serves for [start, end)
        sim.stats().count(path="/api/ttp/url/get-logs", status=429)

As a process: ``mimecast-siem simulate --port 0 --port-file F --apps 2`` (``python -m mimecast_siem
simulate``). Control API (no auth, loopback only): ``GET /_sim/ground-truth``, ``GET /_sim/stats``,
``POST /_sim/reset-stats``, ``GET|POST /_sim/faults``, ``GET|POST /_sim/clock``, ``GET /_sim/info``.

Extension: stateful endpoints (response actions) live in modules ``simulator/actions_*.py`` and
register with :func:`endpoint`; they receive an :class:`ApiRequest` (``request.account`` is the
caller's :class:`Account`: its ``holds`` queue has ``release(id)`` / ``reject(id)``, and
``extension(name, factory)`` keeps per-tenant state) and the :class:`World`, and return an
:class:`ApiResult` or raise :class:`RequestFailed` for a 200-with-``fail[]`` answer.
"""

from __future__ import annotations

from mimecast_siem.simulator.app import RunningSimulator, build_app, run_simulator
from mimecast_siem.simulator.clock import Clock
from mimecast_siem.simulator.config import (
    GROUND_TRUTH_STREAMS,
    RATED_STREAMS,
    FaultSettings,
    HeldQueueSettings,
    LateArrivals,
    RequestQuota,
    ScriptedFault,
    SimulatorConfig,
    ThreatFeedSettings,
)
from mimecast_siem.simulator.holds import HoldExit, HoldLifecycle, HoldQueue
from mimecast_siem.simulator.registry import (
    ENDPOINTS,
    ApiRequest,
    ApiResult,
    EndpointRegistry,
    RequestFailed,
    endpoint,
)
from mimecast_siem.simulator.stats import SimulatorStats
from mimecast_siem.simulator.wire import failure, format_time, parse_time
from mimecast_siem.simulator.world import Account, World

__all__ = [
    "ENDPOINTS",
    "GROUND_TRUTH_STREAMS",
    "RATED_STREAMS",
    "Account",
    "ApiRequest",
    "ApiResult",
    "Clock",
    "EndpointRegistry",
    "FaultSettings",
    "HeldQueueSettings",
    "HoldExit",
    "HoldLifecycle",
    "HoldQueue",
    "LateArrivals",
    "RequestFailed",
    "RequestQuota",
    "RunningSimulator",
    "ScriptedFault",
    "SimulatorConfig",
    "SimulatorStats",
    "ThreatFeedSettings",
    "World",
    "build_app",
    "endpoint",
    "failure",
    "format_time",
    "parse_time",
    "run_simulator",
]
