"""The router: the delivery contract between the collector and the sinks.

``await router.deliver(tenant, stream, events)`` returns only when EVERY routed sink has accepted
EVERY event - or has refused some permanently and those are safely in the dead-letter file. The
collector commits its checkpoint only after that.

Per routed sink (all sinks concurrently, batches of one sink in order):

* the events are cut into batches bounded by the sink's ``batch_max_events`` and ``batch_max_bytes``
  (an estimate of the encoded size; a single oversized event still travels, alone). A sink class
  that sets ``bounds_own_bytes = True`` bounds what it writes by the real encoded size itself (HEC
  packs requests, syslog caps each message, the file sink has no limit to keep): its batches are
  cut by ``batch_max_events`` only, sparing the estimate's extra serialisation of every event;
* a transient failure (:class:`SinkTransientError`, network errors, or any unexpected exception of a
  sink) retries the SAME batch with exponential backoff and jitter, indefinitely, until
  :meth:`Router.stop` - then :class:`DeliveryAborted` is raised so the caller does not commit;
* a permanent failure of the whole batch (:class:`SinkPermanentError`) dead-letters the batch with the
  reason, marks the sink down (``mimecast_siem_sink_up`` 0, ``sink_errors_total{kind="permanent"}``)
  and moves on - a misconfigured sink never wedges the pipeline, and nothing is dropped silently;
* events the sink rejects one by one go to the dead-letter file; they count as handled once fsync'd;
* a sink whose transport gives no delivery feedback (syslog over UDP) returns ``confirmed=False``:
  its events count as *sent* (``events_sent_total``, ``SinkOutcome.sent``), never as delivered;
* a sink with a durable queue (``queue.enabled``) counts as done once the events are fsync'd in its
  queue (``SinkOutcome.queued``); a background task per such sink drains the queue in order through
  the same batches, retries and dead-letter rules (:mod:`mimecast_siem.sinks.queueing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from mimecast_siem.aio import wait_for
from mimecast_siem.backoff import Backoff
from mimecast_siem.config.models import SinkSettings
from mimecast_siem.errors import ConfigError, ConfigProblem, MimecastSiemError
from mimecast_siem.events import Event
from mimecast_siem.observability.metrics import Metrics, metrics
from mimecast_siem.sinks.base import Rejection, Sink, SinkHealth, SinkPermanentError
from mimecast_siem.sinks.deadletter_store import DeadLetterStore
from mimecast_siem.sinks.formats.shared import sharing

if TYPE_CHECKING:  # the durable queues are imported only when a sink has one configured (start-up, issue 16)
    from mimecast_siem.sinks.queueing import SinkQueue

log = logging.getLogger("mimecast_siem.sinks")

#: Bytes added per event to the size estimate (envelope, separators, framing).
EVENT_OVERHEAD_BYTES = 64


class DeliveryAborted(MimecastSiemError):
    """The router was stopped while a sink was still failing; the caller must not commit."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter for transient sink failures.

    Attributes:
        initial: first delay in seconds.
        maximum: cap of the delay in seconds.
        multiplier: growth per attempt.
        jitter: fraction of the delay that is randomised away (0 = none, 0.5 = 50-100 % of the delay).
    """

    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5


def backoff_delay(attempt: int, policy: RetryPolicy, rand: float) -> float:
    """Delay before retry number ``attempt`` (1-based; the one rule of ``mimecast_siem/backoff.py``)."""
    return Backoff(policy.initial, policy.maximum, policy.multiplier, policy.jitter).delay(max(attempt, 1), rand)


def estimate_size(event: Event, format_name: str) -> int:
    """Approximate encoded size of ``event``: the JSON size of what the format starts from."""
    source = event.raw if format_name == "raw" else event.document
    try:
        return len(orjson.dumps(source, default=str)) + EVENT_OVERHEAD_BYTES
    except (TypeError, orjson.JSONEncodeError):
        return 1024 + EVENT_OVERHEAD_BYTES


def _no_size(event: Event) -> int:
    return 0


def plan_batches(
    events: Sequence[Event], max_events: int, max_bytes: int, size_of: Callable[[Event], int]
) -> list[list[Event]]:
    """Cut ``events`` into consecutive batches of at most ``max_events`` and ``max_bytes``.

    Order is kept and nothing is dropped: an event larger than ``max_bytes`` forms a batch of its own.
    """
    batches: list[list[Event]] = []
    current: list[Event] = []
    current_bytes = 0
    for event in events:
        size = size_of(event)
        if current and (len(current) >= max_events or current_bytes + size > max_bytes):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(event)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


@dataclass(slots=True)
class SinkOutcome:
    """What one sink did with one ``deliver`` call."""

    delivered: int = 0
    dead_lettered: int = 0
    batches: int = 0
    retries: int = 0
    #: Events sent without delivery feedback (UDP): handed over, not known delivered.
    sent: int = 0
    #: Events written durably to the sink's queue (delivered later by its drainer).
    queued: int = 0
    #: Events dropped because the sink's queue was full (when_full: drop_newest; counted and logged).
    dropped: int = 0


@dataclass(slots=True)
class DeliveryReport:
    """Per-sink outcome of one ``deliver`` call (for the collector's canonical log line)."""

    sinks: dict[str, SinkOutcome] = field(default_factory=dict)

    @property
    def dead_lettered(self) -> int:
        """Events dead-lettered across sinks."""
        return sum(o.dead_lettered for o in self.sinks.values())


@dataclass(slots=True)
class SinkStatus:
    """Health of one sink as the router sees it."""

    up: bool | None = None
    started: bool = False
    last_error: str | None = None


@dataclass(slots=True)
class _Route:
    name: str
    sink: Sink
    settings: SinkSettings
    status: SinkStatus = field(default_factory=SinkStatus)
    start_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    queue: SinkQueue | None = None
    drainer: asyncio.Task[None] | None = None


class Router:
    """Delivers events to the sinks routed for each (tenant, stream).

    Args:
        settings: the daemon's :class:`~mimecast_siem.config.models.Settings` (``sinks``, ``routes``).
        sinks: constructed sinks by name (``build_sinks``); every enabled sink must be present.
        dead_letters: where refused events go (the file, or the state store with PostgreSQL state).
        retry: backoff of transient failures.
        metrics_: metrics to record into (default: the process-wide instance at call time).
        rng: randomness for the jitter (tests pass a seeded one).
    """

    def __init__(
        self,
        settings: Any,
        sinks: Mapping[str, Sink],
        dead_letters: DeadLetterStore,
        *,
        retry: RetryPolicy | None = None,
        metrics_: Metrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._dead_letters = dead_letters
        self._retry = retry or RetryPolicy()
        self._metrics = metrics_
        self._rng = rng or random.Random()
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._warned_unrouted: set[tuple[str, str]] = set()
        by_name = {s.name: s for s in settings.sinks}
        missing = [s.name for s in settings.sinks if s.enabled and s.name not in sinks]
        unknown = [name for name in sinks if name not in by_name]
        if missing or unknown:
            problems = [ConfigProblem(f"sinks.{n}", "enabled sink was not built") for n in missing]
            problems += [ConfigProblem(f"sinks.{n}", "sink is not in the configuration") for n in unknown]
            raise ConfigError("the router's sinks do not match the configuration", problems)
        self._routes = {name: _Route(name, sink, by_name[name]) for name, sink in sinks.items()}
        for route in self._routes.values():
            queue_settings = getattr(route.settings, "queue", None)
            if queue_settings is not None and queue_settings.enabled:
                from mimecast_siem.sinks.queueing import SinkQueue

                route.queue = SinkQueue(route.name, queue_settings, Path(settings.data_dir), self.metrics)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def metrics(self) -> Metrics:
        """Metrics in use (the process-wide instance unless one was given)."""
        return self._metrics or metrics()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping

    async def start(self) -> None:
        """Start every sink; failures are logged and retried on the first delivery."""
        for route in self._routes.values():
            try:
                await self._ensure_started(route)
            except Exception as exc:
                route.status.up = False
                route.status.last_error = _describe(exc)
                self.metrics.sink_up.labels(sink=route.name).set(0)
                log.warning("Sink %s did not start; delivery will retry it: %s", route.name, _describe(exc))
            else:
                # Started but nothing sent yet: up until a health probe or a delivery says otherwise.
                self.metrics.sink_up.labels(sink=route.name).set(1)
        for route in self._routes.values():
            if route.queue is not None and route.drainer is None:
                await route.queue.open()
                route.drainer = asyncio.create_task(self._drain(route, route.queue), name=f"drain-{route.name}")

    def stop(self) -> None:
        """Stop retrying: a sink that fails from now on makes ``deliver`` raise DeliveryAborted.

        Batches already being sent finish; successful deliveries are not interrupted.
        """
        self._stopping = True
        self._stop_event.set()

    async def close(self) -> None:
        """Stop the queue drainers, then close every sink (errors are logged, never raised).

        A batch a drainer was sending is not committed: it is sent again by the next drain (same ids).
        """
        for route in self._routes.values():
            if route.drainer is not None:
                route.drainer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await route.drainer
                route.drainer = None
            if route.queue is not None:
                route.queue.close()
        for route in self._routes.values():
            try:
                await route.sink.close()
            except Exception as exc:
                log.warning("Sink %s did not close cleanly: %s", route.name, _describe(exc))
            route.status.started = False

    async def healthcheck(self, probe_timeout: float = 10.0) -> dict[str, SinkHealth]:
        """Probe every sink concurrently; updates ``mimecast_siem_sink_up``."""

        async def probe(route: _Route) -> SinkHealth:
            try:
                health = await wait_for(route.sink.healthcheck(), probe_timeout)
            except Exception as exc:
                health = SinkHealth(False, _describe(exc))
            route.status.up = health.ok
            if not health.ok:
                route.status.last_error = health.detail
            self.metrics.sink_up.labels(sink=route.name).set(1 if health.ok else 0)
            return health

        routes = list(self._routes.values())
        results = await asyncio.gather(*(probe(r) for r in routes))
        return {r.name: h for r, h in zip(routes, results, strict=True)}

    def status(self) -> dict[str, SinkStatus]:
        """The router's view of every sink (for readiness and progress displays)."""
        return {name: route.status for name, route in self._routes.items()}

    # -- delivery ------------------------------------------------------------------------------

    def routed_sinks(self, tenant: str, stream: str) -> list[str]:
        """Names of the sinks that receive ``stream`` of ``tenant``."""
        return [s.name for s in self._settings.sinks_for(tenant, stream) if s.name in self._routes]

    async def deliver(
        self, tenant: str, stream: str, events: Sequence[Event], *, only: Collection[str] | None = None
    ) -> DeliveryReport:
        """Deliver ``events`` to every routed sink; return when all are accepted or dead-lettered.

        Args:
            tenant: tenant name.
            stream: stream name.
            events: the events.
            only: deliver to these of the routed sinks only (a backfill job for named sinks);
                ``None`` = every routed sink.

        Raises:
            DeliveryAborted: :meth:`stop` was called while a sink was failing. Nothing may be committed.
        """
        report = DeliveryReport()
        if not events:
            return report
        names = self.routed_sinks(tenant, stream)
        if only is not None:
            names = [name for name in names if name in only]
        routes = [self._routes[name] for name in names]
        if not routes:
            if (tenant, stream) not in self._warned_unrouted:
                self._warned_unrouted.add((tenant, stream))
                log.warning(
                    "No sink is routed for stream %s of tenant %s; its events are not forwarded.", stream, tenant
                )
            return report
        # Sinks holding the same encoder (configured alike) share its records and their JSON: each event
        # is encoded once per encoder (formats/shared.py). The scope is entered before gather starts the
        # per-sink tasks, which copy it; nothing else sees it.
        with sharing() if _share_encoding(routes) else contextlib.nullcontext():
            results = await asyncio.gather(
                *(self._deliver_to(route, tenant, stream, events) for route in routes), return_exceptions=True
            )
        failure: BaseException | None = None
        for route, result in zip(routes, results, strict=True):
            if isinstance(result, BaseException):
                if failure is None or isinstance(result, DeliveryAborted):
                    failure = result
            else:
                report.sinks[route.name] = result
        if failure is not None:
            raise failure
        return report

    async def _deliver_to(self, route: _Route, tenant: str, stream: str, events: Sequence[Event]) -> SinkOutcome:
        outcome = SinkOutcome()
        if route.queue is not None:
            await self._enqueue(route, route.queue, events, outcome)
            return outcome
        await self._deliver_batches(route, tenant, stream, events, outcome)
        return outcome

    async def _deliver_batches(
        self, route: _Route, tenant: str, stream: str, events: Sequence[Event], outcome: SinkOutcome
    ) -> None:
        fmt = route.settings.format
        # A sink that bounds its own writes by their real encoded size (bounds_own_bytes) is cut by
        # events only: estimating means serialising every event once more (~10% of the daemon's CPU).
        size_of = _no_size if getattr(route.sink, "bounds_own_bytes", False) else (lambda e: estimate_size(e, fmt))
        batches = plan_batches(events, route.settings.batch_max_events, route.settings.batch_max_bytes, size_of)
        for batch in batches:
            await self._send_batch(route, tenant, stream, batch, outcome)
            outcome.batches += 1

    async def _send_batch(
        self, route: _Route, tenant: str, stream: str, batch: list[Event], outcome: SinkOutcome
    ) -> None:
        m = self.metrics
        attempt = 0
        while True:
            try:
                await self._ensure_started(route)
                started = time.perf_counter()
                result = await route.sink.send(batch)
            except asyncio.CancelledError:
                raise
            except SinkPermanentError as exc:
                reason = f"sink {route.name} refused the whole batch: {exc}"
                self._mark_down(route, exc, kind="permanent")
                log.error(
                    "Sink %s refused a batch of %d %s events permanently; they are dead-lettered: %s",
                    route.name,
                    len(batch),
                    stream,
                    _describe(exc),
                )
                await self._dead_letter(route, [Rejection(e, reason) for e in batch])
                m.events_dead_lettered.labels(tenant=tenant, stream=stream, sink=route.name).inc(len(batch))
                outcome.dead_lettered += len(batch)
                return
            except Exception as exc:
                attempt += 1
                outcome.retries += 1
                self._mark_down(route, exc, kind="transient")
                if self._stopping:
                    raise DeliveryAborted(
                        f"delivery to sink {route.name} aborted by shutdown after a failure: {_describe(exc)}"
                    ) from None
                delay = backoff_delay(attempt, self._retry, self._rng.random())
                log.warning(
                    "Sink %s failed to take a batch of %d %s events (attempt %d); retrying in %.1f s: %s",
                    route.name,
                    len(batch),
                    stream,
                    attempt,
                    delay,
                    _describe(exc),
                )
                await self._pause(delay, route.name)
                continue
            m.sink_send_duration.labels(sink=route.name).observe(time.perf_counter() - started)
            m.sink_batch_events.labels(sink=route.name).observe(len(batch))
            if result.bytes_sent:
                m.sink_bytes.labels(sink=route.name).inc(result.bytes_sent)
            rejected = list(result.rejected)
            if result.accepted + len(rejected) != len(batch):
                log.warning(
                    "Sink %s reported %d accepted and %d rejected for a batch of %d events.",
                    route.name,
                    result.accepted,
                    len(rejected),
                    len(batch),
                )
            if rejected:
                await self._dead_letter(route, rejected)
                m.events_dead_lettered.labels(tenant=tenant, stream=stream, sink=route.name).inc(len(rejected))
                m.sink_errors.labels(sink=route.name, kind="rejected").inc(len(rejected))
                outcome.dead_lettered += len(rejected)
                log.warning(
                    "Sink %s rejected %d of %d %s events; they are dead-lettered (first reason: %s).",
                    route.name,
                    len(rejected),
                    len(batch),
                    stream,
                    rejected[0].reason,
                )
            delivered = len(batch) - len(rejected)
            if result.confirmed:
                m.events_delivered.labels(tenant=tenant, stream=stream, sink=route.name).inc(delivered)
                outcome.delivered += delivered
            else:
                m.events_sent.labels(tenant=tenant, stream=stream, sink=route.name).inc(delivered)
                outcome.sent += delivered
            route.status.up = True
            route.status.last_error = None
            m.sink_up.labels(sink=route.name).set(1)
            return

    async def _enqueue(self, route: _Route, queue: SinkQueue, events: Sequence[Event], outcome: SinkOutcome) -> None:
        """Write the events to the sink's queue; a failing disk is retried like a failing sink."""
        from mimecast_siem.sinks.queueing import QueueBlocked  # loaded with the queue (__init__)

        attempt = 0
        while True:
            try:
                if await queue.enqueue(events, self._stop_event):
                    outcome.queued += len(events)
                else:
                    outcome.dropped += len(events)
                return
            except QueueBlocked as exc:
                raise DeliveryAborted(str(exc)) from None
            except OSError as exc:
                attempt += 1
                if self._stopping:
                    raise DeliveryAborted(f"the queue of sink {route.name} is not writable: {exc}") from None
                delay = backoff_delay(attempt, self._retry, self._rng.random())
                log.error("The queue of sink %s could not be written; retrying in %.1f s: %s", route.name, delay, exc)
                await self._pause(delay, route.name)

    async def _drain(self, route: _Route, queue: SinkQueue) -> None:
        """The sink's drainer: its queue in order, through the usual batches, retries and dead letters."""

        async def send(tenant: str, stream: str, events: list[Event]) -> None:
            await self._deliver_batches(route, tenant, stream, events, SinkOutcome())

        async def dead_letter(rejections: list[Rejection]) -> None:
            await self._dead_letter(route, rejections)

        own = getattr(route.sink, "bounds_own_bytes", False)
        attempt = 0
        while not self._stopping:
            try:
                await queue.drain_forever(
                    send,
                    dead_letter,
                    max_events=route.settings.batch_max_events,
                    max_bytes=1 << 62 if own else route.settings.batch_max_bytes,
                    stopping=self._stop_event,
                )
            except DeliveryAborted:
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The queue's disk failed (or a bug): resume from the committed cursor after a pause.
                attempt += 1
                delay = backoff_delay(attempt, self._retry, self._rng.random())
                log.error(
                    "The queue drainer of sink %s failed; resuming in %.1f s from the last committed batch: %s",
                    route.name,
                    delay,
                    _describe(exc),
                )
                queue.close()
                try:
                    await self._pause(delay, route.name)
                except DeliveryAborted:
                    break
        log.info("Sink %s stopped draining its queue; the rest is drained at the next start.", route.name)

    async def record_unreadable(self, source: str, event: Event, reason: str) -> None:
        """Write an item that could not be read at the source (a corrupt SIEM file line) to the dead letters.

        ``source`` is the entry's sink name (no sink of that name exists, so a replay keeps it).
        """
        await self._dead_letters.write_many(source, [Rejection(event, reason)])

    async def _ensure_started(self, route: _Route) -> None:
        if route.status.started:
            return
        async with route.start_lock:
            if not route.status.started:
                await route.sink.start()
                route.status.started = True

    async def _dead_letter(self, route: _Route, rejections: Iterable[Rejection]) -> None:
        """Write dead letters durably; a failing disk is retried like a failing sink."""
        items = list(rejections)
        attempt = 0
        while True:
            try:
                await self._dead_letters.write_many(route.name, items)
                return
            except OSError as exc:
                attempt += 1
                if self._stopping:
                    raise DeliveryAborted(f"dead-letter file not writable during shutdown: {exc}") from None
                delay = backoff_delay(attempt, self._retry, self._rng.random())
                log.error("The dead-letter file could not be written; retrying in %.1f s: %s", delay, exc)
                await self._pause(delay, route.name)

    def _mark_down(self, route: _Route, exc: BaseException, *, kind: str) -> None:
        route.status.up = False
        route.status.last_error = _describe(exc)
        self.metrics.sink_errors.labels(sink=route.name, kind=kind).inc()
        self.metrics.sink_up.labels(sink=route.name).set(0)

    async def _pause(self, delay: float, sink: str) -> None:
        try:
            await wait_for(self._stop_event.wait(), seconds=delay)
        except TimeoutError:
            return
        raise DeliveryAborted(f"delivery to sink {sink} aborted by shutdown while waiting to retry")


def _share_encoding(routes: Sequence[_Route]) -> bool:
    """True when two of the routes send directly (no queue) through the same encoder instance."""
    if len(routes) < 2:
        return False
    seen: set[int] = set()
    for route in routes:
        encoder = getattr(route.sink, "encoder", None)
        if encoder is None or route.queue is not None:
            continue
        if id(encoder) in seen:
            return True
        seen.add(id(encoder))
    return False


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
