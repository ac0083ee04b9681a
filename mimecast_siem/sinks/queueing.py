"""A sink's durable queue at run time: enqueue for the router, drain in the background, metrics.

The router hands a queued sink's events to :meth:`SinkQueue.enqueue` (the stream's checkpoint may move
once it returns: the events are fsync'd in the queue) and runs :meth:`SinkQueue.drain_forever`, which
reads the queue in order, sends each batch through the router's own ``send_batch`` (same retries with
backoff, same dead-letter rules) and commits the read cursor after each batch. Storage:
:mod:`mimecast_siem.sinks.queue`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from mimecast_siem.aio import wait_for
from mimecast_siem.events import Event
from mimecast_siem.observability.metrics import Metrics
from mimecast_siem.sinks.base import Rejection
from mimecast_siem.sinks.queue import Position, QueueFull, ReadBatch, Record, SegmentQueue

log = logging.getLogger("mimecast_siem.sinks.queue")

#: How often an idle drainer looks for events another process (a standalone backfill) appended.
IDLE_POLL_SECONDS = 1.0
#: How often a process that does not hold the drain lock tries to take it.
LOCK_POLL_SECONDS = 2.0
#: The drain's cursor is fsync'd at most this often (renamed into place after every batch).
CURSOR_SYNC_SECONDS = 1.0

SendBatch = Callable[[str, str, list[Event]], Awaitable[None]]
DeadLetter = Callable[[list[Rejection]], Awaitable[None]]


class SinkQueue:
    """One sink's queue: bounds, policy, counters and the drain loop.

    Args:
        sink: the sink's name.
        settings: the sink's ``queue`` block (:class:`~mimecast_siem.config.models.SinkQueueSettings`).
        data_dir: the daemon's data directory (the queue lives in ``queues/<sink>`` unless ``path`` is set).
        metrics: where the queue's gauges and counters go.
    """

    def __init__(self, sink: str, settings: Any, data_dir: Path, metrics: Metrics) -> None:
        self.sink = sink
        self.when_full: str = settings.when_full
        directory = settings.path or (Path(data_dir) / "queues" / sink)
        max_age = settings.max_age.total_seconds() if settings.max_age is not None else None
        self.store = SegmentQueue(Path(directory), max_bytes=settings.max_bytes, max_age=max_age)
        self.metrics = metrics
        self.events = 0
        self.bytes = 0
        self.freed = asyncio.Event()
        self.arrived = asyncio.Event()
        self._warned_full = False
        #: Appends of this process started, and in flight: a recount is used only if none was in flight
        #: when it began and none started while it ran (the files and ``events`` could disagree then).
        self._appends = 0
        self._appending = 0
        metrics.queue_oldest_age.labels(sink=sink).set_function(self.oldest_age)
        for counter in (metrics.queue_enqueued, metrics.queue_drained, metrics.queue_dropped, metrics.queue_corrupt):
            counter.labels(sink=sink)  # exposed at 0 from the start (an alert's rate() needs the series)

    def oldest_age(self) -> float:
        """Seconds the oldest queued event has waited (0 when the queue is empty)."""
        oldest = self.store.oldest_enqueued
        if self.events <= 0 or oldest is None:
            return 0.0
        return max(0.0, time.time() - oldest)

    async def open(self) -> None:
        """Count what an earlier run left in the queue (it is drained first)."""
        self.events, self.bytes = await asyncio.to_thread(self.store.count)
        self._publish()
        if self.events:
            log.info(
                "Sink %s has %d queued events (%d bytes) from before; draining them first.",
                self.sink,
                self.events,
                self.bytes,
            )

    def _publish(self) -> None:
        self.metrics.queue_events.labels(sink=self.sink).set(max(self.events, 0))
        self.metrics.queue_bytes.labels(sink=self.sink).set(max(self.bytes, 0))

    # -- enqueue (the router's deliver) ------------------------------------------------------------

    async def enqueue(self, events: Sequence[Event], stopping: asyncio.Event) -> bool:
        """Write ``events`` durably to the queue; False when they were dropped (drop_newest).

        With ``block`` a full queue waits until the drain frees room (the stream's checkpoint holds).

        Raises:
            QueueBlocked: ``stopping`` was set while waiting for room.
            OSError: the disk failed (the caller retries like a failing sink).
        """
        while True:
            self._appends += 1
            self._appending += 1
            try:
                written = await asyncio.to_thread(self.store.append, list(events))
            except QueueFull as exc:
                self._appending -= 1
                if self.when_full == "drop_newest":
                    self.metrics.queue_dropped.labels(sink=self.sink).inc(len(events))
                    log.warning(
                        "The queue of sink %s is full (%s): %d events dropped (when_full: drop_newest), ids: %s",
                        self.sink,
                        exc,
                        len(events),
                        " ".join(e.event_id for e in events),
                    )
                    return False
                if not self._warned_full:
                    self._warned_full = True
                    log.warning(
                        "The queue of sink %s is full (%s): holding the stream's checkpoint until it drains "
                        "(when_full: block).",
                        self.sink,
                        exc,
                    )
                if stopping.is_set():
                    raise QueueBlocked(f"the queue of sink {self.sink} is full and the daemon is stopping") from None
                self.freed.clear()
                with contextlib.suppress(TimeoutError):
                    await wait_for(_first(self.freed, stopping), seconds=IDLE_POLL_SECONDS)
                continue
            except BaseException:
                self._appending -= 1
                raise
            # No await from here to the count below: a recount never sees the files ahead of ``events``.
            self._appending -= 1
            self._warned_full = False
            self.events += len(events)
            self.bytes += written
            self._publish()
            self.metrics.queue_enqueued.labels(sink=self.sink).inc(len(events))
            self.arrived.set()
            return True

    # -- drain (background task) -------------------------------------------------------------------

    async def drain_forever(
        self,
        send_batch: SendBatch,
        dead_letter: DeadLetter,
        *,
        max_events: int,
        max_bytes: int,
        stopping: asyncio.Event,
    ) -> None:
        """Drain the queue in order until ``stopping`` is set (or the task is cancelled).

        ``send_batch(tenant, stream, events)`` returns once the batch is delivered or dead-lettered (it
        retries transient failures itself and raises when stopped): only then is the cursor committed.
        """
        store = self.store
        while not stopping.is_set():
            if not await asyncio.to_thread(store.try_drain_lock):
                await _sleep(LOCK_POLL_SECONDS, stopping)
                continue
            position = await asyncio.to_thread(store.cursor)
            last_sync = time.monotonic()
            # The next batch is read (and decoded, in a thread) while the current one is being sent: the
            # cursor still moves only after a batch was delivered, in order, so a crash re-sends at most
            # the batch in flight, as without the read-ahead.
            ahead: asyncio.Future[ReadBatch] | None = None
            try:
                while not stopping.is_set():
                    if ahead is None:
                        # Cleared before a read, never after one: an append during the read still wakes us.
                        self.arrived.clear()
                        ahead = _read(store, position, max_events, max_bytes)
                    read = await ahead
                    ahead = None
                    if read.records:
                        store.oldest_enqueued = read.records[0].enqueued_at
                        self.arrived.clear()
                        ahead = _read(store, read.end, max_events, max_bytes)
                    for damage in read.corruptions:
                        log.error(
                            "Sink %s: a damaged region of its queue is dead-lettered: %s", self.sink, damage.reason
                        )
                        await dead_letter([Rejection(damage.as_event(self.sink), damage.reason)])
                        self.metrics.queue_corrupt.labels(sink=self.sink).inc()
                    for tenant, stream, group in _groups(read.records):
                        await send_batch(tenant, stream, group)
                    if read.records or read.corruptions or read.end != position:
                        # fsync the cursor at most once a second: a SIGKILL loses nothing of an unsynced
                        # cursor, a power loss only makes the drain restart a little earlier (re-sends).
                        durable = time.monotonic() - last_sync >= CURSOR_SYNC_SECONDS
                        await asyncio.to_thread(functools.partial(store.commit, read.end, durable=durable))
                        if durable:
                            last_sync = time.monotonic()
                        position = read.end
                        self.events -= len(read.records)
                        self.bytes -= sum(r.size for r in read.records) + sum(c.length for c in read.corruptions)
                        self.metrics.queue_drained.labels(sink=self.sink).inc(len(read.records))
                        self.freed.set()
                    if not read.records and not read.corruptions:
                        # Idle: recount from the files (cheap when empty), so the gauges also see appends of
                        # another process (a standalone backfill) and never drift. An enqueue of this
                        # process in flight or during the count makes it stale: the next idle pass counts again.
                        appends, busy = self._appends, self._appending
                        counted = await asyncio.to_thread(store.count)
                        if not busy and not self._appending and appends == self._appends:
                            self.events, self.bytes = counted
                        self._publish()
                        with contextlib.suppress(TimeoutError):
                            await wait_for(_first(self.arrived, stopping), seconds=IDLE_POLL_SECONDS)
                        continue
                    self._publish()
            finally:
                if ahead is not None:
                    _discard(ahead)

    def close(self) -> None:
        """Release the drain lock (another process may drain now)."""
        self.store.release_drain_lock()


class QueueBlocked(Exception):
    """A full queue (when_full: block) was still full when the daemon began to stop."""


def _read(store: SegmentQueue, start: Position, max_events: int, max_bytes: int) -> asyncio.Future[ReadBatch]:
    """The next batch: at once from the tail cache, else read in a thread (the drain notes the oldest)."""
    cached = store.tail.take(start, max_events, max_bytes)
    if cached is not None:
        done: asyncio.Future[ReadBatch] = asyncio.get_running_loop().create_future()
        done.set_result(cached)
        return done
    call = functools.partial(store.read, start, max_events, max_bytes, note_oldest=False)
    return asyncio.ensure_future(asyncio.to_thread(call))


def _discard(future: asyncio.Future[ReadBatch]) -> None:
    """Drop a read-ahead nobody will take (its failure, if any, is the next drain's to meet)."""
    if future.done():
        if not future.cancelled():
            future.exception()  # retrieved: no "exception was never retrieved" warning
    else:
        future.cancel()


def _groups(records: Sequence[Record]) -> list[tuple[str, str, list[Event]]]:
    """Consecutive events of one (tenant, stream), in order (the metrics are labelled by both)."""
    groups: list[tuple[str, str, list[Event]]] = []
    last: tuple[str, str] | None = None
    current: list[Event] = []
    for record in records:
        event = record.event
        key = (event.tenant, event.stream)
        if key != last:
            current = []
            groups.append((key[0], key[1], current))
            last = key
        current.append(event)
    return groups


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _sleep(seconds: float, stopping: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await wait_for(stopping.wait(), seconds=seconds)
