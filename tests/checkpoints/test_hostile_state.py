"""A hostile or broken state store under the real CLI: corrupt files, a schema from the future, no room.

Each command that opens the store runs as a real process. It must end with a one-line ``error:``
naming what is wrong and what to do, a documented exit code, no traceback, and nothing secret - and
it must leave a database it cannot use untouched.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

SECRET = "csec-HOSTILE-state-7d1e9a0b"
ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [
    ("checkpoints", "list"),
    ("checkpoints", "set", "--tenant", "acme", "--stream", "ttp-url", "--to", "2026-11-25T10:00:00Z", "--yes"),
    ("action", "audit"),
    ("run",),
]


def write_config(tmp_path: Path, data_dir: Path) -> Path:
    config = {
        "data_dir": str(data_dir),
        "tenants": [{"name": "acme", "base_url": "http://127.0.0.1:9", "client_id": "cid", "client_secret": SECRET}],
        "sinks": [{"name": "out", "type": "file", "path": str(tmp_path / "out")}],
        "server": {"enabled": False},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(config: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_SIEM")}
    return subprocess.run(
        [sys.executable, "-m", "mimecast_siem", *command, "--config", str(config)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_clean_failure(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == code, output[-2000:]
    assert "Traceback" not in output
    assert "Uncaught exception" not in output
    assert SECRET not in output
    assert "error:" in done.stderr
    for needle in needles:
        assert needle in output, output[-2000:]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def initialised(config: Path) -> None:
    done = run(config, "checkpoints", "list")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize(
    "content", [os.urandom(4096), b"SQLite format 3\x00" + b"\x00" * 90], ids=["random-bytes", "torn-header"]
)
def test_a_corrupt_database_file_is_a_clear_error(
    tmp_path: Path, data_dir: Path, command: tuple[str, ...], content: bytes
) -> None:
    db = data_dir / "state.db"
    db.write_bytes(content)
    before = db.read_bytes()
    done = run(write_config(tmp_path, data_dir), *command)
    assert_clean_failure(done, 1, "state store", str(db))
    assert db.read_bytes() == before  # nothing "repaired" away


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_schema_from_the_future_is_refused_and_left_alone(
    tmp_path: Path, data_dir: Path, command: tuple[str, ...]
) -> None:
    config = write_config(tmp_path, data_dir)
    initialised(config)
    db = data_dir / "state.db"
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("insert into schema_version values (99, 'from a newer release', '2030-01-01 00:00:00')")
    done = run(config, *command)
    assert_clean_failure(done, 1, "schema version 99", "upgrade mimecast-siem")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        versions = [row[0] for row in conn.execute("select version from schema_version order by version")]
    assert versions[-1] == 99


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_data_dir_that_cannot_exist_is_a_configuration_error(tmp_path: Path, command: tuple[str, ...]) -> None:
    # Under /proc nobody - not even root - can create a directory: the store's folder cannot exist.
    done = run(write_config(tmp_path, Path("/proc/mimecast-siem-hostile/data")), *command)
    assert_clean_failure(done, 2, "state.url", "writable place")


@contextlib.contextmanager
def read_only_mount(where: Path) -> Iterator[Path]:
    """A small tmpfs at ``where``, remounted read-only by the caller; skips where mounting is not allowed."""
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_read_only_data_dir_is_a_clear_error(tmp_path: Path, command: tuple[str, ...]) -> None:
    with read_only_mount(tmp_path / "mnt") as mnt:
        data_dir = mnt / "data"
        config = write_config(tmp_path, data_dir)
        initialised(config)
        before = (data_dir / "state.db").read_bytes()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True, capture_output=True)
        done = run(config, *command)
        output = done.stdout + done.stderr
        assert done.returncode in (1, 4), output[-2000:]  # 4: the store is unavailable (a transport-like failure)
        assert_clean_failure(done, done.returncode, "state store", "unable to open database file")
        assert (data_dir / "state.db").read_bytes() == before
