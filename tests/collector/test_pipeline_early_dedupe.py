"""The overlap re-read's already-delivered records are dropped before they are normalised."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from mimecast_siem.collector.pipeline import drop_seen_before_normalising, normalise_records
from mimecast_siem.events import Event
from mimecast_siem.streams import CATALOGUE, NormaliseContext
from mimecast_siem.streams.normalise import parse_time

START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SPEC = CATALOGUE["ttp-url"]
assert SPEC.event_id_of is not None
ID_OF = SPEC.event_id_of


def click(minute: int, second: int, n: int) -> dict[str, Any]:
    return {
        "date": f"2026-11-25T{9 + (minute // 60):02d}:{minute % 60:02d}:{second:02d}+0000",
        "url": f"https://example.test/{n}",
        "userEmailAddress": f"user{n}@example.test",
        "action": "allow",
        "scanResult": "clean",
    }


class Store:
    """Ids delivered earlier; records every lookup."""

    def __init__(self, delivered: set[str]) -> None:
        self.delivered = delivered
        self.lookups: list[set[str]] = []
        self.betweens: list[tuple[datetime, datetime] | None] = []

    async def __call__(self, ids: Collection[str], between: tuple[datetime, datetime] | None = None) -> set[str]:
        self.lookups.append(set(ids))
        self.betweens.append(between)
        return self.delivered & set(ids)


async def test_seen_records_before_the_start_are_dropped_unnormalised() -> None:
    before = [click(55, s, n) for n, s in enumerate((1, 2, 3))]  # 09:55, before START: the overlap
    after = [click(61, s, 10 + n) for n, s in enumerate((1, 2))]  # 10:01, the new window
    delivered = {ID_OF(before[0]), ID_OF(before[2])}
    store = Store(delivered)
    kept, checked, dropped = await drop_seen_before_normalising(SPEC, [*before, *after], START, store)
    assert kept == [before[1], *after]
    assert dropped == 2
    assert checked == {ID_OF(before[1])}
    assert store.lookups == [{ID_OF(r) for r in before}]  # one query, early only
    # ... over the range of their times (the store reads only that range of its time-keyed rows).
    assert store.betweens == [(parse_time(before[0]["date"]), parse_time(before[2]["date"]))]


async def test_records_it_cannot_read_are_left_to_the_normal_path() -> None:
    def failing(record: Mapping[str, Any]) -> str:
        if record.get("url") == "boom":
            raise ValueError("unreadable")
        return ID_OF(record)

    spec = dataclasses.replace(SPEC, event_id_of=failing)
    odd: list[Any] = ["not an object", {"url": "no time"}, {**click(55, 9, 1), "url": "boom"}]
    store = Store(set())
    kept, checked, dropped = await drop_seen_before_normalising(spec, odd, START, store)
    assert kept == odd
    assert dropped == 0
    assert checked == set()
    assert store.lookups == []  # nothing to ask about


async def test_a_stream_without_an_id_function_is_untouched() -> None:
    spec = dataclasses.replace(SPEC, event_id_of=None)
    records = [click(55, 1, 1)]
    store = Store({ID_OF(records[0])})
    assert await drop_seen_before_normalising(spec, records, START, store) == (records, set(), 0)


def test_the_kept_records_normalise_to_the_same_events() -> None:
    records = [click(55, 1, 1), click(61, 2, 2)]
    ctx = NormaliseContext(tenant="acme", observed_at=START)
    events: list[Event] = normalise_records(SPEC, records, ctx)
    assert [e.event_id for e in events] == [ID_OF(r) for r in records]
