"""``dead-letters list --output json``: one document with a stable shape, metadata only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mimecast_siem.cli import main
from tests.sinks.test_commands import config, seed

__all__ = ["config"]  # the fixture


def test_list_json_document(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dead-letters", "list", "--config", str(config), "--output", "json"]) == 0
    empty = json.loads(capsys.readouterr().out)
    assert empty == {"where": str(tmp_path / "data" / "dead-letters.ndjson"), "total": 0, "shown": 0,
                     "corrupt_lines": 0, "entries": []}  # fmt: skip
    archive, gone = seed(tmp_path)
    assert main(["dead-letters", "list", "--config", str(config), "-o", "json", "--limit", "4"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["total"], doc["shown"]) == (5, 4)
    assert [e["event_id"] for e in doc["entries"]] == (archive + gone)[1:]
    first = doc["entries"][0]
    assert set(first) == {"ts", "sink", "tenant", "stream", "event_id", "reason", "attempts"}
    assert first["sink"] == "archive"
    assert first["reason"] == "disk full"
    assert "event" not in first
