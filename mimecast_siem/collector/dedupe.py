"""Deduplication of overlap re-reads and inclusive window boundaries (pure).

Two things bring a record back a second time: the API's inclusive ``from``/``to`` (quirk 3) and the
overlap re-read that catches late records. Both are handled with event ids:

* Within one window, :class:`WindowDedupe` remembers the ids it has passed on.
* Across windows, the state store keeps the ids of delivered events *that a later overlap re-read
  could see again*: those whose event time is at or after ``new checkpoint - overlap``
  (:func:`ids_to_remember`). Older ones can never be fetched again by the live path, so they are not
  written - the seen-id table stays small (about one overlap's worth of events per stream).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mimecast_siem.collector.windows import FetchRange
from mimecast_siem.events import Event
from mimecast_siem.streams import TAG_TIME_UNPARSED


def time_unparsed(event: Event) -> bool:
    """True when the record's time could not be read (the event carries the poll time instead)."""
    tags = event.document.get("tags")
    return isinstance(tags, list) and TAG_TIME_UNPARSED in tags


def split_by_range(events: Iterable[Event], fetch: FetchRange) -> tuple[list[Event], int]:
    """Keep events inside the half-open fetch range; return them and how many were dropped.

    Events whose time could not be read are kept: they cannot be placed, and losing them is worse
    than a possible duplicate (their ids still dedupe them).
    """
    kept, dropped, _ = place_events(events, fetch)
    return kept, dropped


def place_events(events: Iterable[Event], fetch: FetchRange) -> tuple[list[Event], int, set[str]]:
    """:func:`split_by_range`, and the ids of the kept events whose time could not be read - one pass
    over a page (the collector needs both, and read every event's tags twice for them)."""
    kept: list[Event] = []
    unplaced: set[str] = set()
    dropped = 0
    start, end = fetch.start, fetch.end
    for event in events:
        if time_unparsed(event):
            kept.append(event)
            unplaced.add(event.event_id)
        elif start <= event.timestamp < end:
            kept.append(event)
        else:
            dropped += 1
    return kept, dropped, unplaced


@dataclass(slots=True)
class WindowDedupe:
    """Ids already passed on within one window (a record can repeat across the pages of a walk)."""

    _ids: set[str] = field(default_factory=set)

    def fresh(self, events: Iterable[Event], already_delivered: Iterable[str] = ()) -> tuple[list[Event], int]:
        """Events not seen in this window and not in ``already_delivered``; also the number dropped."""
        known = set(already_delivered)
        out: list[Event] = []
        dropped = 0
        for event in events:
            if event.event_id in self._ids or event.event_id in known:
                dropped += 1
                continue
            self._ids.add(event.event_id)
            out.append(event)
        return out, dropped


def ids_to_remember(events: Sequence[Event], *, checkpoint: datetime, overlap: timedelta) -> list[tuple[str, datetime]]:
    """``(event_id, event time)`` of delivered events a future overlap re-read could fetch again.

    The next window's request starts at ``checkpoint - overlap``; only events at or after that time
    can come back. Events with an unreadable time are always remembered.
    """
    horizon = checkpoint - overlap
    out: dict[str, datetime] = {}
    for event in events:
        if time_unparsed(event) or event.timestamp >= horizon:
            out.setdefault(event.event_id, event.timestamp)
    return list(out.items())
