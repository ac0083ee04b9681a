"""Window planning: which time ranges to fetch next (pure: values in, values out).

A :class:`Window` is half-open, ``[start, end)``. The checkpoint of a stream is the ``end`` of the
last window whose events every routed sink accepted. From it the planner cuts the range up to
``now - lag`` into windows no longer than ``max_window``.

Mimecast's ``from``/``to`` filters are inclusive at both ends (mimecast-api.md quirk 3), so a record
stamped exactly at a boundary comes back in both neighbouring windows. The collector therefore
filters client-side with :meth:`FetchRange.contains` (half-open) and deduplicates by event id.

The *fetch range* of a window may start earlier than the window itself: the overlap re-read asks for
``[start - overlap, end)`` so that records which became visible late (after their own window was
read) are still delivered. Only the window that starts at the committed checkpoint re-reads the
overlap; the other windows of a concurrent catch-up batch start where their predecessor ends, which
is being read at the same time, so re-reading it would only produce duplicates. And a window read
long enough after its end (``lag + overlap``) held every record it ever will: its successor's re-read
starts at the *coverage* (:func:`coverage_after`), so catching up re-reads nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mimecast_siem.times import format_utc


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """A half-open time range ``[start, end)`` whose events are delivered and committed together."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end.isoformat()} is not after its start {self.start.isoformat()}")

    @property
    def duration(self) -> timedelta:
        """Length of the window."""
        return self.end - self.start

    def contains(self, when: datetime) -> bool:
        """True when ``when`` lies in ``[start, end)``."""
        return self.start <= when < self.end

    def __str__(self) -> str:
        return f"[{format_utc(self.start)}, {format_utc(self.end)})"


@dataclass(frozen=True, slots=True)
class FetchRange:
    """What is asked of the API for one window: ``[start, end)``, possibly reaching back by the overlap."""

    start: datetime
    end: datetime

    def contains(self, when: datetime) -> bool:
        """Half-open membership; drops the records the API returns because its ``to`` is inclusive."""
        return self.start <= when < self.end


def fetch_range(
    window: Window,
    *,
    checkpoint: datetime | None,
    overlap: timedelta,
    covered_until: datetime | None = None,
) -> FetchRange:
    """The range to request for ``window``.

    The window that starts at the committed checkpoint re-reads ``overlap`` before it (late records);
    later windows of the same batch do not (their predecessor is being read concurrently). When the
    records before ``covered_until`` are known complete (:func:`coverage_after`), the re-read starts
    there instead: reading them again could only return duplicates. A catch-up or a backlog therefore
    re-reads nothing, while a caught-up stream still re-reads its whole overlap.
    """
    if checkpoint is not None and window.start == floor_to_second(checkpoint) and overlap > timedelta(0):
        start = window.start - overlap
        if covered_until is not None:
            start = min(max(start, floor_to_second(covered_until)), window.start)
        return FetchRange(start, window.end)
    return FetchRange(window.start, window.end)


def coverage_after(
    fetch: FetchRange,
    read_at: datetime,
    *,
    lag: timedelta,
    overlap: timedelta,
    covered_until: datetime | None,
) -> datetime | None:
    """How far records are known complete once ``fetch`` was read at ``read_at`` (pure).

    The delivery guarantee assumes a record becomes visible at most ``lag + overlap`` after its
    timestamp. So a walk that started at ``read_at`` saw every record stamped before
    ``read_at - lag - overlap``: those never need reading again. Coverage only grows contiguously:
    it moves past ``covered_until`` only when ``fetch`` starts at or before it. ``covered_until`` of
    ``None`` means nothing is known (the first read after a start): the fetch itself is the base.

    Returns:
        The new coverage, or ``None`` when nothing is known.
    """
    base = fetch.start if covered_until is None else covered_until
    if fetch.start > base:
        return covered_until  # a gap: what lies between is not known complete
    reached = min(fetch.end, floor_to_second(read_at - lag - overlap))
    return max(base, reached)


