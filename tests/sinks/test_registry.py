"""Sink discovery by entry point, option validation with key paths and masked secrets, construction."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.errors import ConfigError
from mimecast_siem.sinks import registry
from mimecast_siem.sinks.base import SinkContext
from mimecast_siem.sinks.file import FileSink
from mimecast_siem.sinks.hec import HecSink
from mimecast_siem.sinks.registry import (
    available_sink_types,
    build_sinks,
    load_sink_class,
    validate_sink_settings,
)
from mimecast_siem.sinks.stdout import StdoutSink
from tests.sinks.builders import settings

HEC = {"name": "splunk", "type": "hec", "url": "https://splunk.example:8088", "token": "s3cr3t-t0k3n"}


@pytest.fixture
def fake_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    real = registry.sink_entry_points()
    extra = {
        "narrow": EntryPoint("narrow", "tests.sinks.registry_fixtures:NarrowSink", registry.ENTRY_POINT_GROUP),
        "exploding": EntryPoint("exploding", "tests.sinks.registry_fixtures:ExplodingSink", registry.ENTRY_POINT_GROUP),
        "notasink": EntryPoint("notasink", "tests.sinks.registry_fixtures:NOT_A_SINK", registry.ENTRY_POINT_GROUP),
        "missing": EntryPoint("missing", "tests.sinks.no_such_module:Sink", registry.ENTRY_POINT_GROUP),
    }
    monkeypatch.setattr(registry, "sink_entry_points", lambda: {**real, **extra})


def test_the_installed_sink_types_are_read_once_until_the_path_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Loading a configuration asks for the sink types several times; the metadata is scanned once,
    and again when a directory on sys.path changes (a distribution installed: tests/e2e/test_plugin_sink.py)."""
    scans: list[str] = []

    def counting(*, group: str) -> Any:
        scans.append(group)
        return entry_points(group=group)

    monkeypatch.setattr(registry, "entry_points", counting)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry._scan_entry_points.cache_clear()
    first = registry.sink_entry_points()
    assert registry.sink_entry_points() == first
    assert load_sink_class("file") is FileSink
    assert scans == [registry.ENTRY_POINT_GROUP]
    (tmp_path / "new_dist-1.0.dist-info").mkdir()  # what an installation does to a path directory
    assert registry.sink_entry_points() == first
    assert len(scans) == 2


def test_builtin_sinks_are_found_through_entry_points() -> None:
    assert {"file", "stdout", "hec", "syslog"} <= set(available_sink_types())
    assert load_sink_class("file") is FileSink
    assert load_sink_class("stdout") is StdoutSink
    assert load_sink_class("hec") is HecSink


def test_unknown_type_lists_what_is_available() -> None:
    with pytest.raises(ConfigError) as caught:
        load_sink_class("carrier-pigeon")
    message = str(caught.value)
    assert "'carrier-pigeon'" in message
    for name in ("file", "hec", "stdout"):
        assert name in message


@pytest.mark.usefixtures("fake_plugins")
def test_broken_plugins_give_config_errors_not_crashes() -> None:
    with pytest.raises(ConfigError, match="failed to load"):
        load_sink_class("missing")
    with pytest.raises(ConfigError, match="not a sink class"):
        load_sink_class("notasink")


def problems(sinks: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    return {p.key: (p.message, p.value) for p in validate_sink_settings(settings(sinks))}


def test_valid_sinks_have_no_problems() -> None:
    assert (
        problems([HEC, {"name": "f", "type": "file", "compression": "rotated"}, {"name": "o", "type": "stdout"}]) == {}
    )


def test_every_problem_of_every_sink_at_once_with_key_paths() -> None:
    found = problems(
        [
            {"name": "f", "type": "file", "compression": "bzip", "keep": -1},
            {**HEC, "token": None},
            {**HEC, "name": "s2", "gzip_level": 11},
            {"name": "x", "type": "nope"},
            {"name": "r", "type": "stdout", "format": "raw", "format_options": {"metadata": "maybe"}},
        ]
    )
    assert set(found) == {
        "sinks[0].compression",
        "sinks[0].keep",
        "sinks[1]",
        "sinks[2].gzip_level",
        "sinks[3].type",
        "sinks[4].format_options.metadata",
    }
    assert "exactly one of token" in found["sinks[1]"][0]
    assert "available" in found["sinks[3].type"][0]
    assert found["sinks[0].compression"][1] == "'bzip'"


def test_secret_values_are_masked_in_problems() -> None:
    found = problems([{**HEC, "token": ["s3cr3t-t0k3n"]}])
    assert found["sinks[0].token"][1] == "****"
    text = " ".join(p.render() for p in validate_sink_settings(settings([{**HEC, "token": ["s3cr3t-t0k3n"]}])))
    assert "s3cr3t" not in text


@pytest.mark.usefixtures("fake_plugins")
def test_plugin_options_formats_and_secrets() -> None:
    found = problems([{"name": "n", "type": "narrow", "format": "cef", "api_key": 42, "retries": -1}])
    assert "cannot carry this format" in found["sinks[0].format"][0]
    assert "json" in found["sinks[0].format"][0]
    assert found["sinks[0].api_key"][1] == "****"
    assert "sinks[0].endpoint" in found
    assert "sinks[0].retries" in found


@pytest.mark.usefixtures("fake_plugins")
def test_build_sinks_builds_enabled_sinks_and_reports_constructor_bugs(tmp_path: Path) -> None:
    context = SinkContext(data_dir=tmp_path, instance_id="t", version="0")
    built = build_sinks(
        settings(
            [
                {"name": "a", "type": "file"},
                {"name": "b", "type": "narrow", "endpoint": "x"},
                {"name": "c", "type": "stdout", "enabled": False},
            ]
        ),
        context,
    )
    assert sorted(built) == ["a", "b"]
    assert isinstance(built["a"], FileSink)
    with pytest.raises(ConfigError) as caught:
        build_sinks(settings([{"name": "boom", "type": "exploding", "endpoint": "x"}]), context)
    assert "plugin bug" in caught.value.problems[0].message
    assert caught.value.problems[0].key == "sinks[0]"


def test_config_loading_reports_sink_problems_with_their_source(tmp_path: Path) -> None:
    """The config room calls validate_sink_settings: problems carry the YAML line."""
    from mimecast_siem.config import load_settings

    config = tmp_path / "config.yaml"
    config.write_text(
        "tenants:\n"
        "  - name: acme\n"
        "    client_id: cid\n"
        "    client_secret: not-a-secret\n"
        "sinks:\n"
        "  - name: splunk\n"
        "    type: hec\n"
        "    url: https://splunk.example:8088/services/collector\n"
        "    token: s3cr3t-t0k3n\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})
    # The config room may name list items by index or by their name.
    (url,) = [p for p in caught.value.problems if p.key in ("sinks[0].url", "sinks.splunk.url")]
    assert "base URL only" in url.message
    assert "config.yaml:8" in (url.source or "")
    assert all("s3cr3t" not in p.render() for p in caught.value.problems)
