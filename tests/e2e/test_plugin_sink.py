"""A third-party sink package is discovered through its entry point and receives events through config.

The test builds a wheel of ``tests/sinks/plugin_pkg`` (by hand: a wheel is a zip with a dist-info
folder, so no build backend or network is needed), pip-installs it into the running virtualenv,
checks the configuration with the real CLI, runs the real daemon against the simulator with the
plugin as its only sink, and uninstalls the package again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.simulator import LateArrivals
from mimecast_siem.sinks import available_sink_types
from tests.collector.helpers import expected_ids

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SRC = ROOT / "tests" / "sinks" / "plugin_pkg"
DIST_NAME = "mimecast-siem-test-plugin"


def build_wheel(src: Path, out: Path) -> Path:
    """A pure-Python wheel of the project in ``src`` (its packages and its entry points)."""
    project = tomllib.loads((src / "pyproject.toml").read_text())["project"]
    dist = project["name"].replace("-", "_")
    version = project["version"]
    dist_info = f"{dist}-{version}.dist-info"
    files: dict[str, bytes] = {}
    for package in sorted(p.parent for p in src.glob("*/__init__.py")):
        for path in sorted(package.rglob("*.py")):
            files[path.relative_to(src).as_posix()] = path.read_bytes()
    files[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {version}\n"
        f"Summary: {project['description']}\nRequires-Python: {project['requires-python']}\n"
    ).encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: mimecast-siem-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    groups = project.get("entry-points", {})
    files[f"{dist_info}/entry_points.txt"] = "".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items()) + "\n"
        for group, points in groups.items()
    ).encode()
    record = [
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for name, data in files.items()
    ]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    wheel = out / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def installed_plugin(tmp_path: Path) -> Iterator[None]:
    wheel = build_wheel(PLUGIN_SRC, tmp_path)
    result = pip("install", "--no-deps", "--no-index", "--quiet", "--disable-pip-version-check", str(wheel))
    assert result.returncode == 0, result.stderr
    try:
        yield
    finally:
        removed = pip("uninstall", "--yes", "--quiet", DIST_NAME)
        assert removed.returncode == 0, removed.stderr


def write_config(path: Path, tmp: Path, sim: Any, start: datetime, **sink: Any) -> None:
    config = {
        "data_dir": str(tmp / "data"),
        "tenants": [
            {
                "name": "acme",
                "base_url": sim.url,
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "streams": ["ttp-url"],
            }
        ],
        "streams": {"ttp-url": {"poll_interval": "1s", "lag": "2s", "overlap": "20s", "start_from": start.isoformat()}},
        "sinks": [{"name": "spooler", "type": "spool", "format": "json", "spool_dir": str(tmp / "spool"), **sink}],
        "routes": [{"streams": ["ttp-url"], "sinks": ["spooler"]}],
        "server": {"enabled": False},
        "daemon": {"shutdown_grace": "10s"},
    }
    path.write_text(yaml.safe_dump(config))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mimecast_siem", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.usefixtures("installed_plugin")
async def test_installed_plugin_sink_is_validated_and_receives_routed_events(
    simulator_factory: Any, tmp_path: Path
) -> None:
    assert "spool" in available_sink_types()
    sim = await simulator_factory(rates={"ttp-url": 6.0}, late=LateArrivals(fraction=0.0))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    config = tmp_path / "config.yaml"

    write_config(config, tmp_path, sim, start, prefix="NOT-LOWER", format="cef")
    checked = await asyncio.to_thread(cli, "config", "check", "--config", str(config))
    assert checked.returncode == 2, checked.stdout + checked.stderr
    report = checked.stdout + checked.stderr
    assert "prefix" in report
    assert "cannot carry this format" in report

    write_config(config, tmp_path, sim, start)
    checked = await asyncio.to_thread(cli, "config", "check", "--config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    log = tmp_path / "daemon.log"
    with open(log, "ab") as out:
        daemon = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mimecast_siem", "run", "--config", str(config), cwd=ROOT, stdout=out, stderr=out
        )
    state = f"sqlite:///{tmp_path / 'data' / 'state.db'}"
    try:
        target = datetime.now(UTC) + timedelta(seconds=3)
        store = await StateStore.open(state)
        try:
            for _ in range(240):
                assert daemon.returncode is None, log.read_text()[-3000:]
                checkpoint = await store.get_checkpoint("acme", "ttp-url")
                if checkpoint is not None and checkpoint >= target:
                    break
                await asyncio.sleep(0.5)
            else:
                raise AssertionError("the daemon never caught up")
        finally:
            await store.close()
        daemon.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(daemon.wait(), 30) == 0, log.read_text()[-3000:]
    finally:
        if daemon.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(daemon.pid, signal.SIGKILL)
            await daemon.wait()

    spooled = [
        doc for path in sorted((tmp_path / "spool").glob("batch-*.json")) for doc in json.loads(path.read_text())
    ]
    assert spooled, "the plugin sink received nothing"
    ids = {doc["event"]["id"] for doc in spooled}
    expected = expected_ids("ttp-url", sim.ground_truth("ttp-url", start, checkpoint - timedelta(seconds=20)))
    assert expected <= ids
