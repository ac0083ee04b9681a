"""Every documented metric, exposed by a real daemon, with the values the simulator and the sinks agree on.

The scenario (``tests/observability/ops_scenario.py``) runs once for this module: a daemon process
against the simulator with three real sinks, a 429 burst, a forced token refresh, a tenant with a
wrong secret, a queued backfill and two action calls. The assertions compare ``/metrics`` with what
the simulator counted, what each sink received, the dead-letter file, the daemon's canonical log
lines, the checkpoints, the backfill job and the action audit - all read between two identical
scrapes, so nothing moved in between. Counters of the tenant with the wrong secret keep moving (it
retries by design) and are checked to lie between the two scrapes.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem import __version__
from mimecast_siem.actions import CATALOGUE
from mimecast_siem.actions.outcome import Outcome
from mimecast_siem.config.models import STREAM_NAMES
from mimecast_siem.observability.metrics import Metrics
from tests.fixtures.receivers import SyslogPki
from tests.observability.ops_scenario import (
    ACME_STREAMS,
    ACTION,
    BACKFILL_STREAM,
    BACKFILL_WINDOWS,
    FORCED_401,
    HEC_BUSY,
    LOG_STREAMS,
    QUEUED_SINK,
    RATE_LIMIT_BURST,
    SINKS,
    UDP_SINK,
    URL_PAGE_SIZE,
    Observed,
    run_scenario,
)
from tests.sinks.hec_receiver import RequestRecord

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOKEN_PATH = "/oauth/token"
PATHS = {
    "ttp-url": "/api/ttp/url/get-logs",
    "ttp-attachment": "/api/ttp/attachment/get-logs",
    "audit": "/api/audit/get-audit-events",
}


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory, syslog_pki: SyslogPki) -> Observed:
    return run_scenario(tmp_path_factory.mktemp("ops-metrics"), syslog_pki)


def _status_class(status: int) -> str:
    return "429" if status == 429 else f"{status // 100}xx"


def _canonical(observed: Observed, stream: str) -> list[dict[str, Any]]:
    """The daemon's one line per committed poll cycle of an acme stream (it names the new checkpoint)."""
    return [
        line
        for line in observed.snapshot.log
        if line.get("tenant") == "acme" and line.get("stream") == stream and {"duration_ms", "checkpoint"} <= set(line)
    ]


def _accepted_hec_bytes(requests: list[RequestRecord]) -> int:
    """Wire bytes of the requests HEC accepted, plus the 503'd attempts of batches it accepted on a retry.

    The router retries the very same batch, so a retry has the same body size as the refused attempt.
    """
    total = 0
    for i, request in enumerate(requests):
        if request.status == 200:
            total += request.wire_bytes
        elif request.status == 503:
            retry = next((r for r in requests[i + 1 :] if r.status != 503 and r.wire_bytes == request.wire_bytes), None)
            assert retry is not None, "a refused attempt was never retried"
            if retry.status == 200:
                total += request.wire_bytes
    return total


def test_the_scenario_ran_as_planned(observed: Observed) -> None:
    assert observed.exit_code == 0, observed.output[-3000:]
    assert observed.action_statuses == {"allowed": 200, "wrong_token": 401}
    stats = observed.snapshot.stats
    assert stats.count(path=PATHS["ttp-url"], status=429) == RATE_LIMIT_BURST
    assert stats.faults["force_401"] == FORCED_401
    assert sum(1 for r in observed.snapshot.hec_requests if r.status == 503) == HEC_BUSY


# --- completeness and label bounds -------------------------------------------------------------------


def _documented() -> list[tuple[str, str]]:
    rows = re.findall(r"^\| `(mimecast_siem_[a-z0-9_]+)` \| (\w+) \|", (ROOT / "docs" / "metrics.md").read_text(), re.M)
    return [(name, kind) for name, kind in rows]


def test_every_documented_metric_is_exposed_with_samples(observed: Observed) -> None:
    documented = _documented()
    assert len(documented) == len([f for f in Metrics().registry.collect() if f.name.startswith("mimecast_siem_")])
    exposed = observed.scrape.names()
    missing = []
    for name, kind in documented:
        sample = {"histogram": name + "_count", "info": name}.get(kind, name)
        if sample not in exposed:
            missing.append(name)
    assert not missing, f"documented but never exposed by the daemon: {missing}"
    assert not any(n.endswith("_created") for n in exposed)
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"} <= exposed


