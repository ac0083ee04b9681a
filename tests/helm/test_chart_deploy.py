"""The chart in real deployments: as an umbrella chart's dependency, across upgrades with a backfill Job,
scraped by a PodMonitor, with configuration and credentials managed outside it, behind a NetworkPolicy
derived from the configuration, and with a runbook for every alert."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.helm.chart import CHART, ROOT, by_kind, render

CI = CHART / "ci"


def _validate(docs: list[dict[str, Any]]) -> int:
    checked = 0
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            assert doc["spec"], f"{doc['kind']} has an empty spec"
            continue
        for version in ("1.30.0", "1.33.0"):
            kubernetes_validate.validate(doc, version, strict=True)
        checked += 1
    return checked


def _job_names(docs: list[dict[str, Any]]) -> list[str]:
    return [d["metadata"]["name"] for d in by_kind(docs, "Job")]


def test_an_umbrella_chart_passing_global_renders_and_validates(helm: str, tmp_path: Path) -> None:
    umbrella = tmp_path / "platform"
    (umbrella / "charts").mkdir(parents=True)
    shutil.copytree(CHART, umbrella / "charts" / "mimecast-siem")
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    (umbrella / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": "platform",
                "version": "1.0.0",
                "dependencies": [{"name": "mimecast-siem", "version": chart["version"], "repository": ""}],
            }
        )
    )
    (umbrella / "values.yaml").write_text(
        yaml.safe_dump(
            {
                "global": {
                    "imageRegistry": "registry.internal.example:5000",
                    "imagePullSecrets": ["mirror-credentials"],
                    "storageClass": "fast",  # another chart's global: must be accepted and ignored
                },
                "mimecast-siem": {"secrets": {"values": {"example-client-secret": "not-a-real-secret"}}},
            }
        )
    )
    out = subprocess.run([helm, "template", "rel", str(umbrella)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert _validate(docs) >= 5
    (deploy,) = by_kind(docs, "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"registry.internal.example:5000/mimecast-siem/mimecast-siem:{chart['appVersion']}"
    assert pod["imagePullSecrets"] == [{"name": "mirror-credentials"}]


def test_a_rendered_upgrade_with_a_changed_config_gets_a_new_job_name(helm: str) -> None:
    values = CI / "postgres-ha-values.yaml"
    first = _job_names(render(helm, values))
    again = _job_names(render(helm, values))
    changed = _job_names(render(helm, values, "config.logging.level=DEBUG"))
    other_range = _job_names(render(helm, values, "backfill.until=2026-10-09"))
    assert len(first) == 1
    assert first == again, "the same release renders the same Job (helm leaves it alone)"
    assert changed != first, "a changed config must not patch the immutable Job template"
    assert other_range not in (first, changed)
    for name in first + changed + other_range:
        assert len(name) <= 63
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
    long = _job_names(render(helm, values, "fullnameOverride=" + "x" * 63))
    assert len(long[0]) <= 63


def test_the_ha_scenario_has_everything_the_issue_lists(helm: str) -> None:
    docs = render(helm, CI / "postgres-ha-values.yaml")
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ServiceMonitor", "PrometheusRule", "Job", "PodDisruptionBudget", "NetworkPolicy"} <= kinds
    (deploy,) = by_kind(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["topologyKey"] == (
        "topology.kubernetes.io/zone"
    )
    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    (job,) = by_kind(docs, "Job")
    job_labels = job["spec"]["template"]["metadata"]["labels"]
    assert job_labels["app.kubernetes.io/component"] == "backfill"
    assert pdb["spec"]["selector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "DoesNotExist"}
    ], "the backfill pod must not count towards the PDB's minAvailable"


def _egress_ports(docs: list[dict[str, Any]]) -> set[tuple[int, str]]:
    (policy,) = by_kind(docs, "NetworkPolicy")
    return {(p["port"], p["protocol"]) for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}


def test_network_policy_egress_follows_the_configured_sinks_and_state_store(helm: str) -> None:
    ha = _egress_ports(render(helm, CI / "postgres-ha-values.yaml"))
    assert ha == {(53, "UDP"), (53, "TCP"), (443, "TCP"), (8088, "TCP"), (5432, "TCP")}
    syslog = _egress_ports(render(helm, CI / "syslog-existing-secret-values.yaml", "networkPolicy.enabled=true"))
    assert (6514, "TCP") in syslog
    udp = _egress_ports(
        render(
            helm,
            CI / "default-values.yaml",
            "networkPolicy.enabled=true",
            "config.sinks[0].name=relay",
            "config.sinks[0].type=syslog",
            "config.sinks[0].host=relay",
            "config.sinks[0].transport=udp",
            "config.sinks[0].port=1514",
            "config.state.url=postgresql+psycopg://m@db:6432/m",
        )
    )
    assert {(1514, "UDP"), (6432, "TCP")} <= udp
    assert (5432, "TCP") not in udp


def test_pod_monitor_with_tls_and_relabelings(helm: str) -> None:
    docs = render(helm, CI / "podmonitor-values.yaml")
    assert not by_kind(docs, "ServiceMonitor")
    (monitor,) = by_kind(docs, "PodMonitor")
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "http"
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"]["ca"]["secret"]["name"] == "mimecast-siem-metrics-ca"
    assert endpoint["relabelings"][0]["targetLabel"] == "node"
    assert endpoint["metricRelabelings"][0]["action"] == "drop"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    (deploy,) = by_kind(docs, "Deployment")
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (rule,) = by_kind(docs, "PrometheusRule")
    down = next(r for g in rule["spec"]["groups"] for r in g["rules"] if r["alert"] == "MimecastSiemDown")
    assert 'pod=~"rel-mimecast-siem-' in down["expr"], "a PodMonitor's series carry no service label"


def test_existing_configmap_and_secret_and_the_extras(helm: str) -> None:
    docs = render(helm, CI / "existing-config-values.yaml")
    assert not [d for d in by_kind(docs, "ConfigMap") if "config.yaml" in (d.get("data") or {})]
    assert not by_kind(docs, "Secret")
    (deploy,) = by_kind(docs, "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "mimecast-config"
    assert volumes["secrets"]["secret"]["secretName"] == "mimecast-credentials"
    main = pod["containers"][0]
    assert main["envFrom"] == [{"secretRef": {"name": "mimecast-env"}}]
    assert [c["name"] for c in pod["containers"]] == ["mimecast-siem", "log-shipper"]
    assert [c["name"] for c in pod["initContainers"]] == ["config-check"]
    for doc in docs:
        assert doc["metadata"].get("labels", {}).get("team") == "secops" or doc["metadata"]["name"].endswith(
            "-runbook-links"
        ), doc["metadata"]["name"]
    (extra,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "rel-runbook-links"]
    assert extra["data"]["runbooks"].endswith("operations.md")
    # The config checksum follows the ConfigMap's name (its content is not the chart's to hash).
    other = render(helm, CI / "existing-config-values.yaml", "existingConfigMap=mimecast-config-v2")
    (deploy2,) = by_kind(other, "Deployment")
    key = "checksum/config"
    assert deploy2["spec"]["template"]["metadata"]["annotations"][key] != deploy["spec"]["template"]["metadata"][
        "annotations"
    ][key]


def _headings(markdown: str) -> set[str]:
    return {line.lstrip("#").strip().lower() for line in markdown.splitlines() if line.startswith("#")}


@pytest.mark.parametrize("values", ["monitoring-values.yaml", "podmonitor-values.yaml"])
def test_every_alert_has_a_runbook_url_to_a_section_of_operations_md(helm: str, values: str) -> None:
    docs = render(helm, CI / values)
    (rule,) = by_kind(docs, "PrometheusRule")
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    assert len(alerts) >= 7
    headings = _headings((ROOT / "docs" / "operations.md").read_text())
    base = yaml.safe_load((CHART / "values.yaml").read_text())["prometheusRule"]["runbookBaseUrl"]
    assert base.endswith("/docs/operations.md")
    for alert in alerts:
        url = alert["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page == base
        assert anchor == alert["alert"].lower()
        assert anchor in headings, f"docs/operations.md has no section {alert['alert']}"


def test_the_chart_readme_is_generated_from_values() -> None:
    readme = (CHART / "README.md").read_text()
    assert "Generated by scripts/gen_chart_docs.py" in readme
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for key in ("global", "existingConfigMap", "podMonitor.enabled", "envFrom", "extraObjects", "commonLabels"):
        assert f"| `{key}` |" in readme, key
    assert set(values) >= {"global", "podMonitor", "extraContainers", "extraInitContainers"}


def test_several_replicas_never_share_a_read_write_once_claim(helm: str) -> None:
    values = CI / "postgres-ha-values.yaml"
    out = subprocess.run(
        [helm, "template", "rel", str(CHART), "-f", str(values), "--set", "persistence.enabled=true"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert "ReadWriteOnce" in out.stderr
    assert "persistence.enabled=false" in out.stderr
    docs = render(helm, values, "persistence.enabled=true", "persistence.accessModes[0]=ReadWriteMany")
    assert by_kind(docs, "PersistentVolumeClaim")[0]["spec"]["accessModes"] == ["ReadWriteMany"]
