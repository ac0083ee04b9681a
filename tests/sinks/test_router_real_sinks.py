"""The router with real sinks: HEC (strict receiver) and the file sink side by side, through failures."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import orjson

from mimecast_siem.observability.metrics import Metrics
from mimecast_siem.sinks.base import SinkContext
from mimecast_siem.sinks.deadletter import DeadLetters
from mimecast_siem.sinks.registry import build_sinks
from mimecast_siem.sinks.router import RetryPolicy, Router
from tests.sinks.builders import batch, make_event, settings
from tests.sinks.conftest import HEC_TOKEN, metric_value
from tests.sinks.hec_receiver import HecReceiver

FAST = RetryPolicy(initial=0.01, maximum=0.05)


async def test_hec_and_file_get_everything_once_through_busy_periods_and_bad_events(
    hec: HecReceiver, context: SinkContext, tmp_path: Path, fresh_metrics: Metrics
) -> None:
    cfg = settings(
        [
            {
                "name": "splunk",
                "type": "hec",
                "format": "raw",
                "format_options": {"metadata": False},
                "url": hec.url,
                "token": HEC_TOKEN,
                "batch_max_events": 10,
                "max_request_bytes": 8192,
            },
            {"name": "archive", "type": "file", "path": str(tmp_path / "out")},
        ]
    )
    sinks = build_sinks(cfg, context)
    dead = DeadLetters(tmp_path / "dead-letters.ndjson")
    router = Router(cfg, sinks, dead, retry=FAST)
    await router.start()
    good = batch(45)
    bad = make_event("ttp-url", {}, event_id="blank")  # HEC refuses an empty event (code 13)
    events = [*good[:20], bad, *good[20:]]
    original = hec._handle_event
    calls = 0

    async def busy_now_and_then(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls % 3 == 0:
            hec.fail_next(1, status=503, code=9)
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    hec._handle_event = busy_now_and_then  # type: ignore[method-assign]
    report = await asyncio.wait_for(router.deliver("acme", "ttp-url", events), 30)
    health = await router.healthcheck()
    await router.close()
    assert health["splunk"].ok
    assert health["archive"].ok

    assert report.sinks["splunk"].delivered == 45
    assert report.sinks["splunk"].dead_lettered == 1
    assert report.sinks["splunk"].retries > 0
    assert report.sinks["archive"].delivered == 46
    assert Counter(e.event["subject"] for e in hec.events) == Counter(f"message {i}" for i in range(45))
    lines = (tmp_path / "out" / "acme" / "ttp-url.ndjson").read_bytes().splitlines()
    assert [orjson.loads(line)["event"]["id"] for line in lines] == [e.event_id for e in events]
    assert [(e.sink, e.event_id) for e in dead.list()] == [("splunk", "blank")]
    labels = {"tenant": "acme", "stream": "ttp-url", "sink": "splunk"}
    # Never double-counted: the retries of partly accepted batches do not inflate the counters.
    assert metric_value(fresh_metrics, "mimecast_siem_events_delivered_total", labels) == 45
    assert metric_value(fresh_metrics, "mimecast_siem_events_dead_lettered_total", labels) == 1
    assert metric_value(fresh_metrics, "mimecast_siem_events_delivered_total", {**labels, "sink": "archive"}) == 46