STATUS_CLASSES = {"2xx", "3xx", "4xx", "429", "5xx", "error"}
CLOSED_SETS: dict[str, set[str]] = {
    "tenant": {"acme", "globex"},
    "sink": {*SINKS, QUEUED_SINK, UDP_SINK},
    "stream": set(STREAM_NAMES),
    "status_class": STATUS_CLASSES,
    "mode": {"live", "backfill"},
    "result": {"opened", "failed", "lost"},
    "ending": {"done", "cancelled", "failed", "interrupted", "lease_lost"},
    "direction": {"inbound", "outbound"},
    "outcome": {o.value for o in Outcome},
    "action": {*CATALOGUE, "unknown"},
    "version": {__version__},
    "bound": {"within", "after"},
}
KINDS = {
    "mimecast_siem_poll_errors_total": {
        "auth", "rate_limited", "transient", "permanent", "config", "lease_lost", "delivery_aborted", "internal",
    },
    "mimecast_siem_sink_errors_total": {"transient", "permanent", "rejected"},
}  # fmt: skip
REASONS = {
    "mimecast_siem_api_retries_total": {
        "rate_limited", "reauth", "server_error", "http_4xx", "http_3xx", "malformed", "timeout", "connection",
    },
    "mimecast_siem_api_backoff_seconds_total": {"rate_limit", "retry"},
    "mimecast_siem_siem_cursor_resets_total": {"expired", "rejected", "stalled"},
}  # fmt: skip
#: Metrics whose ``outcome`` label is not an action outcome.
OUTCOMES = {"mimecast_siem_siem_files_total": {"listed", "downloaded", "expired", "failed"}}
UNBOUNDED = re.compile(
    r"://|@|\b\d{1,3}(\.\d{1,3}){3}\b|[0-9a-f]{8}-[0-9a-f]{4}-|[0-9a-f]{16,}|[?&=]|\s{2,}|^\s|\s$", re.I
)


def test_label_values_are_bounded(observed: Observed) -> None:
    seen: dict[str, set[str]] = {}
    for sample in observed.scrape.samples:
        if not sample.name.startswith("mimecast_siem_"):
            continue  # process_* and python_* of prometheus_client (python_info carries the Python version)
        for label, value in sample.labels.items():
            seen.setdefault(label, set()).add(value)
            where = f"{sample.name}{{{label}={value!r}}}"
            if label == "outcome" and sample.name in OUTCOMES:
                assert value in OUTCOMES[sample.name], where
            elif label in CLOSED_SETS:
                assert value in CLOSED_SETS[label], where
            elif label == "kind":
                assert value in KINDS[sample.name], where
            elif label == "reason":
                assert value in REASONS[sample.name], where
            elif label == "endpoint":
                assert re.fullmatch(r"/(oauth/token|(api|siem)(/[a-z0-9-]+)+)|siem-file", value), where
            elif label == "policy":
                assert UNBOUNDED.search(value) is None, where
                assert len(value) <= 128, where
            elif label == "le":
                assert value == "+Inf" or float(value) >= 0, where
            else:
                raise AssertionError(f"label {label!r} has no known bound: {where}")
    # The scenario exercised the labels it was meant to (so the checks above were not vacuous).
    assert {"tenant", "sink", "stream", "endpoint", "status_class", "kind", "reason", "policy", "action"} <= set(seen)
    assert len(seen["policy"]) >= 2


# --- the data path ---------------------------------------------------------------------------------


def test_fetched_events_equal_what_the_simulator_served(observed: Observed) -> None:
    m, stats = observed.scrape, observed.snapshot.stats
    for stream in (*LOG_STREAMS, "held-messages", "email-queues", BACKFILL_STREAM):
        served = stats.served(stream, "client-1")
        assert served > 0, stream
        assert m.one("mimecast_siem_events_fetched_total", tenant="acme", stream=stream) == served, stream
    # The hold summary is also read by the action call; each of the daemon's own polls of it fetched one
    # record per policy (it may have polled it more than once while the scenario waited for late arrivals).
    polls = _canonical(observed, "hold-summary")
    assert polls
    assert all(line["fetched"] == len(observed.hold_summary) for line in polls)
    assert m.one("mimecast_siem_events_fetched_total", tenant="acme", stream="hold-summary") == len(
        observed.hold_summary
    ) * len(polls)
    assert m.value("mimecast_siem_events_fetched_total", tenant="globex") == 0


