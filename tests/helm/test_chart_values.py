"""The chart's values are documented and typed, its alerts have runbooks, and its `helm test` pod is sound."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.helm.chart import CHART, ROOT, by_kind, render

OPERATIONS = ROOT / "docs" / "operations.md"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_chart_docs", ROOT / "scripts" / "gen_chart_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def test_every_value_is_documented_and_the_table_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_chart_docs.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_an_undocumented_value_is_reported() -> None:
    text = (
        "image:\n  # -- Repository.\n  repository: x\n  tag: ''\n"  # tag lacks a description
        "# -- Whole map, described once.\nresources:\n  limits:\n    memory: 1Gi\n"
        "config:\n  # a plain comment does not count\n  tenants:\n    - name: a\n      base_url: global\n"
    )
    rows, missing = gen.documented_rows(yaml.safe_load(text), gen.described_keys(text))
    assert missing == ["image.tag", "config.tenants"]
    assert [r[0] for r in rows] == ["image.repository", "resources"]


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}{key}"
        paths.add(path)
        paths |= _schema_paths(sub, path + ".")
    return paths


def test_the_schema_types_every_documented_value_and_nothing_else() -> None:
    values_text = (CHART / "values.yaml").read_text()
    rows, _ = gen.documented_rows(yaml.safe_load(values_text), gen.described_keys(values_text))
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    known = _schema_paths(schema)
    documented = {path for path, _, _ in rows}
    assert documented - known == set(), "values the schema does not know"
    top_level = set(schema["properties"])
    assert top_level == {p.split(".")[0] for p in documented}


@pytest.mark.parametrize(
    ("setting", "key"),
    [("replicaCount=-1", "replicaCount"), ("image.pullPolicy=Sometimes", "pullPolicy"), ("bogus=1", "bogus")],
)
def test_the_schema_refuses_bad_values_naming_them(helm: str, setting: str, key: str) -> None:
    out = subprocess.run(
        [helm, "template", "rel", str(CHART), "--set", setting], capture_output=True, text=True, timeout=120
    )
    assert out.returncode != 0
    assert key in out.stderr


def test_the_helm_test_pod_checks_health_and_build_info_through_the_service(helm: str) -> None:
    docs = render(helm, CHART / "ci" / "default-values.yaml")
    (service,) = by_kind(docs, "Service")
    (pod,) = by_kind(docs, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    (container,) = spec["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    (deploy,) = by_kind(docs, "Deployment")
    assert container["image"] == deploy["spec"]["template"]["spec"]["containers"][0]["image"]
    script = container["command"][-1]
    port = service["spec"]["ports"][0]["port"]
    assert f'base = "http://{service["metadata"]["name"]}:{port}"' in script
    assert '"/healthz", "/readyz"' in script
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert f'mimecast_siem_build_info{{version="{chart["appVersion"]}"}}' in script
    compile(script, "helm-test", "exec")  # the probe script is valid Python


def _alerts(helm: str) -> list[dict[str, Any]]:
    docs = render(helm, CHART / "ci" / "monitoring-values.yaml")
    (rule,) = by_kind(docs, "PrometheusRule")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def test_the_alerts_cover_what_the_issue_asks_and_each_has_a_runbook(helm: str) -> None:
    alerts = {r["alert"]: r for r in _alerts(helm)}
    expressions = " ".join(r["expr"] for r in alerts.values())
    for metric in (
        "mimecast_siem_checkpoint_lag_seconds",
        "mimecast_siem_auth_failures_total",
        "mimecast_siem_sink_up",
        "mimecast_siem_api_rate_limited_total",
        "mimecast_siem_events_dead_lettered_total",
    ):
        assert metric in expressions, metric
    runbooks = OPERATIONS.read_text()
    for name, rule in alerts.items():
        assert f"`{name}`" in runbooks, f"{name} has no runbook entry in docs/operations.md"
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        assert re.fullmatch(r"\d+m", rule["for"])
    assert "900" in alerts["MimecastSiemCheckpointLagHigh"]["expr"]  # the scenario's lagThresholdSeconds


def test_the_dashboard_is_valid_grafana_json_with_unique_panel_ids(helm: str) -> None:
    docs = render(helm, CHART / "ci" / "monitoring-values.yaml")
    (cm,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["mimecast-siem.json"])
    assert dashboard == json.loads((CHART / "files" / "dashboard.json").read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in dashboard["panels"])
