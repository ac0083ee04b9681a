"""The backfill's in-window dedupe: repeats around page boundaries dropped, memory bounded (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mimecast_siem.collector.backfill import RecentPagesDedupe
from mimecast_siem.events import Event

WHEN = datetime(2026, 10, 1, tzinfo=UTC)


def event(n: int) -> Event:
    return Event(event_id=f"id-{n}", tenant="acme", stream="ttp-url", timestamp=WHEN, document={}, raw={})


@st.composite
def walks(draw: st.DrawFn) -> tuple[list[list[int]], int]:
    """A page walk over distinct records where pages may repeat records of the last ``reach`` pages."""
    reach = draw(st.integers(min_value=1, max_value=4))
    sizes = draw(st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=25))
    pages: list[list[int]] = []
    next_id = 0
    for size in sizes:
        page = list(range(next_id, next_id + size))
        next_id += size
        earlier = [i for p in pages[-reach:] for i in p]
        if earlier:
            page += draw(st.lists(st.sampled_from(earlier), max_size=5))
        page += draw(st.lists(st.sampled_from(page), max_size=3)) if page else []
        pages.append(draw(st.permutations(page)))
    return pages, reach


@given(walks())
def test_every_record_once_when_repeats_stay_within_the_remembered_pages(walk: tuple[list[list[int]], int]) -> None:
    pages, reach = walk
    dedupe = RecentPagesDedupe(pages=reach)
    passed: list[str] = []
    dropped = 0
    for page in pages:
        fresh, n = dedupe.fresh([event(i) for i in page])
        passed += [e.event_id for e in fresh]
        dropped += n
    expected = {f"id-{i}" for page in pages for i in page}
    assert sorted(passed) == sorted(expected)
    assert dropped == sum(len(p) for p in pages) - len(expected)


def test_memory_is_bounded_by_the_remembered_pages() -> None:
    dedupe = RecentPagesDedupe(pages=3)
    for page in range(1000):
        fresh, _ = dedupe.fresh([event(page * 500 + i) for i in range(500)])
        assert len(fresh) == 500
        assert dedupe.remembered <= 3 * 500


def test_ids_already_delivered_are_dropped_too() -> None:
    fresh, dropped = RecentPagesDedupe().fresh([event(1), event(2)], already_delivered=["id-2"])
    assert [e.event_id for e in fresh] == ["id-1"]
    assert dropped == 1


def test_a_repeat_from_further_back_is_delivered_again_never_lost() -> None:
    dedupe = RecentPagesDedupe(pages=1)
    dedupe.fresh([event(1)])
    dedupe.fresh([event(2)])
    fresh, _ = dedupe.fresh([event(1)])
    assert [e.event_id for e in fresh] == ["id-1"]


def test_pages_must_be_positive() -> None:
    with pytest.raises(ValueError, match="pages must be at least 1"):
        RecentPagesDedupe(pages=0)