def test_delivered_and_dead_lettered_events_equal_what_each_sink_holds(observed: Observed) -> None:
    m, snap = observed.scrape, observed.snapshot
    for stream, docs in snap.archive.items():
        assert m.value("mimecast_siem_events_delivered_total", stream=stream, sink="archive") == len(docs), stream
    hec_streams = Counter(e.event["event"]["dataset"] for e in snap.hec_events)
    assert m.one("mimecast_siem_events_delivered_total", tenant="acme", stream="ttp-url", sink="splunk") == len(
        snap.hec_events
    )
    assert set(hec_streams) == {"mimecast.ttp_url"}
    assert m.one("mimecast_siem_events_delivered_total", tenant="acme", stream="ttp-url", sink="siem") == len(
        snap.syslog
    )
    # HEC refused the attachment index for good: every attachment event is in the dead-letter file instead.
    letters = Counter((d.sink, d.event.stream) for d in snap.dead_letters)
    assert letters == {("splunk", "ttp-attachment"): len(snap.archive["ttp-attachment"])}
    assert (
        m.one("mimecast_siem_events_dead_lettered_total", tenant="acme", stream="ttp-attachment", sink="splunk")
        == (letters["splunk", "ttp-attachment"])
    )
    assert m.value("mimecast_siem_events_delivered_total", stream="ttp-attachment", sink="splunk") == 0


def test_udp_events_are_counted_as_sent_never_as_delivered(observed: Observed) -> None:
    m, snap = observed.scrape, observed.snapshot
    sent = m.one("mimecast_siem_events_sent_total", tenant="acme", stream="ttp-attachment", sink=UDP_SINK)
    assert sent == len(snap.archive["ttp-attachment"]) > 0
    assert m.value("mimecast_siem_events_delivered_total", sink=UDP_SINK) == 0
    assert 0 < len(snap.syslog_udp) <= sent  # UDP may lose datagrams: sent, not known delivered
    assert m.one("mimecast_siem_sink_batch_events_sum", sink=UDP_SINK) == sent


def test_in_window_commits_and_late_arrivals_of_ttp_url(observed: Observed) -> None:
    m = observed.scrape
    served = observed.snapshot.stats.served("ttp-url", "client-1")
    # Pages of URL_PAGE_SIZE records: the catch-up windows took several pages each and committed inside.
    assert served > 4 * URL_PAGE_SIZE
    assert m.one("mimecast_siem_in_window_commits_total", tenant="acme", stream="ttp-url") >= 1
    # The records the simulator let appear behind the checkpoint were caught by the overlap re-read.
    assert m.one("mimecast_siem_late_arrivals_total", tenant="acme", stream="ttp-url", bound="within") > 0


def test_one_canonical_line_per_poll_cycle_agrees_with_the_metrics(observed: Observed) -> None:
    m = observed.scrape
    for stream in ACME_STREAMS:
        lines = _canonical(observed, stream)
        assert lines, stream
        for line in lines:
            assert line["logger"] == "mimecast_siem.collector"
            assert line["mode"] == "live"
            assert {"pages", "events", "fetched", "deduplicated", "dead_lettered", "sinks", "checkpoint"} <= set(line)
            if stream in LOG_STREAMS:
                assert line["window_start"] < line["window_end"]
                assert line["fetched"] == line["events"] + line["deduplicated"] + line["out_of_range"]
        assert m.one("mimecast_siem_windows_completed_total", tenant="acme", stream=stream, mode="live") == len(lines)
        assert m.one("mimecast_siem_events_fetched_total", tenant="acme", stream=stream) == sum(
            line["fetched"] for line in lines
        )
        assert m.value("mimecast_siem_events_deduplicated_total", tenant="acme", stream=stream) == sum(
            line["deduplicated"] for line in lines
        )
        per_sink: Counter[str] = Counter()
        for line in lines:
            per_sink.update(line["sinks"])
        for sink in SINKS:
            assert m.value("mimecast_siem_events_delivered_total", stream=stream, sink=sink) == per_sink[sink], (
                stream,
                sink,
            )


def test_backfill_metrics_equal_the_job_in_the_state_store(observed: Observed) -> None:
    m, snap = observed.scrape, observed.snapshot
    (job,) = snap.backfill
    assert job.windows_done == job.windows_total == BACKFILL_WINDOWS
    assert m.one("mimecast_siem_backfill_windows_total", tenant="acme", stream=BACKFILL_STREAM) == BACKFILL_WINDOWS
    assert m.one("mimecast_siem_windows_completed_total", tenant="acme", stream=BACKFILL_STREAM, mode="backfill") == (
        BACKFILL_WINDOWS
    )
    assert job.events == len(snap.archive[BACKFILL_STREAM]) > 0
    assert (
        m.one("mimecast_siem_events_delivered_total", tenant="acme", stream=BACKFILL_STREAM, sink="archive")
        == job.events
    )
    assert not _canonical(observed, BACKFILL_STREAM)  # backfill windows are not live poll cycles


