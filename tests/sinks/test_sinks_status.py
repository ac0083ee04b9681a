"""``sinks status``: each sink's queue depth, oldest age and drain state, as text and as one JSON document."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from mimecast_siem.cli import main
from mimecast_siem.sinks.queue import SegmentQueue
from tests.sinks.builders import batch


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    raw = {
        "data_dir": str(tmp_path / "data"),
        "tenants": [{"name": "acme", "client_id": "cid", "client_secret": "not-a-secret"}],
        "sinks": [
            {"name": "archive", "type": "file", "path": str(tmp_path / "out")},
            {"name": "splunk", "type": "stdout", "queue": {"enabled": True, "when_full": "drop_newest"}},
        ],
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def test_status_json_reports_the_queue_read_from_its_files(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sinks", "status", "--config", str(config), "--output", "json"]) == 0
    empty = json.loads(capsys.readouterr().out)
    assert empty["sinks"][0] == {"name": "archive", "type": "file", "enabled": True, "queue": None}
    assert empty["sinks"][1]["queue"]["events"] == 0
    queue = SegmentQueue(tmp_path / "data" / "queues" / "splunk", max_bytes=1 << 30)
    queue.append(batch(7), now=time.time() - 120)
    assert main(["sinks", "status", "--config", str(config), "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    status = doc["sinks"][1]["queue"]
    assert set(status) == {"path", "events", "bytes", "oldest_age_seconds", "max_bytes", "when_full", "draining"}
    assert status["events"] == 7
    assert status["bytes"] == queue.depth_bytes()
    assert 119 <= status["oldest_age_seconds"] < 200
    assert status["when_full"] == "drop_newest"
    assert status["draining"] is False
    assert queue.try_drain_lock()  # a drainer holds the lock: reported as draining
    assert main(["sinks", "status", "--config", str(config), "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["sinks"][1]["queue"]["draining"] is True
    queue.release_drain_lock()


def test_status_text(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sinks", "status", "--config", str(config)]) == 0
    text = capsys.readouterr().out
    assert "archive  file  no queue" in text
    assert "splunk  stdout  queue: 0 events, 0 bytes" in text
