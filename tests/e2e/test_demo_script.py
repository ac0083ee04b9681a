"""``scripts/demo.sh`` tells the operator what it is doing: timed steps on stderr before the demo starts.

The already-installed path runs for real (a virtualenv whose interpreter and console script are this
test run's, with a current install stamp); the first-install path runs pip for a minute or two and
is not repeated here (it prints the same steps plus pip's Collecting/Installing lines).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]


def test_demo_script_reports_its_steps_and_runs_the_demo(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / "bin" / "mimecast-siem").symlink_to(Path(sys.executable).parent / "mimecast-siem")
    stamp = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + (ROOT / "constraints.txt").read_bytes())
    (venv / ".mimecast-siem-demo-stamp").write_text(stamp.hexdigest() + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_SIEM")}
    env["MIMECAST_SIEM_VENV"] = str(venv)
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh"), "--duration", "2s", "--out", str(tmp_path / "demo-out")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    steps = [line for line in out.stderr.splitlines() if line.startswith("demo.sh [")]
    assert steps[0].endswith(f"mimecast-siem is already installed in {venv}")
    assert "starting the demo" in steps[-1]
    assert "Metrics: http://127.0.0.1:" in out.stdout