# --- the Mimecast API -----------------------------------------------------------------------------


def test_api_requests_equal_the_simulators_request_log(observed: Observed) -> None:
    before, after, stats = observed.before, observed.scrape, observed.snapshot.stats
    truth: Counter[tuple[str, str]] = Counter()
    for (path, status, _client), n in stats.requests.items():
        # Pre-signed SIEM file downloads are one endpoint label, whatever the file.
        truth["siem-file" if path.startswith("/siem-files/") else path, _status_class(status)] += n
    exposed: dict[tuple[str, str], float] = {}
    lower: dict[tuple[str, str], float] = {}
    for sample in after.select("mimecast_siem_api_requests_total"):
        key = (sample.labels["endpoint"], sample.labels["status_class"])
        exposed[key] = exposed.get(key, 0.0) + sample.value
    for sample in before.select("mimecast_siem_api_requests_total"):
        key = (sample.labels["endpoint"], sample.labels["status_class"])
        lower[key] = lower.get(key, 0.0) + sample.value
    assert set(truth) == set(exposed)
    for key, n in truth.items():
        # Equal, except that globex's refused logins may go on between the two scrapes.
        assert lower.get(key, 0.0) <= n <= exposed[key], key
        if key != (TOKEN_PATH, "4xx"):
            assert n == exposed[key], key
    for tenant in ("acme", "globex"):
        for sample in after.select("mimecast_siem_api_request_duration_seconds_count", tenant=tenant):
            endpoint = sample.labels["endpoint"]
            assert sample.value == after.value("mimecast_siem_api_requests_total", tenant=tenant, endpoint=endpoint)


def test_rate_limits_token_refreshes_and_auth_failures(observed: Observed) -> None:
    before, m, stats = observed.before, observed.scrape, observed.snapshot.stats
    assert m.one("mimecast_siem_api_rate_limited_total", tenant="acme") == stats.count(status=429) == RATE_LIMIT_BURST
    assert m.one("mimecast_siem_api_retries_total", tenant="acme", reason="rate_limited") == RATE_LIMIT_BURST
    assert m.one("mimecast_siem_api_backoff_seconds_total", tenant="acme", reason="rate_limit") > 0
    # The forced expiry: every 401 on an API path made the client refresh and replay once.
    api_401 = sum(n for (path, status, _), n in stats.requests.items() if status == 401 and path != TOKEN_PATH)
    assert api_401 >= FORCED_401
    assert m.one("mimecast_siem_api_retries_total", tenant="acme", reason="reauth") == api_401
    assert m.one("mimecast_siem_token_refreshes_total", tenant="acme") == stats.tokens_issued["client-1"] == 2
    assert m.value("mimecast_siem_auth_failures_total", tenant="acme") == 0
    refused = stats.count(path=TOKEN_PATH, status=401)
    assert refused >= 1
    assert before.one("mimecast_siem_auth_failures_total", tenant="globex") <= refused
    assert refused <= m.one("mimecast_siem_auth_failures_total", tenant="globex")
    assert m.value("mimecast_siem_token_refreshes_total", tenant="globex") == 0


def test_poll_errors_name_the_failing_tenant_only(observed: Observed) -> None:
    before, m = observed.before, observed.scrape
    assert m.value("mimecast_siem_poll_errors_total", tenant="acme") == 0
    failed = [
        line
        for line in observed.snapshot.log
        if line.get("tenant") == "globex" and line.get("error_kind") == "auth" and line["level"] == "warning"
    ]
    assert failed
    assert before.one("mimecast_siem_poll_errors_total", tenant="globex", stream="ttp-url", kind="auth") <= len(failed)
    assert len(failed) <= m.one("mimecast_siem_poll_errors_total", tenant="globex", stream="ttp-url", kind="auth")


# --- sinks ------------------------------------------------------------------------------------------


