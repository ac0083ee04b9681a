"""``mimecast-siem dead-letters list|replay`` through the real CLI entry point."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from mimecast_siem.cli import main
from mimecast_siem.sinks.base import Rejection
from mimecast_siem.sinks.deadletter import DeadLetters
from tests.sinks.builders import batch

CONFIG = """\
data_dir: {data}
tenants:
  - name: acme
    client_id: cid
    client_secret: not-a-secret
sinks:
  - name: archive
    type: file
    path: {data}/out
  - name: console
    type: stdout
    enabled: false
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(data=tmp_path / "data"))
    return path


def dead_letters(tmp_path: Path) -> DeadLetters:
    return DeadLetters(tmp_path / "data" / "dead-letters.ndjson")


def seed(tmp_path: Path) -> tuple[list[str], list[str]]:
    archive, gone = batch(3), batch(2, "audit")
    store = dead_letters(tmp_path)

    async def write() -> None:
        await store.write_many("archive", [Rejection(e, "disk full") for e in archive])
        await store.write_many("retired", [Rejection(e, "HEC code 7: Incorrect index") for e in gone])

    asyncio.run(write())
    return [e.event_id for e in archive], [e.event_id for e in gone]


def test_list_shows_entries_and_filters(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive, gone = seed(tmp_path)
    assert main(["dead-letters", "list", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    for event_id in archive + gone:
        assert event_id in out
    assert "5 dead letter(s)" in out
    assert main(["dead-letters", "list", "--config", str(config), "--sink", "retired", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert gone[-1] in out
    assert gone[0] not in out
    assert "Incorrect index" in out
    assert main(["dead-letters", "list", "--config", str(config), "--json"]) == 0
    entries = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event_id"] for e in entries] == archive + gone
    assert entries[0]["event"]["raw"]["subject"] == "message 0"


def test_dry_run_changes_nothing(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tmp_path)
    before = dead_letters(tmp_path).path.read_bytes()
    assert main(["dead-letters", "replay", "--config", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "sink archive: would send 3 event(s)" in out
    assert "sink retired: 2 entries kept (no such sink in the configuration)" in out
    assert dead_letters(tmp_path).path.read_bytes() == before
    assert not (tmp_path / "data" / "out").exists()


def test_replay_delivers_and_keeps_what_it_cannot(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, gone = seed(tmp_path)
    assert main(["dead-letters", "replay", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "sink archive: sent 3, delivered 3" in out
    assert "2 dead letter(s) remain" in out
    written = (tmp_path / "data" / "out" / "acme" / "ttp-url.ndjson").read_bytes().splitlines()
    assert [orjson.loads(line)["event"]["id"] for line in written] == archive
    assert [e.event_id for e in dead_letters(tmp_path).list()] == gone
    # Nothing left for archive: a second replay sends nothing.
    assert main(["dead-letters", "replay", "--config", str(config), "--sink", "archive"]) == 0
    assert "nothing to replay" in capsys.readouterr().out


def test_unknown_sink_is_bad_input(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tmp_path)
    assert main(["dead-letters", "replay", "--config", str(config), "--sink", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no sink named 'nope'" in err
    assert "archive" in err


def test_missing_action_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dead-letters"]) == 2
    assert "list" in capsys.readouterr().err
