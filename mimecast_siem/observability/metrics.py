"""Every Prometheus metric of mimecast-siem, defined in one place (names and labels in docs/metrics.md).

Use ``metrics()`` to get the process-wide instance; tests call ``reset_metrics()`` to get a fresh
registry. Label values must be bounded: tenant, stream, sink, endpoint *name* (a path template),
status class, action name, outcome - never URLs, ids, addresses or free text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# No ``*_created`` series: they double the series count of every counter and histogram and no alert
# or dashboard of ours reads them (process-wide switch of prometheus_client).
disable_created_metrics()  # type: ignore[no-untyped-call]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class Metrics:
    """All metrics, bound to one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        p = "mimecast_siem_"
        # --- pipeline
        self.events_fetched = Counter(
            p + "events_fetched_total", "Records fetched from Mimecast.", ["tenant", "stream"], registry=r
        )
        self.events_delivered = Counter(
            p + "events_delivered_total", "Events accepted by a sink.", ["tenant", "stream", "sink"], registry=r
        )
        self.events_sent = Counter(
            p + "events_sent_total",
            "Events a sink sent without any delivery feedback (syslog over UDP): sent, not known delivered.",
            ["tenant", "stream", "sink"],
            registry=r,
        )
        self.events_dead_lettered = Counter(
            p + "events_dead_lettered_total",
            "Events a sink refused permanently, written to the dead-letter file.",
            ["tenant", "stream", "sink"],
            registry=r,
        )
        self.events_deduplicated = Counter(
            p + "events_deduplicated_total",
            "Events dropped because their id was already delivered (overlap re-reads).",
            ["tenant", "stream"],
            registry=r,
        )
        self.windows_in_flight = Gauge(
            p + "windows_in_flight", "Windows being fetched or delivered now.", ["tenant", "stream"], registry=r
        )
        self.late_arrivals = Counter(
            p + "late_arrivals_total",
            "Records that became visible after their window was read: bound=within (caught by the overlap "
            "re-read) or bound=after (after lag + overlap; found by the late-arrival audit).",
            ["tenant", "stream", "bound"],
            registry=r,
        )
        self.in_window_commits = Counter(
            p + "in_window_commits_total",
            "Checkpoints committed inside a window (every redelivery_pages pages of an oldest-first walk).",
            ["tenant", "stream"],
            registry=r,
        )
        self.windows_completed = Counter(
            p + "windows_completed_total",
            "Windows delivered and committed.",
            ["tenant", "stream", "mode"],
            registry=r,
        )
        self.poll_errors = Counter(
            p + "poll_errors_total", "Failed poll cycles by error kind.", ["tenant", "stream", "kind"], registry=r
        )
        self.lease_owned = Gauge(
            p + "lease_owned",
            "1 when this instance holds the lease of (tenant, stream).",
            ["tenant", "stream"],
            registry=r,
        )
        # --- Mimecast API
        self.api_requests = Counter(
            p + "api_requests_total", "Mimecast API requests.", ["tenant", "endpoint", "status_class"], registry=r
        )
        self.api_request_duration = Histogram(
            p + "api_request_duration_seconds",
            "Mimecast API request latency.",
            ["tenant", "endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.api_rate_limited = Counter(
            p + "api_rate_limited_total", "HTTP 429 answers from Mimecast.", ["tenant"], registry=r
        )
        self.api_backoff_seconds = Counter(
            p + "api_backoff_seconds_total",
            "Seconds spent waiting because of rate limits or retries.",
            ["tenant", "reason"],
            registry=r,
        )
        self.api_retries = Counter(
            p + "api_retries_total", "Retried Mimecast requests by reason.", ["tenant", "reason"], registry=r
        )
        self.token_refreshes = Counter(
            p + "token_refreshes_total", "OAuth2 access tokens obtained.", ["tenant"], registry=r
        )
        self.auth_failures = Counter(
            p + "auth_failures_total",
            "Refused authentications (token endpoint or 401 after refresh).",
            ["tenant"],
            registry=r,
        )
        # --- sinks
        self.sink_send_duration = Histogram(
            p + "sink_send_duration_seconds",
            "Time for a sink to accept one batch.",
            ["sink"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.sink_batch_events = Histogram(
            p + "sink_batch_events",
            "Events per batch sent to a sink.",
            ["sink"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.sink_bytes = Counter(
            p + "sink_bytes_total",
            "Encoded bytes of the batches a sink accepted (for HEC: request bodies on the wire, retried attempts "
            "included).",
            ["sink"],
            registry=r,
        )
        self.sink_errors = Counter(
            p + "sink_errors_total",
            "Sink failures by kind (transient, permanent, rejected).",
            ["sink", "kind"],
            registry=r,
        )
        # --- durable per-sink queues (sinks/queue.py)
        self.queue_events = Gauge(
            p + "queue_events", "Events in the sink's durable queue, not yet delivered.", ["sink"], registry=r
        )
        self.queue_bytes = Gauge(
            p + "queue_bytes", "Bytes of the sink's durable queue not yet delivered.", ["sink"], registry=r
        )
        self.queue_oldest_age = Gauge(
            p + "queue_oldest_age_seconds",
            "Age of the oldest event in the sink's durable queue (0 when empty).",
            ["sink"],
            registry=r,
        )
        self.queue_enqueued = Counter(
            p + "queue_enqueued_events_total", "Events written durably to the sink's queue.", ["sink"], registry=r
        )
        self.queue_drained = Counter(
            p + "queue_drained_events_total",
            "Events the sink took off its queue (delivered or dead-lettered); its rate is the drain rate.",
            ["sink"],
            registry=r,
        )
        self.queue_dropped = Counter(
            p + "queue_dropped_events_total",
            "Events dropped because the sink's queue was full (when_full: drop_newest).",
            ["sink"],
            registry=r,
        )
        self.queue_corrupt = Counter(
            p + "queue_corrupt_records_total",
            "Damaged regions of a queue segment (bad CRC, torn tail) moved to the dead letters.",
            ["sink"],
            registry=r,
        )
        self.sink_up = Gauge(p + "sink_up", "1 when the sink's last health check passed.", ["sink"], registry=r)
        self.sink_connections = Counter(
            p + "sink_connections_total",
            "Connection events of connection-based sinks (syslog) by result: opened, failed (to connect), lost (mid-send).",
            ["sink", "result"],
            registry=r,
        )
        self.sink_messages_replayed = Counter(
            p + "sink_messages_replayed_total",
            "Messages a syslog sink sent again after the receiver reset the connection (replay_bytes).",
            ["sink"],
            registry=r,
        )
        self.sink_messages_truncated = Counter(
            p + "sink_messages_truncated_total",
            "Messages cut to a sink's size ceiling (syslog max_message_bytes).",
            ["sink"],
            registry=r,
        )
        # --- gauge streams
        self.held_messages = Gauge(
            p + "held_messages", "Messages currently held, by hold policy.", ["tenant", "policy"], registry=r
        )
        self.email_queue_messages = Gauge(
            p + "email_queue_messages",
            "Messages in the Mimecast email queues.",
            ["tenant", "direction"],
            registry=r,
        )
        # --- SIEM logs
        self.siem_files = Counter(
            p + "siem_files_total",
            "SIEM batch files by outcome: listed, downloaded, expired (URL answered 403/404), failed.",
            ["tenant", "stream", "outcome"],
            registry=r,
        )
        self.siem_file_bytes = Counter(
            p + "siem_file_bytes_total",
            "Compressed bytes of SIEM batch files downloaded.",
            ["tenant", "stream"],
            registry=r,
        )
        self.siem_corrupt_lines = Counter(
            p + "siem_corrupt_lines_total",
            "SIEM file lines that were not JSON objects (written to the dead letters).",
            ["tenant", "stream"],
            registry=r,
        )
        self.siem_gap_seconds = Counter(
            p + "siem_gap_seconds_total",
            "Seconds of SIEM logs no longer served when collection resumed (24 h stream window, 7-day files).",
            ["tenant", "stream"],
            registry=r,
        )
        self.siem_cursor_resets = Counter(
            p + "siem_cursor_resets_total",
            "SIEM stream cursors replaced by a time-based query: expired, rejected, stalled.",
            ["tenant", "stream", "reason"],
            registry=r,
        )
        # --- actions
        self.action_calls = Counter(
            p + "action_calls_total", "Response-action calls by outcome.", ["action", "outcome"], registry=r
        )
        self.action_duration = Histogram(
            p + "action_duration_seconds",
            "Response-action latency.",
            ["action"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        # --- backfill
        self.backfill_windows = Counter(
            p + "backfill_windows_total", "Backfill windows finished.", ["tenant", "stream"], registry=r
        )
        self.backfill_events = Counter(
            p + "backfill_events_total", "Events delivered by backfill windows.", ["tenant", "stream"], registry=r
        )
        self.backfill_runs = Counter(
            p + "backfill_runs_total",
            "Backfill runs (daemon or CLI) by how they ended: done, cancelled, failed, interrupted, lease_lost.",
            ["tenant", "ending"],
            registry=r,
        )
        self.backfill_running = Gauge(
            p + "backfill_running", "Backfill jobs this process is running now.", ["tenant"], registry=r
        )
        self.backfill_windows_remaining = Gauge(
            p + "backfill_windows_remaining",
            "Windows the backfill jobs this process runs still have to deliver.",
            ["tenant"],
            registry=r,
        )
        # --- process
        self.build_info = Info(p + "build", "Version of mimecast-siem.", registry=r)
        self.last_poll_timestamp = Gauge(
            p + "last_poll_timestamp_seconds",
            "Unix time of the last completed poll.",
            ["tenant", "stream"],
            registry=r,
        )
        self._lag = _CheckpointLagCollector()
        r.register(self._lag)
        self._budget = _RequestBudgetCollector()
        r.register(self._budget)
        # Standard process and Python runtime metrics (process_*, python_info, python_gc_*) on our registry.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)

    def set_checkpoint_source(self, source: Callable[[], dict[tuple[str, str], float]] | None) -> None:
        """Register a callable returning {(tenant, stream): checkpoint unix time}; lag is computed at scrape."""
        self._lag.source = source

    def set_budget_source(self, source: Callable[[], Mapping[str, Any]] | None) -> None:
        """Register a callable returning {tenant: its rate limiter}; budget use is read at scrape."""
        self._budget.source = source


class _CheckpointLagCollector(Collector):
    """``mimecast_siem_checkpoint_lag_seconds``: now minus the checkpoint, computed at scrape time."""

    def __init__(self) -> None:
        self.source: Callable[[], dict[tuple[str, str], float]] | None = None

    def describe(self) -> list[GaugeMetricFamily]:
        return [self._family()]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "mimecast_siem_checkpoint_lag_seconds",
            "Seconds between now and the stream's committed checkpoint.",
            labels=["tenant", "stream"],
        )

    def collect(self) -> list[GaugeMetricFamily]:
        fam = self._family()
        if self.source is not None:
            now = time.time()
            try:
                values = self.source()
            except Exception:  # a broken state store must not break /metrics
                values = {}
            for (tenant, stream), ts in sorted(values.items()):
                fam.add_metric([tenant, stream], max(0.0, now - ts))
        return [fam]


class _RequestBudgetCollector(Collector):
    """Per-tenant use of the Mimecast request budget, read from each tenant's rate limiter at scrape time.

    ``api_requests_in_flight`` / ``api_concurrency_limit`` is ``api_budget_used_ratio`` (1 = every slot
    the limiter allows is busy); ``api_requests_waiting`` counts callers queued for a slot and
    ``api_rate_limit_episode`` is 1 during a rate-limit episode (from a 429 until a request succeeds).
    """

    def __init__(self) -> None:
        self.source: Callable[[], Mapping[str, Any]] | None = None

    def describe(self) -> list[GaugeMetricFamily]:
        return list(self._families().values())

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        p = "mimecast_siem_api_"
        specs = {
            "in_flight": ("requests_in_flight", "Mimecast requests in flight (holding a rate-limiter slot)."),
            "limit": ("concurrency_limit", "Concurrent requests the tenant's rate limiter allows now."),
            "used": ("budget_used_ratio", "Share of the tenant's request slots in use (in flight / limit)."),
            "waiting": ("requests_waiting", "Requests queued for a rate-limiter slot."),
            "limited": ("rate_limit_episode", "1 during a rate-limit episode of the tenant's API application."),
        }
        return {key: GaugeMetricFamily(p + name, text, labels=["tenant"]) for key, (name, text) in specs.items()}

    def collect(self) -> list[GaugeMetricFamily]:
        families = self._families()
        limiters: Mapping[str, Any] = {}
        if self.source is not None:
            try:
                limiters = self.source()
            except Exception:  # a broken source must not break /metrics
                limiters = {}
        for tenant, limiter in sorted(limiters.items()):
            try:
                in_flight = float(limiter.in_flight)
                limit = float(limiter.concurrency_now)
                waiting = float(limiter.waiting)
                limited = 1.0 if limiter.rate_limited else 0.0
            except Exception:  # noqa: S112 - a limiter without these properties is skipped, not fatal
                continue
            families["in_flight"].add_metric([tenant], in_flight)
            families["limit"].add_metric([tenant], limit)
            families["used"].add_metric([tenant], in_flight / limit if limit > 0 else 0.0)
            families["waiting"].add_metric([tenant], waiting)
            families["limited"].add_metric([tenant], limited)
        return list(families.values())


_current: Metrics | None = None


def metrics() -> Metrics:
    """The process-wide metrics instance (created on first use)."""
    global _current
    if _current is None:
        _current = Metrics()
    return _current


def reset_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """Replace the process-wide instance with a fresh one (tests, and each daemon start)."""
    global _current
    _current = Metrics(registry)
    return _current


def status_class(status: int | None) -> str:
    """Bounded label for an HTTP status: 2xx, 3xx, 4xx, 429, 5xx, or error (no response)."""
    if status is None:
        return "error"
    if status == 429:
        return "429"
    return f"{status // 100}xx"
