"""CLI glue: add_config_arguments / settings_from_args, and `mimecast-siem config check|schema` as processes."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from mimecast_siem.config import add_config_arguments, settings_from_args
from mimecast_siem.config.commands import config_json_schema
from mimecast_siem.observability.logging import reset_logging
from tests.config.builders import ACME_SECRET, settings_tree, tenant
from tests.config.conftest import WriteConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    reset_logging()
    root.setLevel(level)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="test")
    add_config_arguments(p)
    return p


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m mimecast_siem ...` with a clean MIMECAST_SIEM_* environment."""
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("MIMECAST_SIEM")}
    return subprocess.run(
        [sys.executable, "-m", "mimecast_siem", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_flags_are_added() -> None:
    args = parser().parse_args(["--config", "c.yaml", "--log-level", "debug", "--log-format", "json"])
    assert (args.config, args.log_level, args.log_format) == ("c.yaml", "DEBUG", "json")
    args = parser().parse_args([])
    assert (args.config, args.log_level, args.log_format) == (None, None, None)


def test_bad_log_level_is_refused_by_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(["--log-level", "loud"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_settings_from_args_loads_and_configures_logging(write_config: WriteConfig) -> None:
    path = write_config(settings_tree(logging={"level": "WARNING", "format": "json"}))
    settings = settings_from_args(parser().parse_args(["--config", str(path)]), env={})
    assert settings.tenants[0].name == "acme"
    assert logging.getLogger().level == logging.WARNING
    settings_from_args(parser().parse_args(["--config", str(path), "--log-level", "DEBUG"]), env={})
    assert logging.getLogger().level == logging.DEBUG  # the flag wins over the file


def test_settings_from_args_exits_2_with_every_problem(write_config: WriteConfig) -> None:
    path = write_config(settings_tree(tenants=[tenant(timeout=1, client_secret=ACME_SECRET, base_url="http://x")]))
    err = io.StringIO()
    with pytest.raises(SystemExit) as exc:
        settings_from_args(parser().parse_args(["--config", str(path)]), env={}, stderr=err)
    assert exc.value.code == 2
    text = err.getvalue()
    assert "the configuration has 2 problems" in text
    assert "tenants.acme.timeout: must be between 15 and 120 (got 1) [from config.yaml:5]" in text
    assert "tenants.acme.base_url" in text
    assert ACME_SECRET not in text


def test_config_check_ok_prints_a_summary(write_config: WriteConfig) -> None:
    tree = settings_tree(
        tenants=[tenant("acme", streams=["ttp-url", "audit"]), tenant("globex", verify_tls=False)],
        sinks=[{"name": "out", "type": "stdout"}],
        routes=[{"streams": ["audit"], "sinks": ["out"]}],
    )
    result = run_cli("config", "check", "--config", str(write_config(tree)))
    assert result.returncode == 0, result.stderr
    assert "Configuration OK" in result.stdout
    assert "acme: https://api.services.mimecast.com, 2 stream(s): ttp-url, audit" in result.stdout
    assert "globex [TLS verification OFF]" in result.stdout
    assert "out: stdout, format json" in result.stdout
    assert "streams audit of tenants * -> out" in result.stdout
    assert "TLS certificate verification is OFF for tenant globex" in result.stderr
    assert ACME_SECRET not in result.stdout + result.stderr


def test_config_check_reports_every_problem_and_exits_2(write_config: WriteConfig) -> None:
    tree = settings_tree(tenants=[tenant(timeout=500, streams=["nope"])], server={"prot": 1})
    result = run_cli("config", "check", "--config", str(write_config(tree)))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(lines) == 3
    assert any("server.prot: unknown key; did you mean 'port'?" in line for line in lines)
    assert ACME_SECRET not in result.stderr


def test_config_check_takes_the_path_and_secrets_from_the_environment(write_config: WriteConfig) -> None:
    block = tenant()
    del block["client_secret"]
    path = write_config(settings_tree(tenants=[block]))
    env = {"MIMECAST_SIEM_CONFIG": str(path), "MIMECAST_SIEM__TENANTS__ACME__CLIENT_SECRET": ACME_SECRET}
    result = run_cli("config", "check", env=env)
    assert result.returncode == 0, result.stderr
    assert str(path) in result.stdout


def test_config_check_without_any_configuration() -> None:
    result = run_cli("config", "check")
    assert result.returncode == 2
    assert "tenants: required key is missing" in result.stderr


def test_config_schema_is_valid_json_schema_and_accepts_the_example() -> None:
    result = run_cli("config", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema == config_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    example = yaml.safe_load((ROOT / "examples" / "config.yaml").read_text(encoding="utf-8"))
    assert list(validator.iter_errors(example)) == []
    bad = {"tenants": [{"name": "acme", "client_id": "x", "client_secret": "y", "timeout": 5}]}
    assert [e.validator for e in validator.iter_errors(bad)] == ["minimum"]


def test_durations_in_the_schema_match_what_the_loader_accepts() -> None:
    validator = jsonschema.Draft202012Validator(config_json_schema())
    for lag in ("30s", "5m", "1h", "2d", "500ms", 90, "PT5M", "P1D"):
        doc = {"tenants": [{"name": "a", "client_id": "x", "client_secret": "y"}], "streams": {"audit": {"lag": lag}}}
        assert list(validator.iter_errors(doc)) == [], lag
    doc = {"tenants": [{"name": "a", "client_id": "x", "client_secret": "y"}], "streams": {"audit": {"lag": "soon"}}}
    assert list(validator.iter_errors(doc)) != []


def test_config_without_subcommand_is_a_usage_error() -> None:
    result = run_cli("config")
    assert result.returncode == 2
    assert "SUBCOMMAND" in result.stderr
