"""Dedupe: half-open range filter, in-window repeats, which ids are remembered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mimecast_siem.collector.dedupe import WindowDedupe, ids_to_remember, place_events, split_by_range
from mimecast_siem.collector.windows import FetchRange
from mimecast_siem.events import Event
from mimecast_siem.streams import CATALOGUE, NormaliseContext

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
CTX = NormaliseContext(tenant="acme", observed_at=T0 + timedelta(hours=1))


def click(second: int, url: str = "https://x.example/") -> Event:
    when = (T0 + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    return CATALOGUE["ttp-url"].normalise({"date": when, "url": url}, CTX)


def test_range_filter_is_half_open_and_keeps_unplaceable_events() -> None:
    fetch = FetchRange(T0, T0 + timedelta(seconds=60))
    unplaceable = CATALOGUE["ttp-url"].normalise({"date": "??", "url": "u"}, CTX)
    kept, dropped = split_by_range([click(-1), click(0), click(59), click(60), unplaceable], fetch)
    assert [e.timestamp for e in kept[:2]] == [T0, T0 + timedelta(seconds=59)]
    assert kept[2] is unplaceable
    assert dropped == 2


def test_placing_a_page_also_names_the_unplaceable_events() -> None:
    fetch = FetchRange(T0, T0 + timedelta(seconds=60))
    unplaceable = CATALOGUE["ttp-url"].normalise({"date": "??", "url": "u"}, CTX)
    # Its poll time lies after the range: kept all the same, and named.
    assert not fetch.contains(unplaceable.timestamp)
    page = [click(-1), unplaceable, click(0), click(60), click(30)]
    kept, dropped, unplaced = place_events(page, fetch)
    assert kept == [unplaceable, page[2], page[4]]
    assert dropped == 2
    assert unplaced == {unplaceable.event_id}
    assert place_events([click(1)], fetch)[2] == set()


def test_window_dedupe_drops_repeats_and_already_delivered() -> None:
    dedupe = WindowDedupe()
    a, b, c = click(1), click(2), click(3)
    fresh, dropped = dedupe.fresh([a, b, a], already_delivered=[c.event_id])
    assert fresh == [a, b]
    assert dropped == 1
    fresh, dropped = dedupe.fresh([b, c], already_delivered=[c.event_id])
    assert fresh == []
    assert dropped == 2


@given(seconds=st.lists(st.integers(min_value=0, max_value=3600), max_size=40), overlap=st.integers(0, 3600))
def test_only_ids_a_future_overlap_can_see_are_remembered(seconds: list[int], overlap: int) -> None:
    checkpoint = T0 + timedelta(hours=1)
    events = [click(s, url=f"https://x.example/{s}") for s in seconds]
    remembered = dict(ids_to_remember(events, checkpoint=checkpoint, overlap=timedelta(seconds=overlap)))
    horizon = checkpoint - timedelta(seconds=overlap)
    for event in events:
        assert (event.event_id in remembered) == (event.timestamp >= horizon)
