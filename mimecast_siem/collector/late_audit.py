"""Late arrivals: what the overlap re-read catches, and an audit for what comes after the bound.

The late-arrival bound of a stream is ``lag + overlap``: a record that becomes visible no later than
that after its own timestamp is delivered (the overlap re-read, or the split sweep, reads its time
again until then; windows.coverage_after), at the latest ``lag + overlap + poll_interval`` after its
timestamp. A record visible *later* lies before every range the live path will ever request again,
so without a further read nobody would know it exists.

:class:`LateArrivalTracker` keeps, in memory, the ids of the records the live path read per minute
of event time, from the moment the stream was first caught up in this process. Every
``late_audit_every`` the task re-reads the slice of event time whose bound passed at least
``late_audit_every`` ago (``[audited_until, now - lag - overlap - late_audit_every)``) and delivers
the records whose ids it had not read: those became visible after the bound. They are counted in
``mimecast_siem_late_arrivals_total{bound="after"}`` and logged as a warning. Records the overlap
re-read caught (delivered by a read that started before their time: ``bound="within"``) are counted
too.

What it cannot see: records that become visible later than ``lag + overlap + 2 x late_audit_every``
after their time (their slice was audited already); slices read before this process was caught up
(after a restart, detection resumes from the checkpoint it reached); and, while the tracked ids
would exceed :data:`MAX_TRACKED_IDS` (a long backlog), nothing - tracking restarts once caught up.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from mimecast_siem.collector.windows import FetchRange, floor_to_second
from mimecast_siem.events import Event

#: Most ids held for the audit (about 50 MB of strings); above it tracking restarts when caught up.
MAX_TRACKED_IDS = 500_000
_MINUTE = timedelta(minutes=1)


def _minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


class LateArrivalTracker:
    """Ids the live path read, per minute of event time, and how far the audit has come.

    Args:
        every: how often (and how long a slice of event time) the audit re-reads.
    """

    def __init__(self, every: timedelta) -> None:
        self.every = every
        self.tracked_from: datetime | None = None
        self.audited_until: datetime | None = None
        self._by_minute: dict[datetime, set[str]] = {}
        self._size = 0

    @property
    def size(self) -> int:
        """Ids held."""
        return self._size

    def start(self, since: datetime) -> None:
        """Track from ``since`` on (the checkpoint when the stream is first caught up); no-op when tracking."""
        if self.tracked_from is None:
            self.tracked_from = self.audited_until = floor_to_second(since)

    def reset(self) -> None:
        """Forget everything (tracking starts again at the next :meth:`start`)."""
        self.tracked_from = self.audited_until = None
        self._by_minute.clear()
        self._size = 0

    def track(self, ids: Iterable[str], times: Iterable[datetime]) -> None:
        """Remember the ids read (records at or after :attr:`tracked_from` only)."""
        since = self.tracked_from
        if since is None:
            return
        for event_id, when in zip(ids, times, strict=False):
            if when < since:
                continue
            bucket = self._by_minute.setdefault(_minute(when), set())
            if event_id not in bucket:
                bucket.add(event_id)
                self._size += 1
        if self._size > MAX_TRACKED_IDS:
            self.reset()

    def next_slice(self, now: datetime, *, lag: timedelta, overlap: timedelta) -> FetchRange | None:
        """The slice to audit now, or ``None`` while less than ``every`` of event time is due."""
        start = self.audited_until
        if start is None:
            return None
        end = floor_to_second(now - lag - overlap - self.every)
        if end - start < self.every:
            return None
        return FetchRange(start, end)

    def known(self, span: FetchRange) -> set[str]:
        """Every id read with a time in the minutes ``span`` touches."""
        out: set[str] = set()
        minute = _minute(span.start)
        while minute < span.end:
            out |= self._by_minute.get(minute, set())
            minute += _MINUTE
        return out

    def audited(self, until: datetime) -> None:
        """The audit got to ``until``: forget the minutes wholly before it."""
        self.audited_until = until
        for minute in [m for m in self._by_minute if m + _MINUTE <= until]:
            self._size -= len(self._by_minute.pop(minute))


class KnownIds:
    """A page dedupe for the audit walk: drops every id the live path read (or this walk delivered)."""

    def __init__(self, known: set[str]) -> None:
        self.known = known

    def fresh(self, events: Iterable[Event], already_delivered: Iterable[str] = ()) -> tuple[list[Event], int]:
        """Events whose id was never read; and how many were dropped."""
        self.known.update(already_delivered)
        out: list[Event] = []
        dropped = 0
        for event in events:
            if event.event_id in self.known:
                dropped += 1
                continue
            self.known.add(event.event_id)
            out.append(event)
        return out, dropped
