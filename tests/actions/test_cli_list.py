"""``action list`` takes ``--config`` like every other action sub-command, and ``--output json|text``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mimecast_siem.cli import main


def test_action_list_accepts_config_and_both_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("tenants: [{name: acme, client_id: id, client_secret: not-used}]\n")
    assert main(["action", "list", "--config", str(config)]) == 0
    default = json.loads(capsys.readouterr().out)
    assert main(["action", "list", "--config", str(config), "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == default
    assert len(default) == 50
    assert {"name", "title", "summary", "scope", "result", "method", "path", "permission", "source"} <= set(default[0])
    assert main(["action", "list", "-o", "text"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 50
    assert lines[0].split()[0] == default[0]["name"]
