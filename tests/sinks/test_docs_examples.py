"""Every YAML example of docs/sinks.md for the sinks of issue 14 is a valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mimecast_siem.config.models import Settings
from mimecast_siem.sinks.registry import validate_sink_settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "sinks.md"
CHECKED_TYPES = {"elasticsearch", "kafka", "s3", "sentinel"}


def examples() -> list[dict[str, object]]:
    found = []
    for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S):
        data = yaml.safe_load(block)
        if not isinstance(data, dict):
            continue
        for sink in data.get("sinks") or []:
            if sink.get("type") in CHECKED_TYPES:
                found.append(sink)
    return found


def test_each_new_sink_type_has_an_example() -> None:
    assert {"elasticsearch", "kafka", "s3", "sentinel"} <= {str(s["type"]) for s in examples()}


@pytest.mark.parametrize("sink", examples(), ids=lambda s: str(s["name"]))
def test_example_validates(sink: dict[str, object]) -> None:
    settings = Settings.model_validate(
        {"tenants": [{"name": "acme", "client_id": "c", "client_secret": "s"}], "sinks": [sink]}
    )
    assert validate_sink_settings(settings) == []
