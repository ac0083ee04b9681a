"""Config checks sink options through the sink types the CLI hands it, never by importing sinks/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mimecast_siem.cli import build_parser
from mimecast_siem.config import load_settings, sink_types, use_sink_types
from mimecast_siem.errors import ConfigError
from mimecast_siem.sinks import SINK_TYPES

CONFIG = """
tenants:
  - name: acme
    client_id: id-1
    client_secret: secret-secret-1
sinks:
  - name: out
    type: file
    path: {path}
    no_such_option: 1
"""


@pytest.fixture
def no_sink_types() -> Iterator[None]:
    use_sink_types(None)
    try:
        yield
    finally:
        use_sink_types(SINK_TYPES)


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(path=tmp_path / "out.ndjson"), encoding="utf-8")
    return path


def test_sink_options_are_checked_through_the_installed_sink_types(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path), env={})
    keys = [p.key for p in caught.value.problems]
    assert keys == ["sinks.out.no_such_option"]


@pytest.mark.usefixtures("no_sink_types")
def test_without_sink_types_config_checks_the_rest_only(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path), env={})
    assert [s.name for s in settings.sinks] == ["out"]


@pytest.mark.usefixtures("no_sink_types")
def test_the_cli_installs_the_sink_types() -> None:
    assert sink_types() is None
    build_parser()
    installed = sink_types()
    assert installed is not None
    # Installed on demand (the CLI does not import the sinks before config asks): the same registry.
    assert installed.available() == SINK_TYPES.available()
    assert installed.load("file") is SINK_TYPES.load("file")
