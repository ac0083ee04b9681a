"""The router encodes each event once per encoder and hands the records to every sink configured alike."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from mimecast_siem.events import Event
from mimecast_siem.sinks.base import SinkContext
from mimecast_siem.sinks.deadletter import DeadLetters
from mimecast_siem.sinks.formats.base import Record
from mimecast_siem.sinks.formats.cef import CefEncoder
from mimecast_siem.sinks.formats.json import JsonEncoder
from mimecast_siem.sinks.registry import build_sinks
from mimecast_siem.sinks.router import RetryPolicy, Router
from mimecast_siem.sinks.stdout import StdoutSink
from tests.sinks.builders import batch, settings
from tests.sinks.conftest import HEC_TOKEN
from tests.sinks.hec_receiver import HecReceiver

FAST = RetryPolicy(initial=0.01, maximum=0.05)


def count_calls(monkeypatch: pytest.MonkeyPatch, cls: type[Any]) -> list[str]:
    """Record the event id of every ``cls.encode`` call (the real encoder still runs)."""
    seen: list[str] = []
    original = cls.encode

    def encode(self: Any, event: Event) -> list[Record]:
        seen.append(event.event_id)
        result: list[Record] = original(self, event)
        return result

    monkeypatch.setattr(cls, "encode", encode)
    return seen


async def deliver(blocks: list[dict[str, Any]], context: SinkContext, data_dir: Path, events: list[Event]) -> Router:
    cfg = settings(blocks, data_dir=str(data_dir))
    sinks = build_sinks(cfg, context)
    stdout = next((s for s in sinks.values() if isinstance(s, StdoutSink)), None)
    if stdout is not None:
        stdout._output = io.BytesIO()
    router = Router(cfg, sinks, DeadLetters(data_dir / "dead-letters.ndjson"), retry=FAST)
    await router.start()
    try:
        report = await asyncio.wait_for(router.deliver("acme", "ttp-url", events), 30)
    finally:
        await router.close()
    assert report.dead_lettered == 0
    return router


async def test_sinks_of_one_format_share_each_events_records(
    hec: HecReceiver, context: SinkContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = batch(40)
    # What one sink alone writes (no sharing: one sink).
    await deliver([{"name": "alone", "type": "file", "path": str(tmp_path / "alone")}], context, tmp_path, events)
    alone = (tmp_path / "alone" / "acme" / "ttp-url.ndjson").read_bytes()

    json_calls = count_calls(monkeypatch, JsonEncoder)
    cef_calls = count_calls(monkeypatch, CefEncoder)
    blocks: list[dict[str, Any]] = [
        {"name": "a", "type": "file", "path": str(tmp_path / "a"), "batch_max_events": 7},
        {"name": "b", "type": "file", "path": str(tmp_path / "b")},
        {"name": "out", "type": "stdout"},
        {"name": "splunk", "type": "hec", "url": hec.url, "token": HEC_TOKEN, "batch_max_events": 15},
        {"name": "cef", "type": "file", "format": "cef", "path": str(tmp_path / "cef")},
        {"name": "cef2", "type": "file", "format": "cef", "path": str(tmp_path / "cef2")},
    ]
    router = await deliver(blocks, context, tmp_path, events)

    ids = [e.event_id for e in events]
    assert sorted(json_calls) == sorted(ids), "four json sinks: one encoding per event"
    assert sorted(cef_calls) == sorted(ids), "two cef sinks: one encoding per event"
    assert (tmp_path / "a" / "acme" / "ttp-url.ndjson").read_bytes() == alone
    assert (tmp_path / "b" / "acme" / "ttp-url.ndjson").read_bytes() == alone
    stdout = router._routes["out"].sink
    assert isinstance(stdout, StdoutSink)
    assert stdout.output.getvalue() == alone  # type: ignore[attr-defined]
    assert [orjson.dumps(e.event) for e in hec.events] == alone.splitlines()
    assert (tmp_path / "cef" / "acme" / "ttp-url.log").read_bytes() == (
        tmp_path / "cef2" / "acme" / "ttp-url.log"
    ).read_bytes()
    # The events themselves are as the collector made them.
    assert [orjson.loads(line) for line in alone.splitlines()] == [
        {**e.document, "event": {**e.document["event"], "id": e.event_id}} for e in batch(40)
    ]


async def test_sinks_with_different_format_options_do_not_share(
    context: SinkContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = batch(10)
    json_calls = count_calls(monkeypatch, JsonEncoder)
    blocks: list[dict[str, Any]] = [
        {"name": "native", "type": "file", "path": str(tmp_path / "native")},
        {
            "name": "elastic",
            "type": "file",
            "path": str(tmp_path / "elastic"),
            "format_options": {"ecs_profile": "elastic-integration"},
        },
    ]
    await deliver(blocks, context, tmp_path, events)
    assert len(json_calls) == 2 * len(events)
    native = (tmp_path / "native" / "acme" / "ttp-url.ndjson").read_bytes().splitlines()
    elastic = (tmp_path / "elastic" / "acme" / "ttp-url.ndjson").read_bytes().splitlines()
    assert [orjson.loads(line)["event"]["id"] for line in elastic] == [e.event_id for e in events]
    assert native != elastic
