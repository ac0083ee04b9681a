"""Dead letters: durable JSON lines, rotation, torn lines, replay semantics (remove delivered, keep the rest)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.events import Event
from mimecast_siem.sinks.base import Rejection, SendResult, SinkContext
from mimecast_siem.sinks.deadletter import REPLAYING_SUFFIX, DeadLetters, ReplayBusy
from mimecast_siem.sinks.file import FileSink
from tests.sinks.builders import batch, make_event
from tests.sinks.scripted_sink import ScriptedSink, reject_every_other


def store(tmp_path: Path, max_bytes: int = 1 << 30) -> DeadLetters:
    return DeadLetters(tmp_path / "dl" / "dead-letters.ndjson", max_bytes)


async def test_entries_are_json_lines_with_the_whole_event(tmp_path: Path) -> None:
    dead = store(tmp_path)
    events = batch(2)
    await dead.write_many("splunk", [Rejection(e, "HEC code 6: Invalid data format") for e in events])
    lines = dead.path.read_bytes().splitlines()
    assert len(lines) == 2
    entry = orjson.loads(lines[0])
    assert set(entry) == {"ts", "sink", "tenant", "stream", "event_id", "reason", "event"}
    assert (entry["sink"], entry["tenant"], entry["stream"]) == ("splunk", "acme", "ttp-url")
    assert entry["event_id"] == events[0].event_id
    assert entry["event"]["raw"] == events[0].raw
    assert entry["event"]["document"] == events[0].document
    listed = dead.list()
    assert [e.event for e in listed] == events
    assert oct(dead.path.stat().st_mode & 0o777) == "0o600"


async def test_rotation_by_size_and_reading_every_segment(tmp_path: Path) -> None:
    dead = store(tmp_path, max_bytes=4096)
    events = batch(12)
    for event in events:
        await dead.write("file", event, "disk said no")
    segments = dead.segments()
    assert len(segments) > 2
    assert all(p.stat().st_size < 4096 + 3000 for p in segments)
    assert [e.event_id for e in dead.list()] == [e.event_id for e in events]
    assert [e.event_id for e in dead.list(limit=3)] == [e.event_id for e in events[-3:]]
    assert dead.list(sink="other") == []


async def test_a_torn_last_line_is_isolated_and_reported(tmp_path: Path) -> None:
    dead = store(tmp_path)
    await dead.write("a", make_event(seq=1), "r1")
    with open(dead.path, "ab") as handle:
        handle.write(b'{"ts": "2026-11-25T10:00:00+00:00", "sink": "a", "ev')  # a crash mid-write
    await dead.write("a", make_event(seq=2), "r2")
    read = dead.read()
    assert [e.reason for e in read.entries] == ["r1", "r2"]
    assert read.corrupt_lines == 1


async def test_replay_through_a_real_sink_removes_delivered_and_keeps_others(
    tmp_path: Path, context: SinkContext
) -> None:
    dead = store(tmp_path)
    archived, other = batch(3), batch(2, "audit")
    await dead.write_many("archive", [Rejection(e, "was refused") for e in archived])
    await dead.write_many("elsewhere", [Rejection(e, "was refused") for e in other])
    sink = FileSink(
        SinkSettings.model_validate({"name": "archive", "type": "file", "path": str(tmp_path / "out")}), context
    )
    await sink.start()
    report = await dead.replay({"archive": sink})
    await sink.close()
    assert report.delivered == 3
    assert report.skipped_unknown_sink == {"elsewhere": 2}
    assert report.kept == 2
    remaining = dead.list()
    assert {e.sink for e in remaining} == {"elsewhere"}
    assert [e.event for e in remaining] == other
    lines = (tmp_path / "out" / "acme" / "ttp-url.ndjson").read_bytes().splitlines()
    assert [orjson.loads(line)["event"]["id"] for line in lines] == [e.event_id for e in archived]
    assert not [p for p in dead.path.parent.iterdir() if p.name.endswith(REPLAYING_SUFFIX)]


async def test_failures_stay_with_their_new_reason_and_attempt_count(tmp_path: Path) -> None:
    dead = store(tmp_path)
    events = batch(4)
    await dead.write_many("a", [Rejection(e, "first reason") for e in events])
    report = await dead.replay({"a": ScriptedSink("a", [reject_every_other])})
    assert (report.outcomes["a"].delivered, report.outcomes["a"].rejected) == (2, 2)
    kept = dead.list()
    assert [e.event_id for e in kept] == [events[1].event_id, events[3].event_id]
    assert all(e.reason == "HEC code 6: Invalid data format" and e.attempts == 1 for e in kept)
    # A sink that fails as a whole keeps everything and is not hammered batch after batch.
    failing = ScriptedSink("a", ["transient"] * 10)
    report = await dead.replay({"a": failing}, batch_max_events={"a": 1})
    assert failing.calls == 1
    assert report.outcomes["a"].failed == 2
    assert "busy" in (report.outcomes["a"].error or "")
    assert [e.attempts for e in dead.list()] == [2, 2]


async def test_only_sink_and_dry_run_change_nothing_else(tmp_path: Path) -> None:
    dead = store(tmp_path)
    await dead.write_many("a", [Rejection(e, "r") for e in batch(2)])
    await dead.write_many("b", [Rejection(e, "r") for e in batch(3, start=5)])
    before = {p.name: p.read_bytes() for p in dead.segments()}
    dry = await dead.replay({"a": ScriptedSink("a"), "b": ScriptedSink("b")}, dry_run=True)
    assert {n: o.attempted for n, o in dry.outcomes.items()} == {"a": 2, "b": 3}
    assert {p.name: p.read_bytes() for p in dead.segments()} == before
    b = ScriptedSink("b")
    report = await dead.replay({"a": ScriptedSink("a"), "b": b}, only_sink="b")
    assert len(b.received) == 3
    assert report.kept == 2
    assert {e.sink for e in dead.list()} == {"a"}


async def test_a_crashed_replay_is_picked_up_and_duplicates_are_collapsed(tmp_path: Path) -> None:
    dead = store(tmp_path)
    events = batch(2)
    await dead.write_many("a", [Rejection(e, "r") for e in events])
    # What a replay killed after claiming looks like, plus a duplicate entry in the live file.
    claimed = dead.path.with_name(dead.path.name + ".20261125T100000000000Z" + REPLAYING_SUFFIX)
    dead.path.rename(claimed)
    await dead.write("a", events[0], "r")
    sink = ScriptedSink("a")
    report = await dead.replay({"a": sink})
    assert [e.event_id for e in sink.received] == [e.event_id for e in events]
    assert report.delivered == 2
    assert dead.list() == []
    assert not claimed.exists()


async def test_one_replay_at_a_time_and_writers_are_not_blocked(tmp_path: Path) -> None:
    dead = store(tmp_path)
    await dead.write_many("a", [Rejection(e, "r") for e in batch(2)])
    late = make_event("audit", event_id="late")

    class WritesDuringReplay(ScriptedSink):
        async def send(self, events: Sequence[Event]) -> SendResult:
            # The daemon dead-letters something while the CLI replays: it must survive.
            await dead.write("a", late, "new failure")
            with pytest.raises(ReplayBusy):
                await dead.replay({"a": ScriptedSink("a")})
            return await super().send(events)

    sink = WritesDuringReplay("a")
    await asyncio.wait_for(dead.replay({"a": sink}), 10)
    assert len(sink.received) == 2
    assert [e.event_id for e in dead.list()] == ["late"]
