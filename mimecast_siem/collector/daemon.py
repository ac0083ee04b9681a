"""``mimecast-siem run``: wire the state store, Mimecast clients, sinks, supervisor and HTTP port.

The daemon owns the process lifecycle: it opens everything, serves ``/metrics``, ``/healthz`` and
``/readyz`` (plus whatever the registered *app configurators* add, e.g. the response-action API),
runs the :class:`~mimecast_siem.collector.supervisor.Supervisor` until SIGTERM/SIGINT, then shuts
down within ``daemon.shutdown_grace`` and closes everything in reverse order.

Other rooms extend the HTTP app without the collector importing them: an *app configurator* is a
callable ``(app, services) -> None | Awaitable[None]`` run before the server starts. The CLI (the
one place that wires the rooms) passes the action API's ``configure_daemon_app``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from mimecast_siem import __version__
from mimecast_siem.aio import wait_for
from mimecast_siem.backoff import Backoff
from mimecast_siem.checkpoints import StateStore
from mimecast_siem.collector.backfill import BackfillWorker
from mimecast_siem.collector.ports import PortUnavailable
from mimecast_siem.collector.supervisor import Supervisor
from mimecast_siem.config.models import Settings
from mimecast_siem.mimecast import MimecastClient
from mimecast_siem.observability.health import HealthState, build_health_app
from mimecast_siem.observability.metrics import metrics
from mimecast_siem.sinks import RetryPolicy, Router, SinkContext, build_sinks
from mimecast_siem.sinks.deadletter_store import dead_letter_store
from mimecast_siem.times import utc_now

log = logging.getLogger("mimecast_siem.collector")

#: Seconds between sink health probes (keeps mimecast_siem_sink_up current while idle).
SINK_PROBE_INTERVAL = 30.0


@dataclass(slots=True)
class DaemonServices:
    """What an app configurator may use: the daemon's live components.

    Attributes:
        settings: the validated settings.
        store: the open state store (action audit, checkpoints).
        clients: an open Mimecast client per enabled tenant.
        router: the sinks router.
        health: the liveness/readiness registry (add checks or flags).
        owner: this instance's id.
    """

    settings: Settings
    store: StateStore
    clients: dict[str, MimecastClient]
    router: Router
    health: HealthState
    owner: str
    extras: dict[str, Any] = field(default_factory=dict)


AppConfigurator = Callable[[web.Application, DaemonServices], Awaitable[None] | None]


def default_instance_id() -> str:
    """``<hostname>-<pid>``: unique per process, readable in lease tables."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Daemon:
    """The collector daemon of one process.

    Args:
        settings: validated settings.
        app_configurators: callables that add routes to the HTTP app before it starts.
        port_file: when given, the bound HTTP port is written there once listening (port 0 = any).
        handle_signals: install SIGTERM/SIGINT handlers (off when embedded, e.g. in tests or the demo).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        app_configurators: Sequence[AppConfigurator] = (),
        port_file: Path | None = None,
        handle_signals: bool = True,
        sink_retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        #: Backoff of failing sinks (default: the router's; the demo retries sooner to show a catch-up).
        self.sink_retry = sink_retry
        self.owner = settings.daemon.instance_id or default_instance_id()
        self.app_configurators = list(app_configurators)
        self.port_file = port_file
        self.handle_signals = handle_signals
        self.health = HealthState()
        self.supervisor: Supervisor | None = None
        self.backfills: BackfillWorker | None = None
        self.services: DaemonServices | None = None
        self.port: int | None = None
        self.started = asyncio.Event()
        self._stop_requested = False
        self._signals = 0

    def stop(self) -> None:
        """Graceful stop (idempotent). A second request cancels in-flight deliveries at once."""
        self._signals += 1
        self._stop_requested = True
        if self.supervisor is not None:
            self.supervisor.stop()
            if self._signals > 1 and self.services is not None:
                self.services.router.stop()

    async def run(self) -> int:
        """Run until stopped; return the exit code (0 after a clean shutdown)."""
        settings = self.settings
        m = metrics()
        m.build_info.info({"version": __version__})
        async with contextlib.AsyncExitStack() as stack:
            if self.handle_signals:
                # First thing: a SIGTERM during start-up must lead to a clean stop, not a hard kill.
                self._install_signal_handlers(stack)
            store = await StateStore.open(settings.state_url())
            stack.push_async_callback(store.close)
            sinks = build_sinks(settings, SinkContext(settings.data_dir, self.owner, __version__))
            router = Router(settings, sinks, dead_letter_store(settings, store), retry=self.sink_retry)
            stack.push_async_callback(router.close)
            await router.start()
            clients: dict[str, MimecastClient] = {}
            for tenant in settings.tenants:
                if not tenant.enabled:
                    continue
                client = MimecastClient(tenant)
                await stack.enter_async_context(client)
                clients[tenant.name] = client
            self.services = DaemonServices(settings, store, clients, router, self.health, self.owner)
            self.supervisor = Supervisor(
                settings, store, clients, router, owner=self.owner, health=self.health, clock=utc_now
            )
            m.set_checkpoint_source(self.supervisor.checkpoint_times)
            stack.callback(m.set_checkpoint_source, None)
            m.set_budget_source(lambda: {name: client.limiter for name, client in clients.items()})
            stack.callback(m.set_budget_source, None)
            self._register_readiness(store, clients)
            if settings.server.enabled:
                await self._serve_http(stack)
            auth = [asyncio.create_task(self._authenticate(name, c)) for name, c in clients.items()]
            stack.push_async_callback(_cancel_all, auth)
            probes = [asyncio.create_task(probe_sinks_forever(router))]
            stack.push_async_callback(_cancel_all, probes)
            # Queued backfill jobs (`backfill --queue`) run next to the live streams and stop with them.
            self.backfills = BackfillWorker(
                settings, store, clients, router, owner=self.owner, stopping=self.supervisor.stopping
            )
            stack.push_async_callback(self.backfills.join, settings.daemon.shutdown_grace)
            self.backfills.start()
            if self._stop_requested:
                self.supervisor.stop()
            log.info(
                "Collector daemon %s is running %d streams of %d tenants.",
                self.owner,
                len(self.supervisor.keys),
                len(clients),
                extra={"owner": self.owner},
            )
            self.started.set()
            await self.supervisor.run()
            log.info("Collector daemon %s stopped cleanly.", self.owner, extra={"owner": self.owner})
        return 0

    # --- pieces -----------------------------------------------------------------------------------

    def _register_readiness(self, store: StateStore, clients: dict[str, MimecastClient]) -> None:
        self.health.set_flag("config", True)

        async def state_store() -> tuple[bool, str]:
            try:
                await wait_for(store.ping(), seconds=5)
            except Exception as exc:
                return False, f"state store unreachable ({type(exc).__name__})"
            return True, ""

        self.health.add_check("state_store", state_store)
        for name in clients:
            self.health.set_flag(f"auth:{name}", False, "not authenticated yet")

    async def _authenticate(self, name: str, client: MimecastClient) -> None:
        """Authenticate each tenant once for readiness; retry with backoff (and jitter) until it works."""
        backoff = Backoff(initial=1.0, maximum=self.settings.daemon.stream_backoff_max.total_seconds())
        failures = 0
        while True:
            try:
                await client.authenticate()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.health.set_flag(f"auth:{name}", False, f"authentication failed ({type(exc).__name__})")
                failures += 1
                delay = backoff.delay(failures)
                log.warning(
                    "Tenant %s could not authenticate (%s); retrying in %.1f s.",
                    name,
                    type(exc).__name__,
                    delay,
                    extra={"tenant": name},
                )
                await asyncio.sleep(delay)
                continue
            self.health.set_flag(f"auth:{name}", True)
            return

    async def _serve_http(self, stack: contextlib.AsyncExitStack) -> None:
        app = build_health_app(self.health)
        assert self.services is not None
        for configure in self.app_configurators:
            result = configure(app, self.services)
            if inspect.isawaitable(result):
                await result
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        server = self.settings.server
        site = web.TCPSite(runner, server.host, server.port)
        try:
            await site.start()
        except OSError as exc:
            raise PortUnavailable(server.host, server.port, exc) from None
        addresses = runner.addresses
        self.port = int(addresses[0][1]) if addresses else server.port
        if self.port_file is not None:
            tmp = self.port_file.with_name(self.port_file.name + ".tmp")
            tmp.write_text(f"{self.port}\n")
            tmp.replace(self.port_file)
        log.info(
            "Serving /metrics, /healthz and /readyz on http://%s:%d.",
            server.host,
            self.port,
            extra={"port": self.port},
        )

    def _install_signal_handlers(self, stack: contextlib.AsyncExitStack) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix or not main thread
                continue
            stack.callback(loop.remove_signal_handler, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info(
            "Received %s; finishing in-flight windows, then stopping (send it again to abort deliveries).",
            sig.name,
        )
        self.stop()


async def probe_sinks_forever(router: Router, interval: float = SINK_PROBE_INTERVAL) -> None:
    """Keep ``mimecast_siem_sink_up`` current even while a sink has nothing to send."""
    while True:
        await asyncio.sleep(interval)
        try:
            results = await router.healthcheck()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a probe must never take the daemon down
            log.warning("Sink health probe failed: %s", type(exc).__name__)
            continue
        for name, health in results.items():
            if not health.ok:
                log.warning("Sink %s is unhealthy: %s", name, health.detail, extra={"sink": name})


async def _cancel_all(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
