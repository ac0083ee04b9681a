"""`config check` for operators: JSON output, `--connect` against real endpoints, paths that are files,
where each value came from, the image's defaults below the file, and the example config as shipped."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.config.test_cli import ROOT, run_cli


def _config(tmp_path: Path, **top: Any) -> Path:
    tree: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "tenants": [{"name": "acme", "base_url": "global", "client_id": "id-1", "client_secret": "s3cret-value"}],
        "sinks": [{"name": "archive", "type": "file", "path": str(tmp_path / "out")}],
    }
    tree.update(top)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


def test_json_output_has_the_documented_shape_and_no_secret(tmp_path: Path) -> None:
    out = run_cli("config", "check", "--config", str(_config(tmp_path)), "--output", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) == {"ok", "config_file", "tenants", "sinks", "routes", "state", "data_dir", "server", "sources"}
    assert doc["ok"] is True
    assert doc["tenants"][0]["name"] == "acme"
    assert doc["tenants"][0]["verify_tls"] is True
    assert doc["sinks"] == [{"name": "archive", "type": "file", "format": "json", "enabled": True}]
    assert doc["state"] == {"backend": "sqlite"}
    assert doc["sources"]["data_dir"] == "config.yaml:1"
    assert doc["sources"]["server.port"] == "default"
    assert "s3cret-value" not in out.stdout


def test_json_output_of_a_bad_config_lists_problems_and_exits_2(tmp_path: Path) -> None:
    path = _config(tmp_path, server={"port": 70000})
    out = run_cli("config", "check", "--config", str(path), "-o", "json")
    assert out.returncode == 2
    doc = json.loads(out.stdout)
    assert doc["ok"] is False
    (problem,) = doc["problems"]
    assert problem["key"] == "server.port"
    assert problem["source"] == "config.yaml:12"


def test_a_state_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    out = run_cli("config", "check", "--config", str(_config(tmp_path)))
    assert out.returncode == 2
    assert "data_dir" in out.stderr
    assert "is a file, not a directory" in out.stderr
    # The SQLite file's own directory counts too, even when data_dir is fine.
    blocker.unlink()
    (tmp_path / "state").write_text("x")
    path = _config(tmp_path, state={"url": f"sqlite:///{tmp_path / 'state' / 'state.db'}"})
    out = run_cli("config", "check", "--config", str(path))
    assert out.returncode == 2
    assert "state.url" in out.stderr


def test_the_image_defaults_never_override_the_file(tmp_path: Path) -> None:
    """The Dockerfile's MIMECAST_SIEM_DEFAULT__* fill in what the file leaves out; MIMECAST_SIEM__* still win."""
    image_env = {
        "MIMECAST_SIEM_DEFAULT__DATA_DIR": str(tmp_path / "image-data"),
        "MIMECAST_SIEM_DEFAULT__SERVER__HOST": "0.0.0.0",
        "MIMECAST_SIEM_DEFAULT__SERVER__PORT": "9108",
    }
    path = _config(tmp_path, server={"port": 9200})
    doc = json.loads(run_cli("config", "check", "--config", str(path), "-o", "json", env=image_env).stdout)
    assert doc["server"] == {"host": "0.0.0.0", "port": 9200}
    assert doc["data_dir"] == str(tmp_path / "data")
    assert doc["sources"]["server.port"] == "config.yaml:12"
    assert doc["sources"]["server.host"].startswith("env MIMECAST_SIEM_DEFAULT__SERVER__HOST (a default")
    override = {**image_env, "MIMECAST_SIEM__SERVER__PORT": "9300"}
    out = run_cli("config", "check", "--config", str(path), env=override)
    assert out.returncode == 0, out.stderr
    assert "server: 0.0.0.0:9300" in out.stdout
    assert "server.port: env MIMECAST_SIEM__SERVER__PORT" in out.stdout
    assert "server.host: env MIMECAST_SIEM_DEFAULT__SERVER__HOST" in out.stdout


def test_the_dockerfile_sets_defaults_not_overrides() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "MIMECAST_SIEM__" not in text, "an override in the image would beat a mounted config file"
    assert "MIMECAST_SIEM_DEFAULT__DATA_DIR=" in text


def test_the_example_config_validates_as_shipped() -> None:
    """The example's own "Validate:" line, run from the repository root with no variables set."""
    first_lines = (ROOT / "examples" / "config.yaml").read_text().splitlines()[:3]
    command = next(line for line in first_lines if "Validate:" in line).split("Validate:", 1)[1].split("(")[0]
    argv = command.split()
    assert argv[:3] == ["mimecast-siem", "config", "check"]
    out = subprocess.run(
        [sys.executable, "-m", "mimecast_siem", *argv[1:]],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Configuration OK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.e2e
def test_connect_reaches_tenants_sinks_and_the_state_store(simulator_process: Any, tmp_path: Path) -> None:
    client_id, secret = simulator_process.apps[0]
    tenants = [
        {"name": "good", "base_url": simulator_process.url, "client_id": client_id, "client_secret": secret},
        {"name": "wrong", "base_url": simulator_process.url, "client_id": client_id, "client_secret": "wrong-one"},
    ]
    closed = _free_port()
    sinks = [
        {"name": "archive", "type": "file", "path": str(tmp_path / "out")},
        {"name": "relay", "type": "syslog", "host": "127.0.0.1", "port": closed, "transport": "tcp"},
    ]
    path = _config(tmp_path, tenants=tenants, sinks=sinks)
    out = run_cli("config", "check", "--config", str(path), "--connect", "--output", "json")
    assert out.returncode == 1, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    results = {(c["kind"], c["name"]): c for c in doc["connect"]}
    assert set(results) == {("tenant", "good"), ("tenant", "wrong"), ("sink", "archive"), ("sink", "relay"),
                            ("state", "state")}  # fmt: skip
    assert results["tenant", "good"]["ok"] is True
    assert "get-account" in results["tenant", "good"]["detail"]
    assert results["tenant", "wrong"]["ok"] is False
    assert results["sink", "archive"]["ok"] is True
    assert results["sink", "relay"]["ok"] is False
    assert str(closed) in results["sink", "relay"]["detail"]
    assert results["state", "state"]["ok"] is True
    assert doc["ok"] is False
    assert "wrong-one" not in out.stdout + out.stderr
    # Text output: one line per check, and exit 0 when everything answers.
    path = _config(tmp_path, tenants=tenants[:1], sinks=sinks[:1])
    out = run_cli("config", "check", "--config", str(path), "--connect")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "  ok     tenant good: token obtained" in out.stdout
    assert "3 of 3 reachable" in out.stdout
