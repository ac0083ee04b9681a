"""Sinks that bound their own writes by the real encoded size are batched by event count only.

The router's byte bound is an estimate that serialises every event once more; for the built-in
sinks (which pack or cap by real bytes themselves) it only cost CPU (bench/RESULTS.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from mimecast_siem.sinks.deadletter import DeadLetters
from mimecast_siem.sinks.file import FileSink
from mimecast_siem.sinks.hec import HecSink
from mimecast_siem.sinks.router import Router, estimate_size
from mimecast_siem.sinks.stdout import StdoutSink
from mimecast_siem.sinks.syslog import SyslogSink
from tests.sinks.builders import batch, settings
from tests.sinks.scripted_sink import ScriptedSink


class SelfBoundingSink(ScriptedSink):
    bounds_own_bytes: ClassVar[bool] = True


def _router(tmp_path: Path, sink: ScriptedSink) -> Router:
    cfg = settings([{"name": sink.name, "type": "scripted", "batch_max_events": 10, "batch_max_bytes": 1024}])
    return Router(cfg, {sink.name: sink}, DeadLetters(tmp_path / "dead-letters.ndjson"))


async def test_a_self_bounding_sink_is_cut_by_events_only(tmp_path: Path) -> None:
    events = batch(25)
    assert estimate_size(events[0], "json") * 2 > 1024  # by bytes, every event would travel alone
    sink = SelfBoundingSink("a")
    await _router(tmp_path, sink).deliver("acme", "ttp-url", events)
    assert sink.received == events
    assert sink.batch_sizes == [10, 10, 5]


async def test_other_sinks_are_still_cut_by_the_byte_estimate(tmp_path: Path) -> None:
    events = batch(25)
    sink = ScriptedSink("a")
    await _router(tmp_path, sink).deliver("acme", "ttp-url", events)
    assert sink.received == events
    assert max(sink.batch_sizes) * estimate_size(events[0], "json") <= 1024 or max(sink.batch_sizes) == 1


def test_built_in_sinks_that_bound_their_own_bytes_say_so() -> None:
    assert FileSink.bounds_own_bytes is True
    assert HecSink.bounds_own_bytes is True
    assert SyslogSink.bounds_own_bytes is True
    assert getattr(StdoutSink, "bounds_own_bytes", False) is False
