"""The metrics module is the one place metrics live; docs, alerts and the dashboard must agree with it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from mimecast_siem.observability.metrics import Metrics, reset_metrics, status_class

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "mimecast-siem"


def _exposed_names(m: Metrics) -> set[str]:
    names: set[str] = set()
    for family in m.registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update({family.name + s for s in ("_bucket", "_sum", "_count")})
        if family.type == "info":
            names.add(family.name + "_info")
    return names


def test_metrics_doc_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_metrics_docs.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_every_metric_follows_the_naming_rule() -> None:
    standard = {"process_", "python_"}  # prometheus_client's process and platform collectors
    for family in Metrics().registry.collect():
        if any(family.name.startswith(prefix) for prefix in standard):
            continue
        assert re.fullmatch(r"mimecast_siem_[a-z0-9_]+", family.name), family.name


def test_fresh_registry_per_instance_does_not_share_values() -> None:
    a = reset_metrics()
    a.events_fetched.labels("t", "ttp-url").inc(5)
    b = reset_metrics()
    assert b.events_fetched.labels("t", "ttp-url")._value.get() == 0
    assert b'mimecast_siem_events_fetched_total{stream="ttp-url",tenant="t"} 5.0' in generate_latest(a.registry)


def test_checkpoint_lag_is_computed_at_scrape_time() -> None:
    import time

    m = Metrics()
    m.set_checkpoint_source(lambda: {("acme", "ttp-url"): time.time() - 120})
    text = generate_latest(m.registry).decode()
    match = re.search(r'mimecast_siem_checkpoint_lag_seconds\{stream="ttp-url",tenant="acme"\} ([0-9.]+)', text)
    assert match is not None
    assert 119 <= float(match.group(1)) < 180


def test_lag_collector_survives_a_broken_source() -> None:
    m = Metrics()

    def broken() -> dict[tuple[str, str], float]:
        raise RuntimeError("state store down")

    m.set_checkpoint_source(broken)
    assert b"mimecast_siem_checkpoint_lag_seconds" in generate_latest(m.registry)


@pytest.mark.parametrize(
    ("status", "label"), [(200, "2xx"), (301, "3xx"), (404, "4xx"), (429, "429"), (503, "5xx"), (None, "error")]
)
def test_status_class_is_bounded(status: int | None, label: str) -> None:
    assert status_class(status) == label


def _referenced_metrics(text: str) -> set[str]:
    return set(re.findall(r"mimecast_siem_[a-z0-9_]+", text))


def test_alert_rules_reference_only_existing_metrics() -> None:
    rules = (CHART / "templates" / "prometheusrule.yaml").read_text()
    referenced = _referenced_metrics(rules)
    assert referenced, "the PrometheusRule should reference metrics"
    assert referenced <= _exposed_names(Metrics()), referenced - _exposed_names(Metrics())


def test_dashboard_references_only_existing_metrics() -> None:
    dashboard = json.loads((CHART / "files" / "dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    referenced = _referenced_metrics("\n".join(exprs))
    assert len(referenced) >= 10
    assert referenced <= _exposed_names(Metrics()), referenced - _exposed_names(Metrics())
