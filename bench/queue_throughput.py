"""Benchmark 10: durable per-sink queues - throughput with a queue in the path vs without, queue rates.

In one run, on the same normalised events (captured simulator pages of the four log streams, 500 per
page as the collector delivers them), with the file sink (fsync per batch) as the destination:

* **direct**: the router delivers each page to the file sink (no queue) - events/s until the last
  ``deliver`` returned;
* **queued**: the same sink with ``queue.enabled`` - events/s the collector sees (until the last
  ``deliver`` returned: the pages are fsync'd in the queue) and end to end (until the drainer had
  written every event to the file);
* **queue alone**: :class:`~mimecast_siem.sinks.queue.SegmentQueue` appends (one fsync per page) and
  reads + commits (500 at a time), events/s and MB/s.

Every figure is also a ratio to the direct run of the same process, so runs on other machines compare.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from bench.report import Section, Table, Target, fmt_mb, fmt_rate
from bench.settings import BenchOptions
from bench.sink_throughput import _events
from mimecast_siem.config.models import Settings
from mimecast_siem.events import Event
from mimecast_siem.observability.metrics import metrics, reset_metrics
from mimecast_siem.sinks import DeadLetters, Router, SinkContext, build_sinks
from mimecast_siem.sinks.queue import SegmentQueue

DRAIN_TIMEOUT = 300.0


def run(options: BenchOptions) -> Section:
    """Direct vs queued delivery to the file sink, and the queue's own write/read rates."""
    section = Section(10, "Durable queues: throughput with a queue in the path vs without")
    workdir = options.workdir / "queues"
    workdir.mkdir(parents=True, exist_ok=True)
    per_stream = 500 if options.quick else 25_000
    pages = _events(per_stream)
    # The input pages (100,000 events' documents) stay alive for the whole run; a daemon holds only the
    # pages in flight. Freeze them so the cyclic GC does not walk them on every collection that the
    # queue's reads (which build new events) trigger - it made reading 10x slower than what it measures.
    gc.collect()
    gc.freeze()
    total = sum(len(p) for p in pages)

    direct = asyncio.run(_through_router(workdir / "direct", pages, queued=False))
    accepted, drained = asyncio.run(_through_router(workdir / "queued", pages, queued=True))
    write_seconds, read_seconds, size = _queue_alone(workdir / "alone", pages)

    table = Table(
        "File sink through the router, 500 events per deliver",
        ["path", "events", "seconds", "events/s", "ratio to direct"],
    )
    direct_rate = total / direct[0]
    rows = [
        ("direct (no queue)", direct[0]),
        ("queued: until every deliver returned (what the checkpoint waits for)", accepted),
        ("queued: until the drainer wrote every event (end to end)", drained),
    ]
    for label, seconds in rows:
        rate = total / seconds
        table.add(label, f"{total:,}", f"{seconds:.2f}", fmt_rate(rate), f"{rate / direct_rate:.2f}x")
    table.notes.append(
        f"{total:,} events: {per_stream:,} normalised records of each log stream, pages of 500 interleaved."
    )
    table.notes.append(
        "Queued, the deliver returns once the page is fsync'd in the queue; the drainer then sends it in batches "
        "of batch_max_events (500) with its own fsync per batch, taking the events from its tail cache while it "
        "keeps up with the appends (else reading and decoding them from the files)."
    )
    section.tables.append(table)

    alone = Table("The queue alone (SegmentQueue)", ["operation", "events/s", "MB/s", "ratio to direct delivery"])
    for label, seconds in (
        ("append (fsync per 500)", write_seconds),
        ("read + commit from the files (500 at a time, no fsync; a catch-up)", read_seconds),
    ):
        alone.add(
            label, fmt_rate(total / seconds), f"{fmt_mb(size / seconds)}/s", f"{total / seconds / direct_rate:.2f}x"
        )
    alone.notes.append(f"{fmt_mb(size)} of queue records for {total:,} events (16-byte header + event JSON each).")
    section.tables.append(alone)

    end_to_end = total / drained / direct_rate
    section.targets.append(
        Target(
            "queued end-to-end throughput vs direct",
            f"{end_to_end:.2f}x",
            ">= 0.5x",
            None if options.quick else end_to_end >= 0.5,
            "" if end_to_end >= 0.5 else "each event is encoded and fsync'd twice (queue, then file)",
        )
    )
    section.summary.append(
        f"With a queue the collector's side runs at {total / accepted / direct_rate:.2f}x the direct rate and "
        f"delivery end to end at {end_to_end:.2f}x: the price of writing every event to disk once more."
    )
    gc.unfreeze()
    shutil.rmtree(workdir, ignore_errors=True)
    return section


def _settings(workdir: Path, *, queued: bool) -> Settings:
    sink: dict[str, object] = {"name": "archive", "type": "file", "path": str(workdir / "out")}
    if queued:
        sink["queue"] = {"enabled": True, "max_bytes": 8 * 1024**3, "max_age": None}
    return Settings.model_validate(
        {
            "data_dir": str(workdir / "data"),
            "tenants": [
                {"name": "acme", "base_url": "http://127.0.0.1:9", "client_id": "x", "client_secret": "bench-secret-1"}
            ],
            "sinks": [sink],
        }
    )


async def _through_router(workdir: Path, pages: Sequence[Sequence[Event]], *, queued: bool) -> tuple[float, float]:
    """(seconds until every deliver returned, seconds until the sink had every event)."""
    reset_metrics()
    settings = _settings(workdir, queued=queued)
    router = Router(
        settings, build_sinks(settings, SinkContext(workdir, "bench", "bench")), DeadLetters(workdir / "dl")
    )
    await router.start()
    total = sum(len(p) for p in pages)
    try:
        started = time.perf_counter()
        for page in pages:
            await router.deliver(page[0].tenant, page[0].stream, page)
        accepted = time.perf_counter() - started
        if not queued:
            return accepted, accepted
        registry = metrics().registry
        labels = {"sink": "archive"}
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while (registry.get_sample_value("mimecast_siem_queue_drained_events_total", labels) or 0) < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the queue did not drain {total} events in {DRAIN_TIMEOUT:.0f} s")
            await asyncio.sleep(0.005)
        return accepted, time.perf_counter() - started
    finally:
        router.stop()
        await router.close()


def _queue_alone(directory: Path, pages: Sequence[Sequence[Event]]) -> tuple[float, float, int]:
    """(append seconds, read+commit seconds, bytes) of the queue on its own."""
    queue = SegmentQueue(directory, max_bytes=8 * 1024**3)
    started = time.perf_counter()
    size = 0
    for page in pages:
        size += queue.append(page)
    write_seconds = time.perf_counter() - started
    total = sum(len(p) for p in pages)
    started = time.perf_counter()
    position = queue.cursor()
    read = 0
    while read < total:
        batch = queue.read(position, 500, 1 << 40)
        if not batch.records:
            raise RuntimeError(f"the queue returned {read} of {total} events")
        read += len(batch.records)
        queue.commit(batch.end, durable=False)  # as the drainer: fsync at most once a second
        position = batch.end
    return write_seconds, time.perf_counter() - started, size