def test_sink_batches_bytes_and_errors(observed: Observed) -> None:
    m, snap = observed.scrape, observed.snapshot
    for sink in SINKS:
        batches = m.one("mimecast_siem_sink_batch_events_count", sink=sink)
        assert batches > 0
        assert m.one("mimecast_siem_sink_send_duration_seconds_count", sink=sink) == batches
        delivered = m.value("mimecast_siem_events_delivered_total", sink=sink)
        assert m.one("mimecast_siem_sink_batch_events_sum", sink=sink) == delivered
        if sink != "splunk":
            # splunk permanently refuses one stream's index, which marks it down until its next
            # accepted batch: its final value depends on which stream's batch went last.
            assert m.one("mimecast_siem_sink_up", sink=sink) == 1
    assert m.one("mimecast_siem_sink_bytes_total", sink="archive") == snap.archive_bytes
    refused = [r for r in snap.hec_requests if r.status == 400 and r.code == 7]
    accepted = [r for r in snap.hec_requests if r.status == 200]
    assert refused
    assert m.one("mimecast_siem_sink_batch_events_count", sink="splunk") == len(accepted)
    # Bytes of accepted batches, including the attempts HEC answered 503 before accepting them.
    assert m.one("mimecast_siem_sink_bytes_total", sink="splunk") == _accepted_hec_bytes(snap.hec_requests)
    assert m.one("mimecast_siem_sink_errors_total", sink="splunk", kind="transient") == HEC_BUSY
    assert m.one("mimecast_siem_sink_errors_total", sink="splunk", kind="permanent") == len(refused)
    assert m.value("mimecast_siem_sink_errors_total", sink="archive") == 0
    assert m.value("mimecast_siem_sink_errors_total", sink="siem") == 0
    assert m.one("mimecast_siem_sink_connections_total", sink="siem", result="opened") == 1
    truncated = [r for r in snap.syslog if r.msg.endswith("[truncated]")]
    assert truncated
    assert m.one("mimecast_siem_sink_messages_truncated_total", sink="siem") == len(truncated)


# --- gauges -----------------------------------------------------------------------------------------


def test_gauge_streams_set_held_messages_and_queue_depth(observed: Observed) -> None:
    m = observed.scrape
    expected_held = {r["policyInfo"]: r["numberOfItems"] for r in observed.hold_summary}
    exposed_held = {s.labels["policy"]: s.value for s in m.select("mimecast_siem_held_messages", tenant="acme")}
    assert exposed_held == expected_held
    (queues,) = observed.email_queues
    assert (
        m.one("mimecast_siem_email_queue_messages", tenant="acme", direction="inbound") == (queues["inboundEmailQueue"])
    )
    assert (
        m.one("mimecast_siem_email_queue_messages", tenant="acme", direction="outbound")
        == (queues["outboundEmailQueue"])
    )


def test_leases_windows_in_flight_and_last_poll(observed: Observed) -> None:
    m = observed.scrape
    owned = {(s.labels["tenant"], s.labels["stream"]) for s in m.select("mimecast_siem_lease_owned") if s.value == 1}
    assert owned == {("acme", s) for s in ACME_STREAMS} | {("globex", "ttp-url")}
    assert all(s.value == 0 for s in m.select("mimecast_siem_windows_in_flight"))
    for stream in ACME_STREAMS:
        last = m.one("mimecast_siem_last_poll_timestamp_seconds", tenant="acme", stream=stream)
        assert observed.started <= last <= observed.snapshot.scraped_at[1]
    assert not m.select("mimecast_siem_last_poll_timestamp_seconds", tenant="globex")


def test_checkpoint_lag_is_now_minus_the_committed_checkpoint(observed: Observed) -> None:
    m, snap = observed.scrape, observed.snapshot
    first, last = snap.scraped_at
    lags = {s.labels["stream"]: s.value for s in m.select("mimecast_siem_checkpoint_lag_seconds", tenant="acme")}
    assert set(lags) == set(ACME_STREAMS)
    for stream, lag in lags.items():
        committed = snap.checkpoints[stream].timestamp()
        assert first - committed <= lag <= last - committed, stream
    assert not m.select("mimecast_siem_checkpoint_lag_seconds", tenant="globex")  # never committed


# --- actions and build ------------------------------------------------------------------------------


def test_action_calls_equal_the_audit_records(observed: Observed) -> None:
    m = observed.scrape
    audited = Counter((r.action, r.outcome) for r in observed.snapshot.audit)
    assert audited == {(ACTION, "ok"): 1, (ACTION, "unauthorized"): 1}
    exposed = {(s.labels["action"], s.labels["outcome"]): s.value for s in m.select("mimecast_siem_action_calls_total")}
    assert exposed == dict(audited)
    assert m.one("mimecast_siem_action_duration_seconds_count", action=ACTION) == sum(audited.values())


def test_build_info_names_the_running_version(observed: Observed) -> None:
    assert observed.scrape.one("mimecast_siem_build_info", version=__version__) == 1
