"""The supervisor: one :class:`StreamTask` per (tenant, stream) this instance holds a lease for.

Every ``lease_ttl / 3`` it renews the leases it holds (a key it failed to renew is stopped - another
replica may own it now, and the store's fencing rejects our commits anyway), tries to acquire the
keys nobody holds (a dead replica's keys become free after the TTL), restarts tasks that ended, and
prunes old seen ids. A failing stream backs off inside its own task without touching the others.

Shutdown (:meth:`Supervisor.stop`): no new windows start; in-flight windows finish delivery and
commit while their leases keep being renewed (until each stream's last commit or the end of
``shutdown_grace``, whichever comes first); after ``shutdown_grace`` whatever is still running is
cancelled and logged as abandoned (uncommitted, so it is re-read on the next start); the leases are
released so another replica takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mimecast_siem.aio import wait_for
from mimecast_siem.checkpoints import StateStore
from mimecast_siem.collector.pipeline import EventRouter, PageSource, StreamContext
from mimecast_siem.collector.task import LeaseTerm, StreamTask
from mimecast_siem.config.models import Settings
from mimecast_siem.mimecast import Priority
from mimecast_siem.observability.health import HealthState
from mimecast_siem.observability.metrics import Metrics, metrics
from mimecast_siem.streams import CATALOGUE
from mimecast_siem.times import utc_now

log = logging.getLogger("mimecast_siem.collector")

Key = tuple[str, str]
SUPERVISOR_LOOP = "supervisor"


def stream_loop_name(key: Key) -> str:
    """The liveness loop name of a stream task (``stream:<tenant>:<stream>``)."""
    return f"stream:{key[0]}:{key[1]}"


@dataclass(slots=True)
class _Running:
    task: StreamTask
    handle: asyncio.Task[str]


@dataclass(slots=True)
class SupervisorStatus:
    """What the supervisor is doing (progress displays and tests read it)."""

    owned: set[Key] = field(default_factory=set)
    failing: dict[Key, str] = field(default_factory=dict)


class Supervisor:
    """Runs the stream tasks of every enabled (tenant, stream) that this instance can lease.

    Args:
        settings: the daemon's settings.
        store: the state store (leases, checkpoints, seen ids, snapshots).
        clients: Mimecast client per tenant name (opened by the caller).
        router: the sinks router.
        owner: this instance's lease owner id.
        health: liveness/readiness registry (the supervisor ticks ``supervisor``).
        clock: the current time (UTC-aware).
        metrics_: metrics to record into.
    """

    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        clients: Mapping[str, PageSource],
        router: EventRouter,
        *,
        owner: str,
        health: HealthState | None = None,
        clock: Callable[[], datetime] = utc_now,
        metrics_: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clients = clients
        self.router = router
        self.owner = owner
        self.health = health
        self.clock = clock
        self._metrics = metrics_
        self.ttl = settings.state.lease_ttl
        self.stopping = asyncio.Event()
        self._running: dict[Key, _Running] = {}
        self._epochs: dict[Key, int | None] = {}
        self._last_prune = 0.0
        self.keys: list[Key] = [
            (t.name, s)
            for t in settings.tenants
            if t.enabled and t.name in clients
            for s in settings.enabled_streams(t)
        ]

    @property
    def metrics(self) -> Metrics:
        """Metrics in use."""
        return self._metrics or metrics()

    def status(self) -> SupervisorStatus:
        """Keys owned now and the streams that are failing (with their last error)."""
        st = SupervisorStatus(owned=set(self._running))
        for key, running in self._running.items():
            if running.task.last_error:
                st.failing[key] = running.task.last_error
        return st

    def checkpoint_times(self) -> dict[Key, float]:
        """Committed checkpoints of the keys this instance owns (for the lag metric; no I/O)."""
        times = self.store.checkpoint_times()
        return {k: v for k, v in times.items() if k in self._running}

    async def run(self) -> None:
        """Supervise until :meth:`stop`; then shut the tasks down gracefully and release the leases."""
        interval = max(self.ttl.total_seconds() / 3.0, 0.2)
        if self.health is not None:
            self.health.register_loop(SUPERVISOR_LOOP, max_age=max(60.0, 3 * interval))
        log.info(
            "Supervisor %s started for %d streams (lease TTL %.0f s).",
            self.owner,
            len(self.keys),
            self.ttl.total_seconds(),
            extra={"owner": self.owner},
        )
        try:
            while not self.stopping.is_set():
                try:
                    await self.tick()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a state-store outage must not end the daemon
                    log.warning(
                        "Supervisor cycle failed (%s: %s); retrying.",
                        type(exc).__name__,
                        exc,
                        extra={"owner": self.owner},
                    )
                with contextlib.suppress(TimeoutError):
                    await wait_for(self.stopping.wait(), seconds=interval)
        finally:
            await self._shutdown()

    def stop(self) -> None:
        """Ask for a graceful shutdown (idempotent; safe from a signal handler)."""
        self.stopping.set()

    async def tick(self) -> None:
        """One supervision cycle: reap, renew, acquire, prune."""
        if self.health is not None:
            self.health.tick(SUPERVISOR_LOOP)
        self._reap()
        if self._running:
            held = await self.store.renew(self.owner, list(self._running), self.ttl)
            for key in [k for k in self._running if k not in held]:
                log.warning(
                    "Lease of stream %s of tenant %s could not be renewed; stopping it.",
                    key[1],
                    key[0],
                    extra={"tenant": key[0], "stream": key[1]},
                )
                self.metrics.poll_errors.labels(tenant=key[0], stream=key[1], kind="lease_lost").inc()
                await self._stop_task(key)
        for key in self.keys:
            if key in self._running or self.stopping.is_set():
                continue
            lease = await self.store.acquire_lease(key[0], key[1], self.owner, self.ttl)
            if lease is None:
                self.metrics.lease_owned.labels(tenant=key[0], stream=key[1]).set(0)
                continue
            self._start_task(key, lease.epoch)
        await self._prune_seen()

    # --- tasks ------------------------------------------------------------------------------------

    def _start_task(self, key: Key, epoch: int | None) -> None:
        tenant_name, stream = key
        tenant = self.settings.tenant(tenant_name)
        ctx = StreamContext(
            tenant=tenant_name,
            spec=CATALOGUE[stream],
            settings=self.settings.stream_settings(tenant, stream),
            client=self.clients[tenant_name],
            router=self.router,
            priority=Priority.LIVE,
            mode="live",
            metrics_=self._metrics,
        )
        heartbeat = None
        if self.health is not None:
            # Allowed gap between two ticks: the longest pause the loop takes on purpose (poll
            # interval, failure backoff) plus the stall timeout for one page or one delivery.
            pause = max(ctx.settings.poll_interval, self.settings.daemon.stream_backoff_max)
            loop_name = stream_loop_name(key)
            self.health.register_loop(
                loop_name,
                max_age=(pause + self.settings.daemon.stall_timeout).total_seconds(),
                waiting=lambda: self.waiting_reason(key),
            )
            heartbeat = functools.partial(self.health.tick, loop_name)
        task = StreamTask(
            ctx,
            self.store,
            LeaseTerm(self.owner, epoch),
            stopping=self.stopping,
            backoff_max=self.settings.daemon.stream_backoff_max,
            clock=self.clock,
            heartbeat=heartbeat,
            siem=tenant.siem,
        )
        handle = asyncio.create_task(task.run(), name=stream_loop_name(key))
        self._running[key] = _Running(task, handle)
        self.metrics.lease_owned.labels(tenant=tenant_name, stream=stream).set(1)
        self._initialise_counters(tenant_name, stream)
        log.info(
            "Acquired the lease of stream %s of tenant %s (epoch %s); polling it.",
            stream,
            tenant_name,
            epoch,
            extra={"tenant": tenant_name, "stream": stream, "owner": self.owner},
        )

    def _initialise_counters(self, tenant: str, stream: str) -> None:
        """Expose the stream's counters at 0 from the start, so rate() and alerts see them at once."""
        m = self.metrics
        m.events_fetched.labels(tenant=tenant, stream=stream)
        m.events_deduplicated.labels(tenant=tenant, stream=stream)
        m.windows_completed.labels(tenant=tenant, stream=stream, mode="live")
        for sink in self.settings.sinks_for(tenant, stream):
            m.events_delivered.labels(tenant=tenant, stream=stream, sink=sink.name)
            m.events_dead_lettered.labels(tenant=tenant, stream=stream, sink=sink.name)
        if CATALOGUE[stream].kind == "siem":
            for outcome in ("listed", "downloaded", "expired", "failed"):
                m.siem_files.labels(tenant=tenant, stream=stream, outcome=outcome)
            m.siem_file_bytes.labels(tenant=tenant, stream=stream)
            m.siem_corrupt_lines.labels(tenant=tenant, stream=stream)
            m.siem_gap_seconds.labels(tenant=tenant, stream=stream)
            for reason in ("expired", "rejected", "stalled"):
                m.siem_cursor_resets.labels(tenant=tenant, stream=stream, reason=reason)

    def waiting_reason(self, key: Key) -> str | None:
        """Why the stream task of ``key`` may legitimately make no progress now, or ``None``.

        A routed sink the router reports down (delivery is retried until it comes back) or a
        Mimecast rate-limit episode of the tenant's app: liveness reports the loop as waiting
        rather than stuck, because restarting the pod would fix neither.
        """
        tenant, stream = key
        status = getattr(self.router, "status", None)
        routed = getattr(self.router, "routed_sinks", None)
        if callable(status) and callable(routed):
            sinks = status()
            down = [name for name in routed(tenant, stream) if name in sinks and sinks[name].up is False]
            if down:
                return f"sink {', '.join(down)} is failing; delivery is being retried"
        limiter = getattr(self.clients.get(tenant), "limiter", None)
        if limiter is not None and getattr(limiter, "rate_limited", False):
            return f"Mimecast is rate-limiting tenant {tenant}"
        return None

    def _forget(self, key: Key) -> None:
        self.metrics.lease_owned.labels(tenant=key[0], stream=key[1]).set(0)
        if self.health is not None:
            self.health.unregister_loop(stream_loop_name(key))

    def _reap(self) -> None:
        """Forget tasks that ended (lease lost, or an unexpected crash) so their keys are retried."""
        for key, running in list(self._running.items()):
            if not running.handle.done():
                continue
            del self._running[key]
            self._forget(key)
            if running.handle.cancelled():
                continue
            exc = running.handle.exception()
            if exc is not None:
                log.error(
                    "Task of stream %s of tenant %s crashed (%s: %s); it will be restarted.",
                    key[1],
                    key[0],
                    type(exc).__name__,
                    exc,
                    extra={"tenant": key[0], "stream": key[1]},
                )

    async def _stop_task(self, key: Key) -> None:
        running = self._running.pop(key, None)
        if running is None:
            return
        running.handle.cancel()
        await asyncio.gather(running.handle, return_exceptions=True)
        self._forget(key)

    async def _prune_seen(self) -> None:
        """Drop seen ids no overlap re-read can reach any more (at most every 5 minutes).

        Each stream's horizon is relative to its *own* checkpoint (never later than now), not to now:
        a stream that is catching up days behind still re-reads its overlap. Not to the oldest
        checkpoint in the store either: a stream removed from the configuration keeps its old
        checkpoint, and every other stream's ids would then be kept for as long. Pruning covers every
        checkpoint in the store (every replica's streams share the table).
        """
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_prune < 300:
            return
        self._last_prune = loop.time()
        margin = max(
            [self.settings.state.seen_id_retention]
            + [self.settings.stream_settings(self.settings.tenant(t), s).overlap * 2 for t, s in self.keys]
        )
        now = self.clock()
        horizons = {
            (row.tenant, row.stream): min(row.window_end, now) - margin - timedelta(hours=1)
            for row in await self.store.list_checkpoints()
        }
        removed = await self.store.prune_seen_of(horizons)
        if removed:
            log.info("Pruned %d seen event ids that no overlap re-read can reach.", removed)

    async def _shutdown(self) -> None:
        grace = self.settings.daemon.shutdown_grace.total_seconds()
        running = {key: r for key, r in self._running.items() if not r.handle.done()}
        if running:
            log.info(
                "Shutting down: finishing in-flight windows of %d streams (grace %.0f s); their leases are renewed "
                "until each commits or the grace ends.",
                len(running),
                grace,
            )
            # The leases must outlive the last commit: without renewal a grace as long as the lease TTL
            # had a delivered window's commit refused by the store's fencing.
            keeper = asyncio.create_task(self._renew_while_draining(running), name="supervisor-drain-leases")
            try:
                _done, pending = await asyncio.wait([r.handle for r in running.values()], timeout=grace)
            finally:
                keeper.cancel()
                await asyncio.gather(keeper, return_exceptions=True)
            if pending:
                for key, r in running.items():
                    if r.handle in pending:
                        window = r.task.current_window
                        log.warning(
                            "Window %s of stream %s of tenant %s was abandoned at shutdown: the grace of %.0f s "
                            "ended before its delivery finished. It stays uncommitted and is re-read from the "
                            "checkpoint on the next start.",
                            window if window is not None else "(none)",
                            key[1],
                            key[0],
                            grace,
                            extra={"tenant": key[0], "stream": key[1], "abandoned": True},
                        )
                stop = getattr(self.router, "stop", None)
                if callable(stop):
                    stop()
                for handle in pending:
                    handle.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        keys = list(self._running)
        self._running.clear()
        for key in keys:
            self._forget(key)
        if self.health is not None:
            self.health.unregister_loop(SUPERVISOR_LOOP)
        try:
            await self.store.release(self.owner, keys)
        except Exception as exc:
            log.warning("Could not release leases on shutdown (%s); they expire after the TTL.", type(exc).__name__)

    async def _renew_while_draining(self, running: Mapping[Key, _Running]) -> None:
        """Renew the leases of the streams still finishing a window, every ``lease_ttl / 3``, until all ended."""
        interval = max(self.ttl.total_seconds() / 3.0, 0.2)
        while True:
            keys = [key for key, r in running.items() if not r.handle.done()]
            if not keys:
                return
            try:
                held = await self.store.renew(self.owner, keys, self.ttl)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a state-store hiccup: try again at the next interval
                log.warning("Could not renew leases while shutting down (%s); retrying.", type(exc).__name__)
            else:
                for key in keys:
                    if key not in held:
                        log.warning(
                            "Lease of stream %s of tenant %s could not be renewed during shutdown; its window in "
                            "flight cannot be committed and is re-read on the next start.",
                            key[1],
                            key[0],
                            extra={"tenant": key[0], "stream": key[1]},
                        )
            await asyncio.sleep(interval)


def supervised_keys(settings: Settings, tenants: Sequence[str] | None = None) -> list[Key]:
    """Every enabled (tenant, stream) of ``settings`` (optionally of some tenants only)."""
    return [
        (t.name, s)
        for t in settings.tenants
        if t.enabled and (tenants is None or t.name in tenants)
        for s in settings.enabled_streams(t)
    ]
