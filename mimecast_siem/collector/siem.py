"""The SIEM log streams (one per type: ``siem-receipt``, ``siem-process`` ...) in batch or stream mode.

Batch mode (the default): list the type's files of one day (``dateRangeStartsAt = EndsAt = day``),
download each file promptly, stream-decompress and parse it line by line
(:mod:`~mimecast_siem.collector.siem_files`), normalise and deliver in bounded batches, and commit
the cursor ``(day, @nextPage)`` only after every routed sink accepted every event of every file of
that listing page. A URL that answers 403/404 (expired) makes the page be listed again for fresh
URLs - files already delivered in this poll are not fetched twice - and is counted; after
:data:`RELIST_ATTEMPTS` the poll fails (and is retried with backoff): a file is never skipped
silently. A corrupt line goes to the dead letters (sink ``mimecast``) with file and line number;
the rest of the file is delivered. Once a day is over and its listing exhausted, the next day is
listed; the day before stays listed too (the cursor's ``previous``) until it is over by
:data:`DAY_SETTLE`, because its last files appear after midnight. So the first hour of a day is
delivered as it comes, not held back until the old day's list is final. Files of one listing page
download concurrently (``concurrency`` of the stream, within the app's request budget: each
download holds a request slot).

Stream mode: walk ``GET /siem/v1/events/cg`` with the stored cursor. The API serves only the last
24 h: a checkpoint older than that is reported (warning, ``siem_gap_seconds_total``, a note shown
by ``checkpoints list``) and the stream resumes from the oldest available point. A cursor the API
rejects, or one that stopped advancing while the time-based query finds newer events, is reported
(``siem_cursor_resets_total{reason}``) and replaced by a time-based query from the checkpoint
(already delivered ids are dropped with the seen-id table).

The checkpoint (a time) is the newest event time delivered; the cursor sits beside it in the
stream's snapshot (``commit_window(snapshot=...)``), so both move in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from mimecast_siem.collector.pipeline import CheckpointStore, StreamContext, WindowResult, normalise_records
from mimecast_siem.collector.siem_files import CorruptLine, read_ndjson_gzip
from mimecast_siem.errors import ApiError, AuthError, RateLimited, TransientError
from mimecast_siem.events import Event
from mimecast_siem.mimecast import PresignedUrlGone, list_batch_files, stream_events
from mimecast_siem.streams import CATALOGUE, NormaliseContext, StreamSpec
from mimecast_siem.streams.siem import SIEM_STREAM_TYPES

log = logging.getLogger("mimecast_siem.collector")

SiemMode = Literal["batch", "stream"]
#: Dead-letter "sink" name of lines unreadable at the source (replay keeps them: no such sink).
SOURCE_DEAD_LETTER = "mimecast"
#: Listings of one page tried before a poll gives up on expired URLs.
RELIST_ATTEMPTS = 3
#: A day's file list is final this long after the day ended.
DAY_SETTLE = timedelta(hours=1)
#: Batch files are kept 7 days (mimecast-api.md 4.8); the oldest day still listed.
BATCH_RETENTION = timedelta(days=7)
#: The stream serves the last 24 h; a margin keeps a resume from racing the edge.
STREAM_WINDOW = timedelta(hours=24)
STREAM_MARGIN = timedelta(minutes=5)
#: Polls a stream cursor may stay put before a time-based probe checks it.
STALL_POLLS = 5
#: Events per delivery while reading a file.
FILE_BATCH = 1000
#: Chunk size of downloads.
CHUNK_BYTES = 64 * 1024
#: Recent event ids remembered to collapse duplicates (bounded: a 1 GB file must not grow it).
RECENT_IDS = 16384
#: Pages walked per poll before the task yields (the checkpoint is committed after each).
MAX_PAGES_PER_POLL = 200


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def siem_type_of(stream: str) -> str:
    """The API type of a SIEM stream name (``siem-url-protect`` → ``url protect``)."""
    return SIEM_STREAM_TYPES[stream]


@dataclass(slots=True)
class SiemCursor:
    """What is kept beside a SIEM stream's checkpoint (in its snapshot).

    Attributes:
        mode: ``batch`` or ``stream`` (a mode switch restarts the cursor from the checkpoint).
        day: batch: the day being listed (``YYYY-MM-DD``).
        next_page: batch: ``@nextPage`` of the day's listing; stream: the event cursor.
        still: stream: polls in a row the cursor did not move.
        note: the last report an operator should see (``checkpoints list``), e.g. a gap.
        previous: batch: the day before ``day`` while its list may still grow (until it is over by
            :data:`DAY_SETTLE`), listed before ``day`` in every poll.
        previous_page: batch: ``@nextPage`` of ``previous``'s listing.
    """

    mode: str = "batch"
    day: str | None = None
    next_page: str | None = None
    still: int = 0
    note: str | None = None
    previous: str | None = None
    previous_page: str | None = None

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """The snapshot stored with the commit."""
        return {"cursor": asdict(self)}

    @classmethod
    def load(cls, snapshot: Mapping[str, Mapping[str, Any]], mode: str) -> SiemCursor:
        """The cursor of a stored snapshot (a fresh one when absent, unreadable or of the other mode)."""
        raw = snapshot.get("cursor") or {}
        try:
            cursor = cls(**{k: raw[k] for k in _CURSOR_KEYS if k in raw})
        except TypeError:
            return cls(mode=mode)
        if cursor.mode != mode:
            return cls(mode=mode, note=cursor.note)
        return cursor


_CURSOR_KEYS = ("mode", "day", "next_page", "still", "note", "previous", "previous_page")


class RecentIds:
    """The last ``size`` event ids, to collapse duplicate lines (bounded, unlike a set of a whole file)."""

    def __init__(self, size: int = RECENT_IDS) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def fresh(self, events: Sequence[Event]) -> tuple[list[Event], int]:
        """Events whose id was not seen recently (remembering them), and how many were dropped."""
        out: list[Event] = []
        dropped = 0
        ids = self._ids
        for event in events:
            if event.event_id in ids:
                dropped += 1
                continue
            ids[event.event_id] = None
            out.append(event)
        while len(ids) > self._size:
            ids.popitem(last=False)
        return out, dropped


def file_name(url: str) -> str:
    """The file's name from its URL - the path's last part, never the query (it holds the signature)."""
    path = urlsplit(url).path.rstrip("/")
    return path.rsplit("/", 1)[-1] or "file"


@dataclass(slots=True)
class FileResult:
    """What one file moved."""

    name: str
    lines: int = 0
    records: int = 0
    delivered: int = 0
    deduplicated: int = 0
    corrupt: int = 0
    bytes: int = 0
    newest: datetime | None = None
    sinks: dict[str, int] = field(default_factory=dict)
    dead_lettered: int = 0


Unreadable = Callable[[Event, str], Awaitable[None]]


def corrupt_event(ctx: StreamContext, corrupt: CorruptLine, observed_at: datetime) -> Event:
    """A minimal event carrying a corrupt line (for the dead-letter file)."""
    raw = {"file": corrupt.file, "line": corrupt.line, "text": corrupt.excerpt}
    return Event(
        event_id=f"corrupt:{corrupt.file}:{corrupt.line}",
        tenant=ctx.tenant,
        stream=ctx.stream,
        timestamp=observed_at,
        document={"mimecast_siem": {"unreadable": raw}},
        raw=raw,
    )


async def deliver_file(
    ctx: StreamContext,
    url: str,
    *,
    recent: RecentIds,
    unreadable: Unreadable,
    clock: Callable[[], datetime],
    batch_size: int = FILE_BATCH,
    keep: Callable[[Event], bool] | None = None,
) -> FileResult:
    """Download one batch file and deliver its events in batches of ``batch_size``, in flat memory.

    Raises:
        PresignedUrlGone: the URL expired (list again).
        CorruptFileError, TransientError: the file could not be read to its end (retry it).

    ``keep`` narrows the events delivered (a backfill's time range); the others are not counted.
    """
    name = file_name(url)
    result = FileResult(name)
    observed_at = clock()
    nctx = NormaliseContext(tenant=ctx.tenant, observed_at=observed_at)
    buffer: list[Event] = []
    m = ctx.metrics

    async def flush() -> None:
        if not buffer:
            return
        fresh, dropped = recent.fresh(buffer)
        buffer.clear()
        result.deduplicated += dropped
        if dropped:
            m.events_deduplicated.labels(tenant=ctx.tenant, stream=ctx.stream).inc(dropped)
        if fresh:
            report = await ctx.router.deliver(ctx.tenant, ctx.stream, fresh)
            partial = WindowResult()
            partial.add_report(report)
            for sink, count in partial.sinks.items():
                result.sinks[sink] = result.sinks.get(sink, 0) + count
            result.dead_lettered += partial.dead_lettered
            result.delivered += len(fresh)
            newest = max(e.timestamp for e in fresh)
            result.newest = newest if result.newest is None else max(result.newest, newest)

    async with ctx.client.open_presigned(url, priority=ctx.priority) as body:  # type: ignore[attr-defined]

        async def chunks() -> Any:
            async for chunk in body.iter_chunked(CHUNK_BYTES):
                result.bytes += len(chunk)
                yield chunk

        async for lines in read_ndjson_gzip(chunks(), name):
            records: list[dict[str, Any]] = []
            for line in lines:
                result.lines += 1
                if line.record is not None:
                    records.append(line.record)
                elif line.corrupt is not None:
                    result.corrupt += 1
                    reason = f"corrupt line {line.corrupt.line} of SIEM file {name}: {line.corrupt.error}"
                    await unreadable(corrupt_event(ctx, line.corrupt, observed_at), reason)
            if records:
                result.records += len(records)
                m.events_fetched.labels(tenant=ctx.tenant, stream=ctx.stream).inc(len(records))
                events = normalise_records(ctx.spec, records, nctx)
                buffer.extend(events if keep is None else [e for e in events if keep(e)])
                if len(buffer) >= batch_size:
                    await flush()
        await flush()
    return result


def _report(level: int, message: str, ctx: StreamContext, **extra: Any) -> None:
    log.log(level, message, extra={"tenant": ctx.tenant, "stream": ctx.stream, **extra})


def _is_refusal(exc: BaseException) -> bool:
    """An API answer refusing the request itself (not auth, rate limit or a transient failure)."""
    return isinstance(exc, ApiError) and not isinstance(exc, AuthError | RateLimited | TransientError)


def dead_letter_unreadable(router: Any) -> Unreadable:
    """Where unreadable lines go: the router's dead letters (sink ``mimecast``), when it keeps them."""

    async def unreadable(event: Event, reason: str) -> None:
        record = getattr(router, "record_unreadable", None)
        if record is not None:
            await record(SOURCE_DEAD_LETTER, event, reason)

    return unreadable


def add_file(total: WindowResult, result: FileResult) -> None:
    """Count one delivered batch file (a page of the poll or of a backfill range) into ``total``."""
    total.pages += 1
    total.fetched += result.records
    total.delivered += result.delivered
    total.deduplicated += result.deduplicated
    total.dead_lettered += result.dead_lettered
    for sink, count in result.sinks.items():
        total.sinks[sink] = total.sinks.get(sink, 0) + count


class SiemPoller:
    """Polls one SIEM stream (one type) for one tenant: batch files or the event stream.

    Args:
        ctx: the stream context (client, router, settings; ``ctx.spec.normalise`` is the SIEM normaliser).
        store: the state store.
        owner, epoch: the lease every commit is made under.
        mode: ``batch`` or ``stream``.
        api: ``cg`` (Cloud Gateway) or ``ci`` (Cloud Integrated) batch endpoint.
        unreadable: writes a corrupt line's event to the dead letters with a reason.
        clock: the current time (UTC-aware).
    """

    def __init__(
        self,
        ctx: StreamContext,
        store: CheckpointStore,
        *,
        owner: str,
        epoch: int | None,
        mode: SiemMode = "batch",
        api: Literal["cg", "ci"] = "cg",
        unreadable: Unreadable,
        clock: Callable[[], datetime],
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.ctx = ctx
        self.store = store
        self.owner = owner
        self.epoch = epoch
        self.mode = mode
        self.api = api
        self.unreadable = unreadable
        self.clock = clock
        self.stopping = stopping or asyncio.Event()
        self.siem_type = siem_type_of(ctx.stream)
        self.recent = RecentIds()
        self.last_result = WindowResult()

    async def poll(self) -> bool:
        """One poll; True when caught up (the task may sleep a poll interval)."""
        self.last_result = WindowResult()
        if self.mode == "stream":
            return await self._poll_stream()
        return await self._poll_batch()

    # --- shared --------------------------------------------------------------------------------------

    def _start(self, now: datetime) -> datetime:
        start_from = self.ctx.settings.start_from
        return start_from if isinstance(start_from, datetime) else now - start_from

    async def _commit(
        self, checkpoint: datetime | None, newest: datetime | None, cursor: SiemCursor, now: datetime, seen: Any = ()
    ) -> datetime:
        candidates = [t for t in (checkpoint, newest) if t is not None]
        end = max(candidates) if candidates else self._start(now)
        return await self.store.commit_window(
            self.ctx.tenant,
            self.ctx.stream,
            end,
            owner=self.owner,
            epoch=self.epoch,
            seen=seen,
            snapshot=cursor.snapshot(),
        )

    def _absorb(self, result: FileResult) -> None:
        add_file(self.last_result, result)

    # --- batch ---------------------------------------------------------------------------------------

    async def _poll_batch(self) -> bool:
        ctx = self.ctx
        now = self.clock()
        today = now.astimezone(UTC).date()
        checkpoint = await self.store.get_checkpoint(ctx.tenant, ctx.stream)
        cursor = SiemCursor.load(await self.store.load_snapshot(ctx.tenant, ctx.stream), "batch")
        if cursor.day is None:
            cursor.day = (checkpoint or self._start(now)).astimezone(UTC).date().isoformat()
            cursor.next_page = None
        day = date.fromisoformat(cursor.day)
        # The oldest day still listed is the one 7 days back (its files younger than 7 days are still
        # served); skipping it too would drop up to a day of files the API still has.
        oldest = today - timedelta(days=BATCH_RETENTION.days)
        if day < oldest:
            checkpoint = await self._past_retention(day, oldest, cursor, checkpoint, now=now)
            day = oldest
        budget = MAX_PAGES_PER_POLL
        if cursor.previous is not None:
            previous = date.fromisoformat(cursor.previous)
            checkpoint, exhausted, budget = await self._list_day(
                previous, "previous", cursor, checkpoint, now=now, budget=budget
            )
            if not exhausted:
                return False
            if now >= _day_start(previous + timedelta(days=1)) + DAY_SETTLE:
                cursor.previous = cursor.previous_page = None
                checkpoint = await self._commit(checkpoint, None, cursor, now)
        while True:
            try:
                checkpoint, exhausted, budget = await self._list_day(
                    day, "day", cursor, checkpoint, now=now, budget=budget
                )
            except ApiError as exc:
                # The API may count its 7 days from now rather than by calendar day: a refusal of the
                # day at the edge means its files are gone, not a fault to retry for the rest of the day.
                if day > oldest or not _is_refusal(exc):
                    raise
                checkpoint = await self._past_retention(
                    day, day + timedelta(days=1), cursor, checkpoint, now=now, refusal=exc
                )
                day = day + timedelta(days=1)
                continue
            if not exhausted:
                return False
            next_day = day + timedelta(days=1)
            if next_day > today:
                return True
            if now >= _day_start(next_day) + DAY_SETTLE:
                cursor.day, cursor.next_page = next_day.isoformat(), None
            elif cursor.previous is None:
                # The day is over but its last files are still to come: keep listing it beside the new day.
                cursor.previous, cursor.previous_page = cursor.day, cursor.next_page
                cursor.day, cursor.next_page = next_day.isoformat(), None
            else:
                return True
            day = next_day
            checkpoint = await self._commit(checkpoint, None, cursor, now)

    async def _past_retention(
        self,
        day: date,
        resume: date,
        cursor: SiemCursor,
        checkpoint: datetime | None,
        *,
        now: datetime,
        refusal: BaseException | None = None,
    ) -> datetime:
        """Report the days ``[day, resume)`` as lost to the 7-day retention (warning, gap metric, a note
        for ``checkpoints list``) and move the cursor to ``resume``."""
        ctx = self.ctx
        gap = _day_start(resume) - _day_start(day)
        why = f" (the API refused the listing: {refusal})" if refusal is not None else ""
        cursor.note = (
            f"{now.isoformat(timespec='seconds')}: files of {day.isoformat()} to "
            f"{(resume - timedelta(days=1)).isoformat()} are past the 7-day retention{why}; resumed at {resume}"
        )
        _report(logging.WARNING, f"SIEM stream {ctx.stream} of tenant {ctx.tenant}: {cursor.note}.", ctx)
        ctx.metrics.siem_gap_seconds.labels(tenant=ctx.tenant, stream=ctx.stream).inc(gap.total_seconds())
        cursor.day, cursor.next_page = resume.isoformat(), None
        cursor.previous = cursor.previous_page = None
        return await self._commit(checkpoint, None, cursor, now)

    async def _list_day(
        self,
        day: date,
        which: Literal["day", "previous"],
        cursor: SiemCursor,
        checkpoint: datetime | None,
        *,
        now: datetime,
        budget: int,
    ) -> tuple[datetime | None, bool, int]:
        """Walk ``day``'s listing from the cursor's token (``next_page`` or ``previous_page``), delivering
        and committing page by page; ``(checkpoint, listing exhausted, pages left in the poll's budget)``."""
        token_key = "next_page" if which == "day" else "previous_page"
        while budget > 0:
            if self.stopping.is_set():
                return checkpoint, False, 0
            budget -= 1
            page_token = getattr(cursor, token_key)
            page, newest = await self._batch_page(day, page_token)
            if page.urls or (page.next_page and page.next_page != page_token):
                setattr(cursor, token_key, page.next_page or page_token)
                checkpoint = await self._commit(checkpoint, newest, cursor, now)
            if not page.urls or page.caught_up:
                return checkpoint, True, budget
        return checkpoint, False, 0

    async def _batch_page(self, day: date, token: str | None) -> tuple[Any, datetime | None]:
        """List one page of ``day`` and deliver its files; list again (fresh URLs) when some expired."""
        ctx = self.ctx
        m = ctx.metrics
        done: set[str] = set()
        newest: datetime | None = None
        last_error: BaseException | None = None
        for attempt in range(1, RELIST_ATTEMPTS + 1):
            page = await list_batch_files(
                ctx.client,  # type: ignore[arg-type]
                api=self.api,
                siem_type=self.siem_type,
                first=day,
                last=day,
                page_size=max(1, ctx.settings.concurrency),
                next_page=token,
                priority=ctx.priority,
            )
            todo = [u for u in page.urls if urlsplit(u).path not in done]
            if attempt == 1:
                m.siem_files.labels(tenant=ctx.tenant, stream=ctx.stream, outcome="listed").inc(len(page.urls))
            results = await asyncio.gather(*(self._one_file(u) for u in todo), return_exceptions=True)
            gone = 0
            for url, outcome in zip(todo, results, strict=True):
                if isinstance(outcome, FileResult):
                    done.add(urlsplit(url).path)
                    if outcome.newest is not None:
                        newest = outcome.newest if newest is None else max(newest, outcome.newest)
                elif isinstance(outcome, PresignedUrlGone):
                    gone += 1
                    last_error = outcome
                elif isinstance(outcome, BaseException):
                    raise outcome
            if not gone:
                return page, newest
            m.siem_files.labels(tenant=ctx.tenant, stream=ctx.stream, outcome="expired").inc(gone)
            _report(
                logging.WARNING,
                f"{gone} SIEM file URL(s) of stream {ctx.stream} for tenant {ctx.tenant} had expired (403/404); "
                f"listing the page again for fresh URLs (attempt {attempt} of {RELIST_ATTEMPTS}).",
                ctx,
                expired=gone,
            )
        m.siem_files.labels(tenant=ctx.tenant, stream=ctx.stream, outcome="failed").inc()
        assert last_error is not None
        raise last_error

    async def _one_file(self, url: str) -> FileResult:
        ctx = self.ctx
        m = ctx.metrics
        started = time.perf_counter()
        result = await deliver_file(ctx, url, recent=self.recent, unreadable=self.unreadable, clock=self.clock)
        m.siem_files.labels(tenant=ctx.tenant, stream=ctx.stream, outcome="downloaded").inc()
        m.siem_file_bytes.labels(tenant=ctx.tenant, stream=ctx.stream).inc(result.bytes)
        if result.corrupt:
            m.siem_corrupt_lines.labels(tenant=ctx.tenant, stream=ctx.stream).inc(result.corrupt)
        self._absorb(result)
        _report(
            logging.INFO,
            f"SIEM file {result.name} of stream {ctx.stream} for tenant {ctx.tenant}: {result.delivered} events "
            f"delivered from {result.lines} lines ({result.corrupt} corrupt, {result.deduplicated} duplicate).",
            ctx,
            file=result.name,
            lines=result.lines,
            events=result.delivered,
            corrupt=result.corrupt,
            bytes=result.bytes,
            duration_ms=round((time.perf_counter() - started) * 1000),
        )
        return result

    # --- stream --------------------------------------------------------------------------------------

    async def _poll_stream(self) -> bool:
        ctx = self.ctx
        now = self.clock()
        checkpoint = await self.store.get_checkpoint(ctx.tenant, ctx.stream)
        cursor = SiemCursor.load(await self.store.load_snapshot(ctx.tenant, ctx.stream), "stream")
        oldest = now - STREAM_WINDOW + STREAM_MARGIN
        start = checkpoint or max(self._start(now), oldest)
        if start < oldest:
            gap = oldest - start
            cursor.note = (
                f"{now.isoformat(timespec='seconds')}: checkpoint {start.isoformat(timespec='seconds')} was older "
                f"than the 24 h the SIEM stream serves; resumed at {oldest.isoformat(timespec='seconds')} "
                f"(gap of {gap.total_seconds() / 3600:.1f} h not collected; use batch backfill for it)"
            )
            _report(logging.WARNING, f"SIEM stream {ctx.stream} of tenant {ctx.tenant}: {cursor.note}.", ctx)
            ctx.metrics.siem_gap_seconds.labels(tenant=ctx.tenant, stream=ctx.stream).inc(gap.total_seconds())
            ctx.metrics.siem_cursor_resets.labels(tenant=ctx.tenant, stream=ctx.stream, reason="expired").inc()
            cursor.next_page, cursor.still, start = None, 0, oldest
            checkpoint = await self._commit(oldest, None, cursor, now)
        for _ in range(MAX_PAGES_PER_POLL):
            if self.stopping.is_set():
                return False
            sent = cursor.next_page
            try:
                page = await stream_events(
                    ctx.client,  # type: ignore[arg-type]
                    types=[self.siem_type],
                    start=start if sent is None else None,
                    end=None,
                    page_size=ctx.settings.page_size,
                    next_page=sent,
                    priority=ctx.priority,
                )
            except Exception as exc:
                if sent is None or not _is_refusal(exc):
                    raise
                self._reset(cursor, "rejected", f"the API rejected the stored cursor ({exc})", now)
                continue
            checkpoint, moved = await self._deliver_stream_page(page.records, checkpoint, cursor, page.next_page, now)
            if page.records or page.next_page != sent:
                cursor.still = 0
            else:
                cursor.still += 1
            if page.caught_up:
                if cursor.still >= STALL_POLLS:
                    await self._probe(checkpoint, cursor, now)
                elif not moved:
                    await self._commit(checkpoint, None, cursor, now)
                return True
        return False

    def _reset(self, cursor: SiemCursor, reason: str, why: str, now: datetime) -> None:
        ctx = self.ctx
        cursor.note = f"{now.isoformat(timespec='seconds')}: {why}; resumed by time from the checkpoint"
        cursor.next_page, cursor.still = None, 0
        ctx.metrics.siem_cursor_resets.labels(tenant=ctx.tenant, stream=ctx.stream, reason=reason).inc()
        _report(logging.WARNING, f"SIEM stream {ctx.stream} of tenant {ctx.tenant}: {cursor.note}.", ctx, reason=reason)

    async def _probe(self, checkpoint: datetime | None, cursor: SiemCursor, now: datetime) -> None:
        """The cursor did not move for a while: ask by time whether newer events exist."""
        ctx = self.ctx
        oldest = now - STREAM_WINDOW + STREAM_MARGIN
        start = max(checkpoint or oldest, oldest)
        page = await stream_events(
            ctx.client,  # type: ignore[arg-type]
            types=[self.siem_type],
            start=start,
            end=None,
            page_size=ctx.settings.page_size,
            next_page=None,
            priority=ctx.priority,
        )
        events = normalise_records(ctx.spec, page.records, NormaliseContext(tenant=ctx.tenant, observed_at=now))
        newer = [e for e in events if checkpoint is None or e.timestamp > checkpoint]
        if newer:
            self._reset(cursor, "stalled", f"the stored cursor stopped advancing for {cursor.still} polls", now)
            await self._deliver_stream_page(page.records, checkpoint, cursor, page.next_page, now)
        else:
            cursor.still = 0
            await self._commit(checkpoint, None, cursor, now)

    async def _deliver_stream_page(
        self,
        records: list[dict[str, Any]],
        checkpoint: datetime | None,
        cursor: SiemCursor,
        next_page: str | None,
        now: datetime,
    ) -> tuple[datetime | None, bool]:
        """Normalise, drop ids already delivered, deliver, commit with the new cursor; (checkpoint, committed)."""
        ctx = self.ctx
        if not records:
            if next_page and next_page != cursor.next_page:
                cursor.next_page = next_page
                return await self._commit(checkpoint, None, cursor, now), True
            return checkpoint, False
        ctx.metrics.events_fetched.labels(tenant=ctx.tenant, stream=ctx.stream).inc(len(records))
        events = normalise_records(ctx.spec, records, NormaliseContext(tenant=ctx.tenant, observed_at=now))
        events, dropped = self.recent.fresh(events)
        if checkpoint is not None:
            near = [e for e in events if e.timestamp <= checkpoint + timedelta(seconds=1)]
            if near:
                times = [e.timestamp for e in near]
                seen = await self.store.seen_ids(
                    ctx.tenant, ctx.stream, [e.event_id for e in near], between=(min(times), max(times))
                )
                if seen:
                    dropped += len(seen)
                    events = [e for e in events if e.event_id not in seen]
        if dropped:
            ctx.metrics.events_deduplicated.labels(tenant=ctx.tenant, stream=ctx.stream).inc(dropped)
        if events:
            report = await ctx.router.deliver(ctx.tenant, ctx.stream, events)
            self.last_result.add_report(report)
        self.last_result.pages += 1
        self.last_result.fetched += len(records)
        self.last_result.delivered += len(events)
        self.last_result.deduplicated += dropped
        newest = max((e.timestamp for e in events), default=None)
        end = max([t for t in (checkpoint, newest) if t is not None], default=None)
        remember = [
            (e.event_id, e.timestamp) for e in events if end is not None and e.timestamp >= end - timedelta(seconds=2)
        ]
        if next_page:
            cursor.next_page = next_page
        committed = await self._commit(checkpoint, newest, cursor, now, seen=remember)
        return committed, True


async def deliver_siem_range(
    ctx: StreamContext,
    start: datetime,
    end: datetime,
    *,
    api: Literal["cg", "ci"],
    unreadable: Unreadable,
    clock: Callable[[], datetime],
) -> WindowResult:
    """Deliver the events of ``[start, end)`` from the batch files of the days it touches (backfill).

    Every file of those days is read; only events inside the range are delivered, so consecutive
    ranges deliver each event once (use day-long ranges to read each file once). Expired URLs are
    listed again like the live poller does.
    """
    total = WindowResult()
    siem_type = siem_type_of(ctx.stream)
    recent = RecentIds()
    day = start.astimezone(UTC).date()
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()

    def keep(event: Event) -> bool:
        return start <= event.timestamp < end

    while day <= last:
        token: str | None = None
        done: set[str] = set()
        for _ in range(MAX_PAGES_PER_POLL * 10):
            for attempt in range(1, RELIST_ATTEMPTS + 1):
                page = await list_batch_files(
                    ctx.client,  # type: ignore[arg-type]
                    api=api,
                    siem_type=siem_type,
                    first=day,
                    last=day,
                    page_size=max(1, ctx.settings.concurrency),
                    next_page=token,
                    priority=ctx.priority,
                )
                todo = [u for u in page.urls if urlsplit(u).path not in done]
                outcomes = await asyncio.gather(
                    *(deliver_file(ctx, u, recent=recent, unreadable=unreadable, clock=clock, keep=keep) for u in todo),
                    return_exceptions=True,
                )
                gone: BaseException | None = None
                for url, outcome in zip(todo, outcomes, strict=True):
                    if isinstance(outcome, FileResult):
                        done.add(urlsplit(url).path)
                        add_file(total, outcome)
                    elif isinstance(outcome, PresignedUrlGone):
                        gone = outcome
                    elif isinstance(outcome, BaseException):
                        raise outcome
                if gone is None:
                    break
                ctx.metrics.siem_files.labels(tenant=ctx.tenant, stream=ctx.stream, outcome="expired").inc()
                if attempt == RELIST_ATTEMPTS:
                    ctx.metrics.siem_files.labels(tenant=ctx.tenant, stream=ctx.stream, outcome="failed").inc()
                    raise gone
            if not page.urls or page.caught_up or not page.next_page:
                break
            token = page.next_page
        day += timedelta(days=1)
    return total


def siem_spec(stream: str) -> StreamSpec:
    """The catalogue entry of a SIEM stream (``siem-<type>``)."""
    siem_type_of(stream)  # KeyError for a name that is not a SIEM stream
    return CATALOGUE[stream]
