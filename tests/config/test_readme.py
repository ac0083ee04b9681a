"""The README stays accurate: its config example loads, and every command it presents as available exists."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from mimecast_siem.cli import build_parser
from mimecast_siem.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def cli_commands() -> set[str]:
    parser = build_parser()
    commands: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    return commands


def test_readme_yaml_example_is_valid(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(.*?)```", README, re.DOTALL)
    assert block is not None
    text = block.group(1).replace("/run/secrets/", f"{tmp_path}/")
    (tmp_path / "acme-client-secret").write_text("readme-acme-secret-123456\n", encoding="utf-8")
    (tmp_path / "hec-token").write_text("0c6f3f1e-9b8a-4c1d-8e2f-7a6b5c4d3e2f\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    settings = load_settings(config, env={"ACME_CLIENT_ID": "acme-id"})
    assert [s.name for s in settings.sinks_for("acme", "ttp-url")] == ["archive", "splunk"]


def test_commands_presented_as_available_exist() -> None:
    rows = [line for line in README.splitlines() if line.startswith("| `mimecast-siem ")]
    assert len(rows) >= 9
    available = cli_commands()
    for row in rows:
        command = re.match(r"\| `mimecast-siem ([a-z-]+)", row)
        assert command is not None
        if "*(upcoming)*" in row:
            continue
        assert command.group(1) in available, f"README presents `{command.group(1)}` but the CLI has no such command"


@pytest.mark.parametrize("script", ["scripts/demo.sh", "scripts/test.sh"])
def test_the_two_commands_exist(script: str) -> None:
    assert f"bash {script}" in README
    assert (ROOT / script).is_file()
    assert (ROOT / ".ci" / "run").read_text(encoding="utf-8").rstrip().endswith("exec bash scripts/test.sh")
