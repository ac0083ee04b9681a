"""Rendering the chart for the tests: where it is, ``helm template``, picking documents by kind."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "mimecast-siem"
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))


def render(helm: str, values: Path | None, *sets: str) -> list[dict[str, Any]]:
    """``helm template rel <chart> [-f values] [--set ...]`` as parsed documents (fails the test on error)."""
    cmd = [helm, "template", "rel", str(CHART)]
    if values is not None:
        cmd += ["-f", str(values)]
    for s in sets:
        cmd += ["--set", s]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The documents of one kind."""
    return [d for d in docs if d["kind"] == kind]
