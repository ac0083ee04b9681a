"""The daemon runs like the container image: uid 10001, read-only everywhere except the data volume.

Without Docker, the read-only root filesystem is approximated with permissions: the daemon runs as
uid/gid 10001 (the image's ``USER``, with no passwd entry, like in the image), its working directory
and ``HOME`` are root-owned and not writable, ``PYTHONDONTWRITEBYTECODE=1`` as in the image, and
only the data directory belongs to it. It must complete poll cycles, answer its probes and stop
cleanly, and afterwards no file owned by that uid may exist outside the data directory (temporary
directories and the repository included).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.collector.helpers import fast_stream_settings, read_documents
from tests.observability.ops_support import Scrape, http_get, wait_for

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
UID = GID = 10001
SEARCHED = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), ROOT)


def interpreter() -> tuple[list[str], dict[str, str]]:
    """A Python that uid 10001 may execute, and the environment that finds our packages with it.

    The virtualenv's own interpreter when that user can run it (CI: a venv of Debian's python3);
    otherwise the system python3 of the same version with the virtualenv's site-packages on the path
    (a development machine whose venv points into a private pyenv under /root).
    """
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import mimecast_siem"],
            user=UID,
            group=GID,
            extra_groups=[],
            capture_output=True,
            cwd="/",
            env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
            timeout=60,
        )
        why_not = probe.stderr.decode(errors="replace")
        if probe.returncode == 0:
            return [sys.executable], {}
    except PermissionError as exc:  # the interpreter itself is out of reach
        why_not = str(exc)
    system = shutil.which("python3", path="/usr/bin:/bin")
    site = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    if system is None:
        pytest.fail(f"uid {UID} cannot run {sys.executable} and there is no /usr/bin/python3: {why_not}")
    version = subprocess.run([system, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert version.stdout.strip() == str(tuple(sys.version_info[:2])), "the system python3 differs from the venv's"
    return [system, "-s"], {"PYTHONPATH": f"{site}:{ROOT}"}


def owned_by_the_daemon(exclude: Path) -> list[Path]:
    """Files and directories owned by uid 10001 outside ``exclude`` (where it may write)."""
    found: list[Path] = []
    for top in SEARCHED:
        for dirpath, dirnames, filenames in os.walk(top, onerror=lambda _e: None):
            here = Path(dirpath)
            if here == exclude or exclude in here.parents:
                dirnames[:] = []
                continue
            dirnames[:] = [d for d in dirnames if d not in (".git", "proc")]
            for name in [*dirnames, *filenames]:
                path = here / name
                if path == exclude:
                    continue
                try:
                    if path.lstat().st_uid == UID:
                        found.append(path)
                except OSError:
                    continue
    return found


@pytest.fixture
def sandbox() -> Iterator[Path]:
    """A root-owned directory (mode 0755) holding the daemon's unwritable cwd and home and its data dir."""
    base = Path(tempfile.mkdtemp(prefix="mimecast-siem-readonly-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_daemon_runs_as_the_image_user_with_only_the_data_dir_writable(
    simulator_process: Any, sandbox: Path
) -> None:
    app, home, data = sandbox / "app", sandbox / "home", sandbox / "data"
    for directory in (app, home):
        directory.mkdir(mode=0o755)
    data.mkdir(mode=0o700)
    os.chown(data, UID, GID)
    config = {
        "data_dir": str(data),
        "tenants": [
            {
                "name": "acme",
                "base_url": simulator_process.url,
                "client_id": "client-1",
                "client_secret": "secret-1",
                "streams": ["ttp-url", "held-messages"],
            }
        ],
        "streams": {"ttp-url": fast_stream_settings(), "held-messages": fast_stream_settings()},
        "sinks": [{"name": "out", "type": "file", "path": str(data / "out")}],
        "server": {"enabled": True, "host": "127.0.0.1", "port": 0},
        "daemon": {"shutdown_grace": "10s", "stream_backoff_max": "1s"},
    }
    config_path = app / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    config_path.chmod(0o644)
    command, extra_env = interpreter()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "USER": "mimecast",
        "LOGNAME": "mimecast",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    port_file = data / "daemon.port"
    log_path = sandbox / "daemon.log"  # written by this (root) process, not by the daemon
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [*command, "-m", "mimecast_siem", "run", "--config", str(config_path), "--port-file", str(port_file),
             "--log-format", "json"],
            user=UID, group=GID, extra_groups=[], umask=0o077, cwd=app, env=env, stdout=log, stderr=log,
        )  # fmt: skip

    def output() -> str:
        return log_path.read_text(errors="replace")[-3000:]

    def alive() -> bool:
        return daemon.poll() is None

    try:
        wait_for(lambda: port_file.exists() and bool(port_file.read_text().strip()), 60, "the port", alive=alive)
        base = f"http://127.0.0.1:{int(port_file.read_text())}"
        wait_for(lambda: http_get(base + "/readyz")[0] == 200, 60, "readiness", alive=alive)

        def cycles_done() -> bool:
            scrape = Scrape(http_get(base + "/metrics")[1].decode())
            return all(
                scrape.value("mimecast_siem_windows_completed_total", tenant="acme", stream=s) >= 2
                for s in ("ttp-url", "held-messages")
            )

        wait_for(cycles_done, 60, "two committed poll cycles per stream", alive=alive)
        assert http_get(base + "/healthz")[0] == 200
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0, output()
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=30)
    text = log_path.read_text(errors="replace")
    assert "stopped cleanly" in text
    assert "Permission denied" not in text, output()
    assert "Read-only file system" not in text
    assert read_documents(data / "out", "acme", "ttp-url"), "the file sink wrote nothing"
    assert (data / "state.db").stat().st_uid == UID
    assert list(app.iterdir()) == [config_path]
    assert list(home.iterdir()) == []
    assert owned_by_the_daemon(exclude=data) == []
