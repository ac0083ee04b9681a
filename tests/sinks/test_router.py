"""The router's delivery contract: everything accepted or dead-lettered, retries until stop, never wedged."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mimecast_siem.errors import ConfigError
from mimecast_siem.observability.metrics import Metrics
from mimecast_siem.sinks.deadletter import DeadLetters
from mimecast_siem.sinks.router import (
    DeliveryAborted,
    RetryPolicy,
    Router,
    backoff_delay,
    estimate_size,
    plan_batches,
)
from tests.sinks.builders import batch, make_event, settings
from tests.sinks.conftest import metric_value
from tests.sinks.scripted_sink import ScriptedSink, reject_every_other

FAST = RetryPolicy(initial=0.01, maximum=0.05)


def scripted_settings(*names: str, routes: list[dict[str, Any]] | None = None, **sink_extra: Any) -> Any:
    return settings([{"name": n, "type": "scripted", **sink_extra} for n in names], routes)


def make_router(tmp_path: Path, sinks: dict[str, ScriptedSink], cfg: Any = None) -> tuple[Router, DeadLetters]:
    cfg = cfg or scripted_settings(*sinks)
    dead = DeadLetters(tmp_path / "dead-letters.ndjson")
    return Router(cfg, sinks, dead, retry=FAST), dead


async def test_every_routed_sink_gets_every_event(tmp_path: Path, fresh_metrics: Metrics) -> None:
    a, b = ScriptedSink("a"), ScriptedSink("b")
    router, _ = make_router(tmp_path, {"a": a, "b": b})
    events = batch(7)
    report = await router.deliver("acme", "ttp-url", events)
    assert a.received == events
    assert b.received == events
    assert report.sinks["a"].delivered == 7
    labels = {"tenant": "acme", "stream": "ttp-url", "sink": "a"}
    assert metric_value(fresh_metrics, "mimecast_siem_events_delivered_total", labels) == 7
    assert metric_value(fresh_metrics, "mimecast_siem_sink_up", {"sink": "a"}) == 1
    assert metric_value(fresh_metrics, "mimecast_siem_sink_bytes_total", {"sink": "a"}) == 700


async def test_routes_choose_sinks_per_stream(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    a, b = ScriptedSink("a"), ScriptedSink("b")
    cfg = scripted_settings(
        "a", "b", routes=[{"streams": ["ttp-url"], "sinks": ["a"]}, {"streams": ["audit"], "sinks": ["b"]}]
    )
    router, _ = make_router(tmp_path, {"a": a, "b": b}, cfg)
    await router.deliver("acme", "ttp-url", batch(2))
    await router.deliver("acme", "audit", batch(3, "audit"))
    caplog.set_level(logging.WARNING)
    report = await router.deliver("acme", "held-messages", batch(1, "held-messages"))
    assert (len(a.received), len(b.received)) == (2, 3)
    assert report.sinks == {}
    assert "No sink is routed for stream held-messages" in caplog.text


async def test_batches_respect_count_and_byte_bounds(tmp_path: Path) -> None:
    a = ScriptedSink("a")
    cfg = scripted_settings("a", batch_max_events=4, batch_max_bytes=4096)
    router, _ = make_router(tmp_path, {"a": a}, cfg)
    events = batch(30)
    await router.deliver("acme", "ttp-url", events)
    assert a.received == events
    assert max(a.batch_sizes) <= 4
    per_event = estimate_size(events[0], "json")
    assert max(a.batch_sizes) * per_event <= 4096 or max(a.batch_sizes) == 1


async def test_transient_failures_retry_the_same_batch_until_it_goes(tmp_path: Path, fresh_metrics: Metrics) -> None:
    a = ScriptedSink("a", ["transient", "transient", "bug", "transient"])
    router, dead = make_router(tmp_path, {"a": a})
    events = batch(3)
    report = await asyncio.wait_for(router.deliver("acme", "ttp-url", events), 10)
    assert a.received == events
    assert a.batch_sizes == [3, 3, 3, 3, 3]
    assert report.sinks["a"].retries == 4
    assert dead.list() == []
    assert metric_value(fresh_metrics, "mimecast_siem_sink_errors_total", {"sink": "a", "kind": "transient"}) == 4
    assert (
        metric_value(
            fresh_metrics, "mimecast_siem_events_delivered_total", {"tenant": "acme", "stream": "ttp-url", "sink": "a"}
        )
        == 3
    )
    assert metric_value(fresh_metrics, "mimecast_siem_sink_up", {"sink": "a"}) == 1


async def test_stop_during_retries_aborts_so_nothing_is_committed(tmp_path: Path) -> None:
    a = ScriptedSink("a", ["transient"] * 1000)
    router, _ = make_router(tmp_path, {"a": a})
    router._retry = RetryPolicy(initial=30, maximum=30)  # a long pause the stop must cut short
    task = asyncio.create_task(router.deliver("acme", "ttp-url", batch(2)))
    while a.calls == 0:
        await asyncio.sleep(0.01)
    router.stop()
    with pytest.raises(DeliveryAborted):
        await asyncio.wait_for(task, 5)
    assert a.received == []


async def test_in_flight_send_finishes_after_stop(tmp_path: Path) -> None:
    a = ScriptedSink("a", ["slow"])
    router, _ = make_router(tmp_path, {"a": a})
    task = asyncio.create_task(router.deliver("acme", "ttp-url", batch(2)))
    while a.calls == 0:
        await asyncio.sleep(0.01)
    router.stop()
    a.release.set()
    report = await asyncio.wait_for(task, 5)
    assert report.sinks["a"].delivered == 2


async def test_permanent_failure_dead_letters_the_batch_and_moves_on(tmp_path: Path, fresh_metrics: Metrics) -> None:
    a, b = ScriptedSink("a", ["permanent"]), ScriptedSink("b")
    router, dead = make_router(tmp_path, {"a": a, "b": b})
    events = batch(3)
    report = await asyncio.wait_for(router.deliver("acme", "ttp-url", events), 10)
    assert report.sinks["a"].dead_lettered == 3
    assert b.received == events
    entries = dead.list()
    assert [e.event_id for e in entries] == [e.event_id for e in events]
    assert all(e.sink == "a" and "refuses the token" in e.reason for e in entries)
    assert entries[0].event == events[0]
    assert metric_value(fresh_metrics, "mimecast_siem_sink_up", {"sink": "a"}) == 0
    assert metric_value(fresh_metrics, "mimecast_siem_sink_errors_total", {"sink": "a", "kind": "permanent"}) == 1
    labels = {"tenant": "acme", "stream": "ttp-url", "sink": "a"}
    assert metric_value(fresh_metrics, "mimecast_siem_events_dead_lettered_total", labels) == 3
    # The next batch goes through: the sink is not wedged, and it is up again.
    await router.deliver("acme", "ttp-url", batch(1, start=10))
    assert metric_value(fresh_metrics, "mimecast_siem_sink_up", {"sink": "a"}) == 1


async def test_rejected_events_are_dead_lettered_and_the_rest_delivered(tmp_path: Path, fresh_metrics: Metrics) -> None:
    a = ScriptedSink("a", [reject_every_other])
    router, dead = make_router(tmp_path, {"a": a})
    events = batch(6)
    report = await router.deliver("acme", "ttp-url", events)
    assert (report.sinks["a"].delivered, report.sinks["a"].dead_lettered) == (3, 3)
    assert [e.event_id for e in dead.list()] == [events[i].event_id for i in (1, 3, 5)]
    assert all("Invalid data format" in e.reason for e in dead.list())
    labels = {"tenant": "acme", "stream": "ttp-url", "sink": "a"}
    assert metric_value(fresh_metrics, "mimecast_siem_events_delivered_total", labels) == 3
    assert metric_value(fresh_metrics, "mimecast_siem_events_dead_lettered_total", labels) == 3
    assert metric_value(fresh_metrics, "mimecast_siem_sink_errors_total", {"sink": "a", "kind": "rejected"}) == 3


async def test_sinks_are_started_lazily_and_start_failures_retried(tmp_path: Path) -> None:
    a = ScriptedSink("a", start_failures=2)
    router, _ = make_router(tmp_path, {"a": a})
    await router.start()  # logs, does not raise
    await asyncio.wait_for(router.deliver("acme", "ttp-url", batch(2)), 10)
    assert a.starts == 3
    assert len(a.received) == 2
    await router.close()
    assert a.closed


async def test_an_unwritable_dead_letter_file_is_retried_not_skipped(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the dead-letter directory should be")
    a = ScriptedSink("a", ["permanent"])
    cfg = scripted_settings("a")
    dead = DeadLetters(blocker / "dead-letters.ndjson")
    router = Router(cfg, {"a": a}, dead, retry=FAST)
    task = asyncio.create_task(router.deliver("acme", "ttp-url", batch(2)))
    await asyncio.sleep(0.2)
    assert not task.done()  # not counted as handled while the dead letters are not on disk
    blocker.unlink()
    await asyncio.wait_for(task, 5)
    assert len(dead.list()) == 2


def test_router_refuses_sinks_that_do_not_match_the_configuration(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Router(scripted_settings("a", "b"), {"a": ScriptedSink("a")}, DeadLetters(tmp_path / "d"))


@given(attempt=st.integers(min_value=1, max_value=10_000), rand=st.floats(min_value=0, max_value=0.999))
def test_backoff_grows_is_capped_and_jittered(attempt: int, rand: float) -> None:
    policy = RetryPolicy(initial=0.5, maximum=30, jitter=0.5)
    delay = backoff_delay(attempt, policy, rand)
    base = min(30.0, 0.5 * 2 ** min(attempt - 1, 64))
    assert base * 0.5 <= delay <= base
    assert backoff_delay(attempt, policy, 0.0) <= backoff_delay(attempt + 1, policy, 0.0)


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=3000), max_size=100),
    max_events=st.integers(min_value=1, max_value=20),
    max_bytes=st.integers(min_value=1024, max_value=10_000),
)
def test_plan_batches_keeps_order_and_bounds(sizes: list[int], max_events: int, max_bytes: int) -> None:
    events = [make_event("audit", {"n": i}, event_id=str(i)) for i in range(len(sizes))]
    size_of: dict[str, int] = {e.event_id: s for e, s in zip(events, sizes, strict=True)}
    batches = plan_batches(events, max_events, max_bytes, lambda e: size_of[e.event_id])
    assert [e for b in batches for e in b] == events
    for b in batches:
        assert 1 <= len(b) <= max_events
        assert len(b) == 1 or sum(size_of[e.event_id] for e in b) <= max_bytes


async def test_sink_up_is_set_at_start_before_anything_is_sent(tmp_path: Path, fresh_metrics: Metrics) -> None:
    good, bad = ScriptedSink("good"), ScriptedSink("bad", start_failures=1)
    router, _ = make_router(tmp_path, {"good": good, "bad": bad})
    await router.start()
    assert metric_value(fresh_metrics, "mimecast_siem_sink_up", {"sink": "good"}) == 1
    assert metric_value(fresh_metrics, "mimecast_siem_sink_up", {"sink": "bad"}) == 0
    await router.close()


async def test_daemon_probe_marks_an_idle_unhealthy_sink_down(tmp_path: Path, fresh_metrics: Metrics) -> None:
    from mimecast_siem.collector.daemon import probe_sinks_forever
    from mimecast_siem.sinks.base import SinkHealth

    sink = ScriptedSink("idle")
    router, _ = make_router(tmp_path, {"idle": sink})
    await router.start()
    assert metric_value(fresh_metrics, "mimecast_siem_sink_up", {"sink": "idle"}) == 1

    async def unhealthy() -> SinkHealth:
        return SinkHealth(False, "receiver refused the connection")

    sink.healthcheck = unhealthy  # type: ignore[method-assign]
    probe = asyncio.create_task(probe_sinks_forever(router, interval=0.01))
    try:
        for _ in range(200):
            if metric_value(fresh_metrics, "mimecast_siem_sink_up", {"sink": "idle"}) == 0:
                break
            await asyncio.sleep(0.01)
    finally:
        probe.cancel()
    assert metric_value(fresh_metrics, "mimecast_siem_sink_up", {"sink": "idle"}) == 0
    assert sink.received == []
    await router.close()
