"""The Helm chart: lint, render every CI scenario, validate against the Kubernetes schemas, and check
that the rendered config is accepted by ``mimecast-siem config check``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helm.chart import CHART, SCENARIOS, by_kind, render


#: The oldest Kubernetes the chart supports (Chart.yaml kubeVersion >= 1.25; 1.30 is the oldest maintained) and a
#: recent one.
KUBERNETES_VERSIONS = ("1.30.0", "1.33.0")


def test_scenarios_exist() -> None:
    names = {p.name for p in SCENARIOS}
    assert {"default-values.yaml", "postgres-ha-values.yaml", "podmonitor-values.yaml", "existing-config-values.yaml"} <= names


@pytest.mark.parametrize("values", SCENARIOS, ids=lambda p: p.name)
def test_helm_lint(helm: str, values: Path) -> None:
    out = subprocess.run([helm, "lint", "--strict", str(CHART), "-f", str(values)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("values", SCENARIOS, ids=lambda p: p.name)
def test_rendered_manifests_match_kubernetes_schemas(helm: str, values: Path) -> None:
    import kubernetes_validate

    docs = render(helm, values)
    checked = 0
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            assert doc["spec"], f"{doc['kind']} has an empty spec"
            continue
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("values", SCENARIOS, ids=lambda p: p.name)
def test_pods_are_locked_down(helm: str, values: Path) -> None:
    docs = render(helm, values)
    workloads = [d["spec"]["template"]["spec"] for d in by_kind(docs, "Deployment") + by_kind(docs, "Job")]
    test_pods = [d["spec"] for d in by_kind(docs, "Pod")]  # the `helm test` pod
    assert workloads
    assert test_pods
    for pod in workloads + test_pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["limits"]["memory"]
    for pod in workloads:
        (c,) = [c for c in pod["containers"] if c["name"] in ("mimecast-siem", "backfill")]
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert "/tmp" in mounts, "a read-only root filesystem needs a writable /tmp"
        assert c["args"][0] in ("run", "backfill")


def test_deployment_probes_and_config_checksum(helm: str) -> None:
    docs = render(helm, CHART / "ci" / "default-values.yaml")
    (deploy,) = by_kind(docs, "Deployment")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert deploy["spec"]["strategy"]["type"] == "Recreate"  # SQLite: never two pods on one volume
    checksum = deploy["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    changed = render(helm, CHART / "ci" / "default-values.yaml", "config.logging.level=DEBUG")
    (deploy2,) = by_kind(changed, "Deployment")
    assert deploy2["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != checksum


def test_sqlite_refuses_several_replicas(helm: str) -> None:
    out = subprocess.run(
        [
            helm,
            "template",
            "rel",
            str(CHART),
            "-f",
            str(CHART / "ci" / "default-values.yaml"),
            "--set",
            "replicaCount=2",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "PostgreSQL" in out.stderr


def test_postgres_scenario_rolls_and_has_a_pdb(helm: str) -> None:
    docs = render(helm, CHART / "ci" / "postgres-ha-values.yaml")
    (deploy,) = by_kind(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"
    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 2


def test_values_schema_rejects_bad_values(helm: str) -> None:
    out = subprocess.run(
        [helm, "template", "rel", str(CHART), "--set", "service.type=Bogus"], capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "service.type" in out.stderr or "service" in out.stderr


def test_backfill_job_arguments(helm: str) -> None:
    docs = render(helm, CHART / "ci" / "backfill-values.yaml")
    (job,) = by_kind(docs, "Job")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:3] == ["backfill", "--tenant", "example"]
    assert args.count("--stream") == 2
    assert args[args.index("--since") + 1] == "2026-10-01"
    assert args[args.index("--until") + 1] == "2026-11-01"


def test_secrets_are_never_in_the_configmap(helm: str) -> None:
    docs = render(helm, CHART / "ci" / "postgres-ha-values.yaml")
    (cm,) = [d for d in by_kind(docs, "ConfigMap") if "config.yaml" in d["data"]]
    assert "not-a-real" not in cm["data"]["config.yaml"]
    config = yaml.safe_load(cm["data"]["config.yaml"])
    for tenant in config["tenants"]:
        assert tenant["client_secret_file"].endswith(f"/{tenant['name']}-client-secret")


@pytest.mark.parametrize("values", SCENARIOS, ids=lambda p: p.name)
def test_rendered_config_passes_config_check(helm: str, values: Path, tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    data_dir = tmp_path / "data"
    docs = render(helm, values, f"secretsMountPath={secrets_dir}", f"dataDir={data_dir}")
    rendered = [d for d in by_kind(docs, "ConfigMap") if "config.yaml" in (d.get("data") or {})]
    if not rendered:
        assert (yaml.safe_load(values.read_text()) or {}).get("existingConfigMap"), "no config.yaml rendered"
        return  # the configuration lives in an existing ConfigMap
    (cm,) = rendered
    config_text = cm["data"]["config.yaml"]
    # The pod would see the Secret's keys as files; give every referenced secret file a dummy value.
    raw_values = yaml.safe_load(values.read_text()) or {}
    for key, value in ((raw_values.get("secrets") or {}).get("values") or {}).items():
        (secrets_dir / key).write_text(str(value))
    for line in config_text.splitlines():
        if "_file:" in line:
            path = Path(line.split("_file:", 1)[1].strip().strip('"'))
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.write_text("00000000-0000-0000-0000-000000000000")
    config = tmp_path / "config.yaml"
    config.write_text(config_text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_SIEM")}
    out = subprocess.run(
        [sys.executable, "-m", "mimecast_siem", "config", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
