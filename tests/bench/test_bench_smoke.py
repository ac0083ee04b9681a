"""Smoke test of the benchmarks: ``python -m bench --quick`` runs every benchmark and prints its tables.

Benchmarks are not tests: nothing here judges a timing. The test only keeps them from rotting: each
of the benchmarks runs to the end against real processes (simulator, daemon, backfill, rsyslog, the HEC
receiver), prints its tables with numbers, and the Markdown report is written with the machine.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 540

SECTION_TITLES = {
    1: "Per-event CPU",
    2: "End-to-end throughput",
    3: "Memory",
    4: "API efficiency",
    5: "Sinks",
    6: "Scaling",
    7: "Every sink against its test server",
    8: "SIEM batch files",
    9: "Like with like",
    10: "Durable queues",
}


def test_quick_run_prints_every_table_and_writes_the_report(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--results", str(results), "--workdir", str(tmp_path / "work")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "crashed" not in out, out[-6000:]
    for number, title in SECTION_TITLES.items():
        assert re.search(rf"^\[{number}\] {title}", out, re.MULTILINE), (
            f"no table of benchmark {number}:\n{out[-4000:]}"
        )
    # Absolute figures, not just headers: rows with numbers under the tables that carry them.
    assert re.search(r"ttp-url\s+json\s+1,?\d{3}\s", out), "benchmark 1 printed no per-stream row"
    assert re.search(r"hec json gzip -> test receiver\s+[\d,]+\s+[\d,]+", out), "benchmark 5 printed no HEC row"
    assert re.search(r"kafka acks=all -> Tansu\s+[\d,]+\s+[\d,]+\s+[\d.]+", out), "benchmark 7 printed no Kafka row"
    assert re.search(r"deliver_file -> file sink \(json\)\s+[\d,]+\s", out), "benchmark 8 printed no SIEM row"
    assert re.search(r"0 ms\s+reference pager\s+[\d,]+", out), "benchmark 9 printed no reference-pager row"
    assert re.search(r"window quota \+ 5% 503\s+our backfill\s+[\d,]+", out), "benchmark 9 ran no window quota"
    for case in ("new job", "job already done"):  # both empty-range start-ups, each with its CPU seconds
        assert re.search(rf"backfill of an empty range, {case}\s+\d\.\d{{3}}\s", out), f"benchmark 9: no {case} row"
    assert re.search(r"queued: until the drainer wrote every event \(end to end\)\s+[\d,]+\s+[\d.]+", out), (
        "benchmark 10 printed no queued row"
    )
    assert "All targets" in out
    report = results.read_text()
    assert "## Machine" in report
    assert "CPU:" in report
    assert "Python:" in report
    for number in SECTION_TITLES:
        assert f"### {number}. " in report, f"section {number} missing from the report"
    assert "| benchmark | target | measured | bound | verdict |" in report
    assert "not judged" in report  # quick mode judges nothing


def test_bad_flags_exit_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "99"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "--only" in proc.stderr