def plan_walks(
    window: Window,
    fetch: FetchRange,
    now: datetime,
    *,
    lag: timedelta,
    overlap: timedelta,
    records_per_second: float | None,
    page_size: int,
) -> list[FetchRange]:
    """The page walks that read ``fetch`` for ``window``: the fetch itself, or fewer pages (pure).

    A re-read (``fetch`` starting before the window) is only *needed* for the records that are
    surely visible now, stamped before ``now - lag - overlap``: read once more, they are complete for
    good (:func:`coverage_after`). The rest of the overlap may be left for a later poll. So the fetch
    can be split into a *sweep* of that part plus the window itself, which costs one walk more but
    skips re-reading the young part of the overlap on every poll (by default each record would be
    read six times: overlap 5m / poll 1m). The split is chosen only when the estimated pages (at
    ``records_per_second``) are fewer; otherwise, and without an estimate, one walk reads it all (and
    late records come a poll sooner).

    Returns:
        One or two ranges in time order, together covering what must be read of ``fetch``.
    """
    if records_per_second is None or fetch.start >= window.start:
        return [fetch]
    sweep_end = max(fetch.start, min(window.start, floor_to_second(now - lag - overlap)))
    parts = [FetchRange(window.start, fetch.end)]
    if sweep_end > fetch.start:
        parts.insert(0, FetchRange(fetch.start, sweep_end))

    def pages(span: FetchRange) -> int:
        records = records_per_second * (span.end - span.start).total_seconds()
        return max(1, math.ceil(records / page_size))

    return parts if sum(pages(p) for p in parts) < pages(fetch) else [fetch]


def floor_to_second(when: datetime) -> datetime:
    """Drop sub-second precision: Mimecast's wire format has whole seconds only."""
    return when.replace(microsecond=0)


def first_start(
    now: datetime,
    start_from: datetime | timedelta,
    *,
    max_history: timedelta | None = None,
) -> datetime:
    """Where a stream with no checkpoint starts: an absolute time or a duration back from ``now``.

    Clamped to ``max_history`` (what the endpoint can still serve, e.g. 60 days for audit events).
    """
    start = start_from if isinstance(start_from, datetime) else now - start_from
    return clamp_to_history(floor_to_second(start.astimezone(UTC)), now, max_history)


def clamp_to_history(start: datetime, now: datetime, max_history: timedelta | None) -> datetime:
    """Move ``start`` forward to the oldest time the endpoint still serves (with a minute of margin)."""
    if max_history is None:
        return start
    oldest = floor_to_second(now - max_history + timedelta(minutes=1))
    return max(start, oldest)


def plan_windows(
    checkpoint: datetime | None,
    now: datetime,
    *,
    lag: timedelta,
    max_window: timedelta,
    start_from: datetime | timedelta = timedelta(hours=1),
    max_history: timedelta | None = None,
    limit: int | None = None,
) -> list[Window]:
    """Contiguous windows from the checkpoint up to ``now - lag``, each at most ``max_window`` long.

    Args:
        checkpoint: end of the last committed window, or ``None`` on the first run.
        now: the current time (UTC-aware).
        lag: distance kept from ``now`` so Mimecast has made the records visible.
        max_window: longest window; longer gaps are split.
        start_from: first-run start when there is no checkpoint (absolute, or a duration back).
        max_history: the endpoint's history limit; an older start is moved forward.
        limit: at most this many windows (the stream's concurrency); ``None`` = all.

    Returns:
        Windows in time order; empty when the stream is caught up (nothing before ``now - lag``).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    if max_window <= timedelta(0):
        raise ValueError("max_window must be positive")
    if lag < timedelta(0):
        raise ValueError("lag must not be negative")
    head = floor_to_second(now - lag)
    if checkpoint is None:
        start = first_start(now, start_from, max_history=max_history)
    else:
        start = clamp_to_history(floor_to_second(checkpoint), now, max_history)
    windows: list[Window] = []
    while start < head and (limit is None or len(windows) < limit):
        # Whole seconds: the wire format has no fractions (a fractional end would be sent floored and
        # the next window, starting at the floored checkpoint, would read that second again).
        end = min(max(floor_to_second(start + max_window), start + timedelta(seconds=1)), head)
        windows.append(Window(start, end))
        start = end
    return windows


def caught_up(windows: list[Window], now: datetime, lag: timedelta) -> bool:
    """True when the planned windows reach the head (``now - lag``): the stream can sleep a poll interval."""
    head = floor_to_second(now - lag)
    return not windows or windows[-1].end >= head
