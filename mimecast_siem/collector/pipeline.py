"""The data path shared by the daemon and the backfill: fetch → normalise → filter → dedupe → deliver.

Nothing here commits. Each function returns what it delivered and what the caller must store with
its commit (seen ids, a new snapshot); the caller decides *how* progress is recorded - the live
:class:`~mimecast_siem.collector.task.StreamTask` moves the checkpoint with ``commit_window``, a
backfill marks its own job window done and never touches live checkpoints.

Pages stream through: one page is normalised, deduplicated and delivered while the next one is
being fetched (:func:`read_ahead`, one page ahead), so memory is bounded by two pages (plus the ids
of one window for in-window dedupe), not by the window. Several windows at once (catch-up, backfill)
multiply that; a :class:`PageBudget` shared by them bounds the pages held by all of them together.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import marshal
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from mimecast_siem.collector.dedupe import WindowDedupe, place_events
from mimecast_siem.collector.snapshots import diff_hold_queue
from mimecast_siem.collector.threat_feed import FeedClient, feed_pages
from mimecast_siem.collector.windows import FetchRange, Window
from mimecast_siem.config.models import StreamSettings
from mimecast_siem.events import Event, stable_event_id
from mimecast_siem.mimecast import ApiResponse, Page, Priority
from mimecast_siem.observability.metrics import Metrics, metrics
from mimecast_siem.streams import ENTERED, LEFT, TAG_TIME_UNPARSED, NormaliseContext, StreamSpec
from mimecast_siem.streams.normalise import iso, parse_time, record_time

log = logging.getLogger("mimecast_siem.collector")

TAG_NORMALISE_FAILED = "mimecast_siem_normalise_failed"

PageT = TypeVar("PageT")
#: Event-loop turns given to the next page's fetch before a page is handed over (enough for the
#: client to get through the rate limiter and write the request).
READ_AHEAD_START_TURNS = 5


class SeenLookup(Protocol):
    """Which of ``ids`` were delivered by an earlier, committed window (the store's seen ids).

    ``between``: the earliest and latest event time of the ids (inclusive), when known; the store
    reads only that range of its rows (keyed by time, then id). ``None`` for ids whose time is not
    known (records whose time could not be read carry the poll time).
    """

    def __call__(
        self, ids: Collection[str], between: tuple[datetime, datetime] | None = None
    ) -> Awaitable[set[str]]: ...


class PageSource(FeedClient, Protocol):
    """What the data path needs of the Mimecast client (``MimecastClient`` satisfies it): ``request`` and ``pages``."""

    def pages(
        self,
        path: str,
        item: Mapping[str, Any] | None = None,
        page_size: int = 500,
        record_key: str | None = None,
        *,
        priority: Priority = Priority.LIVE,
        max_wait: float | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Page]:
        """Walk the pages of a paged endpoint."""
        ...


class PageDedupe(Protocol):
    """Drops events already passed on within one window (``WindowDedupe`` satisfies it)."""

    def fresh(self, events: Iterable[Event], already_delivered: Iterable[str] = ()) -> tuple[list[Event], int]:
        """Events to deliver, and how many were dropped."""
        ...


class CheckpointStore(Protocol):
    """The state-store calls a stream task and the SIEM poller make (``checkpoints.StateStore`` satisfies it)."""

    async def get_checkpoint(self, tenant: str, stream: str) -> datetime | None: ...

    async def commit_window(
        self,
        tenant: str,
        stream: str,
        end: datetime,
        *,
        owner: str | None,
        epoch: int | None = None,
        seen: Any = (),
        snapshot: Any = None,
    ) -> datetime: ...

    async def seen_ids(
        self, tenant: str, stream: str, ids: Any, *, between: tuple[datetime, datetime] | None = None
    ) -> set[str]: ...

    async def load_snapshot(self, tenant: str, stream: str) -> dict[str, dict[str, Any]]: ...


class EventRouter(Protocol):
    """What the data path needs of the sinks (``sinks.Router`` satisfies it)."""

    async def deliver(self, tenant: str, stream: str, events: Sequence[Event]) -> Any:
        """Return only when every routed sink accepted every event."""
        ...


class PageBudget:
    """Pages that several windows hold at once, together: a bound on the memory of pages in flight.

    A window holds up to two pages (the one being delivered, the one read ahead); at 0 ms latency
    every window fetches as fast as the process normalises, so ``concurrency`` windows held
    ``2 x concurrency`` decoded pages (~1 MB of records each at 500 records) and delivered up to
    ``concurrency`` at once (~4-5 MB each while its events and encoded lines exist): beyond the ~65 MB
    of imports, most of a backfill's peak RSS (issue 16). A window takes a page from the budget before
    it asks for one and gives it back once the page was delivered (or abandoned), and takes a
    delivery slot while it normalises and delivers a page. Normalising needs the process's one core,
    so more deliveries at once than one normalising while another waits on its sinks gained nothing.

    Windows that wait for anything else while holding pages (gated windows) must not share one: they
    could starve the window they wait for.

    Args:
        pages: pages held at once (fetching, or fetched and not yet delivered), at least 1.
        delivering: pages normalised and delivered at once, at least 1 (at most ``pages``).
    """

    def __init__(self, pages: int, delivering: int = 2) -> None:
        if pages < 1 or delivering < 1:
            raise ValueError(f"a page budget needs at least one page and one delivery, not {pages}/{delivering}")
        self.pages = pages
        self.delivering = min(delivering, pages)
        self._slots = asyncio.Semaphore(pages)
        self._deliveries = asyncio.Semaphore(self.delivering)
        self.held = 0

    async def take(self) -> None:
        """Wait for a page of the budget."""
        await self._slots.acquire()
        self.held += 1

    def give_back(self, pages: int = 1) -> None:
        """Return ``pages`` pages to the budget."""
        for _ in range(pages):
            self.held -= 1
            self._slots.release()

    def delivery(self) -> asyncio.Semaphore:
        """The delivery slots (``async with budget.delivery():`` around normalising and delivering a page)."""
        return self._deliveries


async def held_at_gate(pages: AsyncIterator[PageT], gate: WindowGate) -> AsyncGenerator[PageT, None]:
    """``pages``, fetched ahead while ``gate`` is closed but only as far as the gate allows.

    A gated window reads ahead while it waits for its predecessor's commit, so that once the gate
    opens it delivers at once instead of starting its walk then: a catch-up's windows are fetched
    concurrently and delivered one after the other (issue 16). How far is the gate's
    :attr:`WindowGate.ahead`; the task raises it for the windows next in line. A page waiting here
    is kept marshalled (:func:`park`, about a quarter of the decoded records' memory) and
    decoded again when the gate opened. Nothing is yielded before the gate opens. Raises
    :class:`GateAbandoned` like the gate. Closing this closes ``pages``.
    """
    iterator = aiter(pages)
    parked: deque[PageT | Parked] = deque()
    exhausted = False
    try:
        while not gate.is_open:
            gate.changed.clear()
            if gate.abandoned:
                raise GateAbandoned("an earlier window of the batch was not committed")
            if not exhausted and len(parked) < gate.ahead and gate.take_slot():
                try:
                    page = await anext(iterator)
                except StopAsyncIteration:
                    gate.give_slot()
                    exhausted = True
                    continue
                except BaseException:
                    gate.give_slot()
                    raise
                parked.append(park(page))
                del page
                continue
            await gate.changed.wait()
        while parked:
            page = cast(PageT, unpark(parked.popleft()))
            gate.give_slot()
            yield page
            del page
        if not exhausted:
            async for page in iterator:
                yield page
                del page
    finally:
        for _ in range(len(parked)):
            gate.give_slot()
        parked.clear()
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


class ParkingLot:
    """Pages that the waiting windows of one catch-up hold parked (or are fetching to park), together.

    A slot is taken before a waiting window asks for a page and given back when the page is handed
    over after its gate opened (or dropped): so the memory of the pages fetched ahead is bounded for
    the whole catch-up, whichever windows hold them. The head window never needs a slot, so the
    windows waiting for it cannot starve it.
    """

    def __init__(self, pages: int) -> None:
        if pages < 1:
            raise ValueError(f"a parking lot needs at least one page, not {pages}")
        self.pages = pages
        self.free = pages
        self._gates: list[WindowGate] = []

    def join(self, gate: WindowGate) -> None:
        """Wake ``gate`` whenever a slot is given back."""
        self._gates.append(gate)

    def leave(self, gate: WindowGate) -> None:
        """Stop waking ``gate``."""
        with contextlib.suppress(ValueError):
            self._gates.remove(gate)

    def take(self) -> bool:
        """Take a slot if one is free."""
        if self.free <= 0:
            return False
        self.free -= 1
        return True

    def give_back(self) -> None:
        """Return a slot and wake the waiting windows."""
        self.free += 1
        for gate in self._gates:
            gate.changed.set()


@dataclass(frozen=True, slots=True)
class Parked:
    """A :class:`~mimecast_siem.mimecast.Page` waiting at a gate: its records marshalled, the answer without them."""

    records: bytes
    response: ApiResponse
    number: int


def park(page: PageT) -> PageT | Parked:
    """``page`` as a :class:`Parked`; anything else as it is.

    500 decoded ttp-url records hold ~1 MB, marshalled ~0.23 MB (an exact-size ``bytes``; orjson's
    result keeps its working buffer, ~0.5 MB); marshalling and loading cost ~1 ms a page. The records
    came from JSON and hold only JSON values, so :func:`unpark` gives equal records back; a page that
    cannot be marshalled is kept decoded. The bytes never leave this process (marshal's format is
    tied to the Python version).
    """
    if not isinstance(page, Page):
        return page
    try:
        records = marshal.dumps(page.records)
    except ValueError:
        return page
    response = page.response
    if isinstance(response, ApiResponse):
        response = dataclasses.replace(response, data=[], body=None)  # the same records, decoded
    return Parked(records, response, page.number)


def unpark(item: PageT | Parked) -> PageT | Page:
    """The page :func:`park` kept."""
    if isinstance(item, Parked):
        return Page(records=marshal.loads(item.records), response=item.response, number=item.number)  # noqa: S302 - our own bytes
    return item


async def budgeted(pages: AsyncIterator[PageT], budget: PageBudget, held: list[int]) -> AsyncGenerator[PageT, None]:
    """``pages``, each asked for only once ``budget`` granted it; ``held[0]`` counts those not given back yet.

    The consumer gives one page back per page it finished with, and whatever ``held`` still counts
    when it stops (a page read ahead and never delivered). Closing this closes ``pages``.
    """
    try:
        while True:
            await budget.take()
            held[0] += 1
            try:
                page = await anext(pages)
            except BaseException:  # the end of the walk, an error or a cancellation: that page never came
                held[0] -= 1
                budget.give_back()
                raise
            yield page
            del page  # not held while the next one waits for the budget
    except StopAsyncIteration:
        return
    finally:
        aclose = getattr(pages, "aclose", None)
        if aclose is not None:
            await aclose()


@dataclass(frozen=True, slots=True)
class StreamContext:
    """Everything one (tenant, stream) needs to move events; the same for live polling and backfill.

    Attributes:
        tenant: tenant name.
        spec: the stream's catalogue entry.
        settings: effective stream settings of this tenant.
        client: the tenant's Mimecast client (shared rate budget).
        router: the sinks router.
        priority: rate-limiter priority (live before backfill).
        mode: ``live`` or ``backfill`` (metrics label).
        metrics_: metrics to record into (the process-wide instance by default).
        page_budget: pages that the windows sharing it may hold at once (fetching, or fetched and
            not yet delivered); ``None`` = each window's own two (the live path: its gated windows
            hold pages while they wait for their predecessor, so they must not share one).
    """

    tenant: str
    spec: StreamSpec
    settings: StreamSettings
    client: PageSource
    router: EventRouter
    priority: Priority = Priority.LIVE
    mode: str = "live"
    metrics_: Metrics | None = None
    page_budget: PageBudget | None = None

    @property
    def metrics(self) -> Metrics:
        """Metrics in use."""
        return self.metrics_ or metrics()

    @property
    def stream(self) -> str:
        """Stream name."""
        return self.spec.name


@dataclass(slots=True)
class WindowResult:
    """What one window (or one snapshot / gauge poll) moved.

    Attributes:
        pages: pages fetched.
        fetched: records received from Mimecast.
        delivered: events every routed sink accepted.
        deduplicated: events dropped because their id was already delivered.
        out_of_range: records outside the half-open fetch range (inclusive API boundaries).
        remember: ``(event_id, event time)`` to store as seen ids with the commit.
        snapshot: the held-queue snapshot to store with the commit (snapshot streams only).
        sinks: events accepted per sink (delivered: the sink confirmed them).
        sent: events per sink that were only sent, with no delivery feedback (syslog over UDP).
        dead_lettered: events a sink refused permanently (written to the dead-letter file).
        duration: seconds spent.
    """

    pages: int = 0
    fetched: int = 0
    delivered: int = 0
    deduplicated: int = 0
    out_of_range: int = 0
    remember: list[tuple[str, datetime]] = field(default_factory=list)
    snapshot: dict[str, dict[str, Any]] | None = None
    sinks: dict[str, int] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    #: Events written to a sink's durable queue (delivered later by its drainer), and dropped by a full one.
    queued: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    dead_lettered: int = 0
    duration: float = 0.0

    def add_report(self, report: Any) -> None:
        """Fold a router ``DeliveryReport`` into the per-sink counts."""
        for name, outcome in (getattr(report, "sinks", None) or {}).items():
            self.sinks[name] = self.sinks.get(name, 0) + int(getattr(outcome, "delivered", 0))
            sent = int(getattr(outcome, "sent", 0))
            if sent:
                self.sent[name] = self.sent.get(name, 0) + sent
            for counts, key in ((self.queued, "queued"), (self.dropped, "dropped")):
                value = int(getattr(outcome, key, 0))
                if value:
                    counts[name] = counts.get(name, 0) + value
            self.dead_lettered += int(getattr(outcome, "dead_lettered", 0))


@dataclass(frozen=True, slots=True)
class PageDone:
    """One page of a window walk after delivery (what an in-window commit needs to know).

    Attributes:
        times: event times of the page's records inside the fetch range, in page order.
        ids: their event ids, in the same order.
        unplaced: some record's time could not be read (its place in the walk order is unknown).
        delivered: ``(event_id, time)`` of the events of the page every routed sink accepted.
    """

    times: list[datetime]
    unplaced: bool
    delivered: list[tuple[str, datetime]]
    ids: list[str] = field(default_factory=list)


AfterPage = Callable[[PageDone], Awaitable[None]]


class GateAbandoned(Exception):
    """A window waiting at its :class:`WindowGate` will never be allowed to deliver (nothing was delivered)."""


class WindowGate:
    """Holds a window that was fetched ahead until its predecessor committed.

    It ends in one of two ways: :meth:`open` (deliver now) or :meth:`abandon` (the predecessor failed,
    or the daemon is stopping: the waiter raises :class:`GateAbandoned`). The owner of a batch of
    windows abandons every gate it did not open before it waits for the windows' tasks, so no waiter
    depends on a cancellation reaching it: a cancellation can be lost on its way (Python 3.11's
    ``asyncio.wait_for`` drops one that arrives as its inner future completes, and a task awaiting
    another task loses it when that task ignores it).

    Args:
        ahead: pages the waiting window may fetch ahead and hold (at least 1); :meth:`allow` raises it.
        lot: shared by the waiting windows of one catch-up: a page is fetched ahead only with a free
            slot of it (``None``: ``ahead`` alone bounds them).
    """

    def __init__(self, ahead: int = 1, lot: ParkingLot | None = None) -> None:
        self._event = asyncio.Event()
        self._abandoned = False
        self.ahead = max(ahead, 1)
        self.lot = lot
        #: Set whenever the gate opens, is abandoned, allows more pages ahead or a slot of its lot
        #: came free (the read-ahead waits on it).
        self.changed = asyncio.Event()
        if lot is not None:
            lot.join(self)

    def take_slot(self) -> bool:
        """Take a slot of the lot for a page fetched ahead (always granted without a lot)."""
        return self.lot is None or self.lot.take()

    def give_slot(self) -> None:
        """Give back a slot :meth:`take_slot` took."""
        if self.lot is not None:
            self.lot.give_back()

    @property
    def is_open(self) -> bool:
        """Whether the window may deliver."""
        return self._event.is_set() and not self._abandoned

    @property
    def abandoned(self) -> bool:
        """Whether the window will never deliver."""
        return self._abandoned

    def allow(self, ahead: int) -> None:
        """Let the waiting window hold up to ``ahead`` pages fetched ahead (never fewer than before)."""
        if ahead > self.ahead:
            self.ahead = ahead
            self.changed.set()

    def open(self) -> None:
        """Let the window deliver (its predecessor committed). No effect once abandoned."""
        if not self._abandoned:
            self._event.set()
            self.changed.set()
            if self.lot is not None:
                self.lot.leave(self)

    def abandon(self) -> None:
        """Never let the window deliver; a waiter (now or later) raises :class:`GateAbandoned`."""
        if not self._event.is_set():
            self._abandoned = True
            self._event.set()
            self.changed.set()
            if self.lot is not None:
                self.lot.leave(self)

    async def wait(self) -> None:
        """Return once open; raise :class:`GateAbandoned` once abandoned."""
        await self._event.wait()
        if self._abandoned:
            raise GateAbandoned("an earlier window of the batch was not committed")


def normalise_records(spec: StreamSpec, records: Sequence[Mapping[str, Any]], ctx: NormaliseContext) -> list[Event]:
    """Normalise a page. A record a normaliser cannot handle becomes a minimal event, never a crash.

    Normalisers are written not to raise; this guard keeps one unforeseen record from wedging a
    stream forever (its window would be retried and fail again). The fallback event carries the
    original record and the tag ``mimecast_siem_normalise_failed``.
    """
    events: list[Event] = []
    for record in records:
        # dict first: decoded records are dicts, and the Mapping (ABC) check is slow per record.
        if not isinstance(record, dict) and not isinstance(record, Mapping):
            record = {"value": record}  # noqa: PLW2901 - wrap a non-object item so it is still delivered
        events.append(_normalise_guarded(spec, record, ctx))
    return events


def _fallback_event(spec: StreamSpec, record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    event_id = stable_event_id(spec.name, {str(k): record[k] for k in sorted(record, key=str)})
    # Place the event at the record's own time when it can be read, so the window's range filter keeps
    # it; otherwise tag it as unplaceable (the range filter keeps those too) rather than stamping the
    # poll time, which lies after the window and would drop the record silently.
    when, parsed = record_time(record, spec.time_field, ctx)
    tags = [TAG_NORMALISE_FAILED] if parsed else [TAG_NORMALISE_FAILED, TAG_TIME_UNPARSED]
    return Event(
        event_id=event_id,
        tenant=ctx.tenant,
        stream=spec.name,
        timestamp=when,
        document={
            "@timestamp": iso(when),
            "event": {"id": event_id, "dataset": spec.dataset, "kind": "event", "created": iso(ctx.observed_at)},
            "tags": tags,
            "mimecast": dict(record),
        },
        raw=dict(record),
        kind=spec.kind,
    )


def _normalise_guarded(spec: StreamSpec, record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """``spec.normalise`` for one record, falling back to a minimal event instead of failing the poll."""
    try:
        return spec.normalise(record, ctx)
    except Exception as exc:
        log.error(
            "Record of stream %s could not be normalised (%s); delivering it unnormalised.",
            spec.name,
            type(exc).__name__,
            extra={"tenant": ctx.tenant, "stream": spec.name},
        )
        return _fallback_event(spec, record, ctx)


async def deliver_log_window(
    ctx: StreamContext,
    window: Window,
    fetch: FetchRange,
    *,
    seen: SeenLookup | None,
    remember_from: datetime | None,
    clock: Callable[[], datetime],
    dedupe: PageDedupe | None = None,
    gate: WindowGate | None = None,
    after_page: AfterPage | None = None,
) -> WindowResult:
    """Fetch every page of ``fetch`` and deliver the window's events.

    Args:
        ctx: the stream context.
        window: the window being delivered (for logs; the records kept are those in ``fetch``).
        fetch: the range requested (the window, possibly reaching back by the overlap).
        seen: lookup of ids already delivered (live path); ``None`` = no cross-window dedupe
            (backfill re-sends history on purpose).
        remember_from: delivered events at or after this time are returned in ``remember``;
            ``None`` = remember nothing.
        clock: the current time (``event.created`` of the events).
        dedupe: drops records repeated within the window; default :class:`WindowDedupe` (every id of
            the window). The backfill passes one bounded to recent pages, so memory does not grow
            with the window.
        gate: nothing is delivered before it is opened (a later window of a catch-up batch waits until
            its predecessor committed, so a crash can only re-deliver the head window's last pages);
            its pages are fetched ahead meanwhile, as many as the gate allows (:func:`held_at_gate`). An
            abandoned gate raises :class:`GateAbandoned` before anything of the window was delivered.
        after_page: awaited after each page was delivered (the live task commits progress inside
            the window from it).

    Returns:
        Counts, and the ids to store with the commit.

    Raises:
        Whatever the client or router raise (errors.py classes, ``DeliveryAborted``); nothing was
        committed, and the caller retries the window from its start.
    """
    spec = ctx.spec
    started = time.monotonic()
    result = WindowResult()
    dedupe = dedupe if dedupe is not None else WindowDedupe()
    item = spec.request_item(fetch, ctx.settings.filters)
    if spec.paging == "feed-token":
        pages = feed_pages(ctx.client, spec.path, item, priority=ctx.priority)
    else:
        pages = ctx.client.pages(spec.path, item, ctx.settings.page_size, spec.record_key, priority=ctx.priority)
    if gate is not None and not gate.is_open:
        pages = held_at_gate(pages, gate)
    budget = ctx.page_budget
    held = [0]  # pages of the budget this window holds
    if budget is not None:
        pages = budgeted(pages, budget, held)
    try:
        async with contextlib.aclosing(read_ahead(pages)) as ahead:
            async for page in ahead:
                async with budget.delivery() if budget is not None else contextlib.nullcontext():
                    await _deliver_page(
                        ctx,
                        page,
                        window=window,
                        fetch=fetch,
                        result=result,
                        seen=seen,
                        remember_from=remember_from,
                        clock=clock,
                        dedupe=dedupe,
                        gate=gate,
                        after_page=after_page,
                    )
                del page  # not held while the next page is awaited
                if budget is not None:
                    held[0] -= 1
                    budget.give_back()
    finally:
        if budget is not None and held[0]:
            budget.give_back(held[0])  # a page read ahead and never delivered
            held[0] = 0
    result.duration = time.monotonic() - started
    log.debug("Window %s of stream %s fetched.", window, spec.name, extra={"tenant": ctx.tenant})
    return result


async def _deliver_page(
    ctx: StreamContext,
    page: Page,
    *,
    window: Window,
    fetch: FetchRange,
    result: WindowResult,
    seen: SeenLookup | None,
    remember_from: datetime | None,
    clock: Callable[[], datetime],
    dedupe: PageDedupe,
    gate: WindowGate | None,
    after_page: AfterPage | None,
) -> None:
    """Normalise, dedupe and deliver one page of a window (its events are released on return)."""
    spec = ctx.spec
    m = ctx.metrics
    if gate is not None and not gate.is_open:
        await gate.wait()
    result.pages += 1
    result.fetched += len(page.records)
    m.events_fetched.labels(tenant=ctx.tenant, stream=spec.name).inc(len(page.records))
    records: Sequence[Any] = page.records
    checked: set[str] = set()
    early_dropped = 0
    if seen is not None and fetch.start < window.start:
        records, checked, early_dropped = await drop_seen_before_normalising(spec, records, window.start, seen)
    events = normalise_records(spec, records, NormaliseContext(tenant=ctx.tenant, observed_at=clock()))
    # One pass: the events in range, and the ids of those whose time could not be read (usually none).
    events, outside, unplaced = place_events(events, fetch)
    result.out_of_range += outside
    already: set[str] = set()
    if seen is not None:
        # Only records before the window's start (the overlap re-read) can have been delivered by an
        # earlier, committed window; asking the store about the others would only cost queries. The
        # store is asked over the range of their times; ids whose time could not be read, over all.
        start = window.start
        placed = [e for e in events if e.timestamp < start and e.event_id not in checked and e.event_id not in unplaced]
        if placed:
            times = [e.timestamp for e in placed]
            already = await seen([e.event_id for e in placed], between=(min(times), max(times)))
        lost = [event_id for event_id in unplaced if event_id not in checked]
        if lost:
            already |= await seen(lost)
    fresh, dropped = dedupe.fresh(events, already)
    dropped += early_dropped
    result.deduplicated += dropped
    if dropped:
        m.events_deduplicated.labels(tenant=ctx.tenant, stream=spec.name).inc(dropped)
    if fresh:
        result.add_report(await ctx.router.deliver(ctx.tenant, spec.name, fresh))
        result.delivered += len(fresh)
        if remember_from is not None:
            result.remember.extend(
                (e.event_id, e.timestamp) for e in fresh if e.timestamp >= remember_from or e.event_id in unplaced
            )
    if after_page is not None:
        await after_page(
            PageDone(
                times=[e.timestamp for e in events],
                ids=[e.event_id for e in events],
                unplaced=bool(unplaced),
                delivered=[(e.event_id, e.timestamp) for e in fresh],
            )
        )


async def drop_seen_before_normalising(
    spec: StreamSpec, records: Sequence[Any], start: datetime, seen: SeenLookup
) -> tuple[Sequence[Any], set[str], int]:
    """Drop the overlap re-read's already-delivered records before they are normalised.

    A caught-up stream re-reads the overlap on purpose (late arrivals), so most records before the
    window's ``start`` were delivered already; normalising them only to drop them cost more than half
    of a live daemon's CPU. Their ids are computed the way the normaliser computes them
    (``spec.event_id_of``) and looked up in one query. A record this cannot read (no time, not an
    object, an id function that fails) is kept for the normal path, which dedupes after normalising.

    Returns:
        The records to normalise, the ids looked up and found *not* delivered (no need to ask again),
        and how many records were dropped.
    """
    id_of = spec.event_id_of
    if id_of is None or spec.time_field is None:
        return records, set(), 0
    field_name = spec.time_field
    early: dict[str, list[int]] = {}
    first: datetime | None = None
    last: datetime | None = None
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            continue
        when = parse_time(record.get(field_name))
        if when is None or when >= start:
            continue
        # A record the id function cannot read is left to the normal path, which reports it.
        with contextlib.suppress(Exception):
            early.setdefault(id_of(record), []).append(index)
            first = when if first is None or when < first else first
            last = when if last is None or when > last else last
    if not early or first is None or last is None:
        return records, set(), 0
    # The normaliser stamps the event with this same time (``record_time`` of ``spec.time_field``).
    already = await seen(list(early), between=(first, last))
    if not already:
        return records, set(early), 0
    drop = {index for event_id in already for index in early.get(event_id, ())}
    kept = [record for index, record in enumerate(records) if index not in drop]
    return kept, set(early) - already, len(drop)


async def read_ahead(pages: AsyncIterator[PageT]) -> AsyncGenerator[PageT, None]:
    """Yield each page while the next one is already being fetched: one page ahead, no more.

    A window is a sequential page walk, so without this every page waits for the previous one to be
    normalised and delivered before its request even starts: the walk moved one page per round trip
    *plus* the processing time (bench/RESULTS.md, benchmark 2). Memory grows by one page. The pages
    requested are the same ones (the walk decides); when the consumer stops early, the page being
    fetched is abandoned and the walk closed.
    """
    iterator = aiter(pages)
    pending: asyncio.Future[PageT] = asyncio.ensure_future(anext(iterator))
    try:
        while True:
            try:
                page = await pending
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(anext(iterator))
            # Let the fetch send its request before the caller's synchronous work (normalising a page
            # takes tens of milliseconds and never yields to the event loop).
            for _ in range(READ_AHEAD_START_TURNS):
                if pending.done():
                    break
                await asyncio.sleep(0)
            yield page
            del page  # a page the consumer finished with is not held while the next one arrives
    finally:
        if not pending.done():
            pending.cancel()
            # wait() never raises the fetch's own error or cancellation; a cancellation of the
            # caller's task still propagates.
            await asyncio.wait([pending])
        if not pending.cancelled():
            pending.exception()  # retrieved: an abandoned page's error is not worth a log line
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


async def deliver_held_queue(
    ctx: StreamContext,
    previous: Mapping[str, Mapping[str, Any]],
    *,
    now: datetime,
    confirm_after: int = 1,
) -> WindowResult:
    """Read the whole held queue, diff it against ``previous`` and deliver enter/leave events.

    The queue listing is read completely before anything is delivered: the diff needs the full
    state (memory is bounded by the queue's size, which Mimecast bounds by its hold retention).
    """
    spec = ctx.spec
    started = time.monotonic()
    result = WindowResult()
    records: list[Mapping[str, Any]] = []
    item = spec.request_item(None, ctx.settings.filters)
    async for page in ctx.client.pages(spec.path, item, ctx.settings.page_size, spec.record_key, priority=ctx.priority):
        result.pages += 1
        result.fetched += len(page.records)
        records.extend(page.records)
    ctx.metrics.events_fetched.labels(tenant=ctx.tenant, stream=spec.name).inc(result.fetched)
    diff = diff_hold_queue(previous, records, now, confirm_after=confirm_after)
    if diff.without_id:
        log.warning(
            "%d held messages without an id were skipped; they cannot be tracked across polls.",
            diff.without_id,
            extra={"tenant": ctx.tenant, "stream": spec.name},
        )
    events = [_normalise_guarded(spec, r, NormaliseContext(ctx.tenant, now, transition=ENTERED)) for r in diff.entered]
    events += [
        _normalise_guarded(
            spec, gone.record, NormaliseContext(ctx.tenant, now, transition=LEFT, held_for=gone.held_for)
        )
        for gone in diff.left
    ]
    if events:
        result.add_report(await ctx.router.deliver(ctx.tenant, spec.name, events))
    result.delivered = len(events)
    result.snapshot = diff.snapshot
    result.duration = time.monotonic() - started
    return result


async def deliver_gauge_sample(
    ctx: StreamContext,
    fetch: FetchRange | None,
    *,
    now: datetime,
    previous_labels: set[str] | None = None,
) -> tuple[WindowResult, dict[str, int]]:
    """Take one gauge sample: fetch, set the Prometheus gauge, deliver one sample event.

    Args:
        ctx: the stream context.
        fetch: the time range for endpoints that require one (email queues), else ``None``.
        now: the sample time.
        previous_labels: label values set by the previous sample; those absent now are removed from
            the gauge so a policy that no longer holds anything stops being reported.

    Returns:
        The result and the levels ``{label value: level}`` that were set.
    """
    spec = ctx.spec
    started = time.monotonic()
    result = WindowResult()
    records: list[dict[str, Any]] = []
    item = spec.request_item(fetch, ctx.settings.filters)
    if spec.paged:
        async for page in ctx.client.pages(
            spec.path, item, ctx.settings.page_size, spec.record_key, priority=ctx.priority
        ):
            result.pages += 1
            records.extend(page.records)
    else:
        response = await ctx.client.request(spec.path, [item] if item is not None else [], priority=ctx.priority)
        result.pages = 1
        records = _records_of(response.data, spec.record_key)
    result.fetched = len(records)
    ctx.metrics.events_fetched.labels(tenant=ctx.tenant, stream=spec.name).inc(result.fetched)
    levels = spec.gauge_levels(records) if spec.gauge_levels is not None else {}
    _set_gauge(ctx, levels, previous_labels or set())
    event = _normalise_guarded(spec, {"data": records}, NormaliseContext(tenant=ctx.tenant, observed_at=now))
    result.add_report(await ctx.router.deliver(ctx.tenant, spec.name, [event]))
    result.delivered = 1
    result.duration = time.monotonic() - started
    return result, levels


def _records_of(data: Sequence[Any], record_key: str | None) -> list[dict[str, Any]]:
    if record_key is None:
        return [r for r in data if isinstance(r, dict)]
    out: list[dict[str, Any]] = []
    for item in data:
        if isinstance(item, dict) and isinstance(item.get(record_key), list):
            out.extend(r for r in item[record_key] if isinstance(r, dict))
    return out


def _set_gauge(ctx: StreamContext, levels: Mapping[str, int], previous: set[str]) -> None:
    m = ctx.metrics
    if ctx.spec.gauge_label == "policy":
        gauge, label = m.held_messages, "policy"
    elif ctx.spec.gauge_label == "direction":
        gauge, label = m.email_queue_messages, "direction"
    else:
        return
    for value, level in levels.items():
        gauge.labels(**{"tenant": ctx.tenant, label: value}).set(level)
    for value in previous - set(levels):
        with contextlib.suppress(KeyError):
            gauge.remove(ctx.tenant, value)


#: Shortest look-back of a gauge request: queue samples come at minute intervals, so a request for
#: only the last poll interval (seconds) could return no sample at all.
GAUGE_LOOKBACK = timedelta(minutes=15)


def gauge_fetch_range(now: datetime, interval: timedelta) -> FetchRange:
    """The range a gauge endpoint that requires one is asked for; the latest sample in it is used."""
    return FetchRange(now - max(interval, GAUGE_LOOKBACK), now)
