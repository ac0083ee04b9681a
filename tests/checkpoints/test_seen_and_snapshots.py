"""Seen ids (dedupe of overlap re-reads, bounded by time) and stored snapshots (held messages)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, select
from sqlalchemy.dialects import sqlite

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.checkpoints.checkpointing import sqlite_time
from mimecast_siem.checkpoints.schema import UtcDateTime
from mimecast_siem.checkpoints.schema import seen_ids as seen_table

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


async def test_seen_ids_returns_only_ids_delivered_for_that_stream(store: StateStore) -> None:
    await store.commit_window("acme", "ttp-url", T0, owner=None, seen=[("a", T0), ("b", T0)])
    await store.commit_window("other", "ttp-url", T0, owner=None, seen=[("c", T0)])
    assert await store.seen_ids("acme", "ttp-url", ["a", "b", "c", "d"]) == {"a", "b"}
    assert await store.seen_ids("acme", "ttp-attachment", ["a"]) == set()
    assert await store.seen_ids("acme", "ttp-url", []) == set()


async def test_an_id_seen_twice_is_kept_once(store: StateStore) -> None:
    await store.commit_window("acme", "ttp-url", T0, owner=None, seen=[("a", T0), ("a", T0)])
    await store.commit_window("acme", "ttp-url", T0 + timedelta(minutes=1), owner=None, seen=[("a", T0)])
    assert await store.seen_ids("acme", "ttp-url", ["a"]) == {"a"}
    assert await store.prune_seen(T0 + timedelta(days=1)) == 1


async def test_large_id_sets_are_looked_up_in_batches(store: StateStore) -> None:
    delivered = [(f"id-{i:05d}", T0 + timedelta(seconds=i)) for i in range(2_500)]
    await store.commit_window("acme", "ttp-url", T0 + timedelta(hours=1), owner=None, seen=delivered)
    asked = [f"id-{i:05d}" for i in range(0, 5_000, 2)]
    found = await store.seen_ids("acme", "ttp-url", asked)
    assert found == {f"id-{i:05d}" for i in range(0, 2_500, 2)}


async def test_prune_removes_ids_older_than_the_bound_only(store: StateStore) -> None:
    seen = [
        ("old-1", T0 - timedelta(hours=3)),
        ("old-2", T0 - timedelta(hours=2, seconds=1)),
        ("edge", T0 - timedelta(hours=2)),
        ("new", T0),
    ]
    await store.commit_window("acme", "ttp-url", T0, owner=None, seen=seen)
    await store.commit_window("other", "ttp-attachment", T0, owner=None, seen=[("old-3", T0 - timedelta(days=1))])

    removed = await store.prune_seen(T0 - timedelta(hours=2))

    assert removed == 3
    assert await store.seen_ids("acme", "ttp-url", ["old-1", "old-2", "edge", "new"]) == {"edge", "new"}
    assert await store.seen_ids("other", "ttp-attachment", ["old-3"]) == set()
    assert await store.prune_seen(T0 - timedelta(hours=2)) == 0


async def test_snapshot_round_trip_and_replacement(store: StateStore) -> None:
    first: dict[str, dict[str, Any]] = {
        "m1": {"id": "m1", "from": "a@example.com", "dateReceived": "2026-11-01T09:00:00+0000", "size": 1234},
        "m2": {"id": "m2", "reason": "Policy", "nested": {"list": [1, 2, 3], "none": None, "ok": True}},
    }
    await store.commit_window("acme", "held-messages", T0, owner=None, snapshot=first)
    assert await store.load_snapshot("acme", "held-messages") == first

    second: dict[str, dict[str, Any]] = {"m2": first["m2"], "m3": {"id": "m3", "subject": "Ünïcødé ✓"}}
    await store.commit_window("acme", "held-messages", T0 + timedelta(minutes=1), owner=None, snapshot=second)
    assert await store.load_snapshot("acme", "held-messages") == second


async def test_commit_without_snapshot_keeps_the_stored_one_and_empty_snapshot_clears_it(store: StateStore) -> None:
    await store.commit_window("acme", "held-messages", T0, owner=None, snapshot={"m1": {"id": "m1"}})
    await store.commit_window("acme", "held-messages", T0 + timedelta(minutes=1), owner=None)
    assert await store.load_snapshot("acme", "held-messages") == {"m1": {"id": "m1"}}
    await store.commit_window("acme", "held-messages", T0 + timedelta(minutes=2), owner=None, snapshot={})
    assert await store.load_snapshot("acme", "held-messages") == {}


async def test_snapshots_of_tenants_are_separate(store: StateStore) -> None:
    await store.commit_window("acme", "held-messages", T0, owner=None, snapshot={"m1": {"t": "acme"}})
    await store.commit_window("globex", "held-messages", T0, owner=None, snapshot={"m1": {"t": "globex"}})
    assert await store.load_snapshot("acme", "held-messages") == {"m1": {"t": "acme"}}
    assert await store.load_snapshot("globex", "held-messages") == {"m1": {"t": "globex"}}


async def test_a_snapshot_survives_reopening_the_store(state_url: str) -> None:
    store = await StateStore.open(state_url)
    await store.commit_window("acme", "held-messages", T0, owner=None, snapshot={"m1": {"id": "m1"}})
    await store.close()
    reopened = await StateStore.open(state_url)
    try:
        assert await reopened.load_snapshot("acme", "held-messages") == {"m1": {"id": "m1"}}
        assert await reopened.get_checkpoint("acme", "held-messages") == T0
    finally:
        await reopened.close()


@given(
    when=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
    )
)
def test_sqlite_seen_times_are_stored_as_sqlalchemy_would_store_them(when: datetime) -> None:
    """The seen-id fast path writes the text SQLAlchemy's UtcDateTime would (the store compares those texts)."""
    dialect = sqlite.dialect()
    column = UtcDateTime()
    bind = column.dialect_impl(dialect).bind_processor(dialect)
    assert bind is not None
    assert sqlite_time(when) == bind(when)


def test_sqlite_seen_times_refuse_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        sqlite_time(datetime(2026, 11, 1, 10, 0))


async def test_seen_rows_read_back_and_bound_like_any_other_time(store: StateStore, state_url: str) -> None:
    """Rows written by the seen-id path (SQLite: driver tuples) hold the times SQLAlchemy reads and compares."""
    india = timezone(timedelta(hours=5, minutes=30))
    seen = [("b", T0 + timedelta(microseconds=1)), ("a", (T0 - timedelta(hours=3)).astimezone(india)), ("c", T0)]
    await store.commit_window("acme", "ttp-url", T0, owner=None, seen=seen)
    engine = create_engine(state_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(seen_table.c.event_id, seen_table.c.event_time).order_by("event_id")).all()
    finally:
        engine.dispose()
    assert [(r.event_id, r.event_time) for r in rows] == sorted(seen)
    assert all(r.event_time.utcoffset() == timedelta(0) for r in rows)
    # Bounds compare stored texts: T0 itself is kept by a prune at T0 and forgotten by a checkpoint set to T0.
    assert await store.prune_seen(T0) == 1
    assert await store.seen_ids("acme", "ttp-url", ["a", "b", "c"]) == {"b", "c"}
    await store.set_checkpoint("acme", "ttp-url", T0)
    assert await store.seen_ids("acme", "ttp-url", ["a", "b", "c"]) == set()


async def test_a_seen_row_with_a_bad_id_or_a_naive_time_is_refused_and_nothing_is_committed(store: StateStore) -> None:
    for bad in [("", T0), ("x" * 129, T0), ("ok", T0.replace(tzinfo=None))]:
        with pytest.raises(ValueError, match="seen event"):
            await store.commit_window("acme", "ttp-url", T0, owner=None, seen=[("fine", T0), bad])
    assert await store.get_checkpoint("acme", "ttp-url") is None
    assert await store.seen_ids("acme", "ttp-url", ["fine", "ok"]) == set()


async def test_a_lookup_between_two_times_finds_the_ids_stored_with_a_time_in_that_range(store: StateStore) -> None:
    """Rows are keyed by time, then id: a lookup names the range of times its ids were delivered with."""
    delivered = [(f"id-{i:04d}", T0 + timedelta(seconds=i)) for i in range(1_200)]
    await store.commit_window("acme", "ttp-url", T0 + timedelta(hours=1), owner=None, seen=delivered)
    asked = [f"id-{i:04d}" for i in range(0, 1_500, 3)]
    inside = (T0 + timedelta(seconds=300), T0 + timedelta(seconds=600))  # inclusive at both ends
    expected = {f"id-{i:04d}" for i in range(300, 601) if i % 3 == 0}
    assert await store.seen_ids("acme", "ttp-url", asked, between=inside) == expected
    assert await store.seen_ids("acme", "ttp-url", ["id-0300", "id-0600"], between=inside) == {"id-0300", "id-0600"}
    assert await store.seen_ids("acme", "ttp-url", ["id-0299", "id-0601"], between=inside) == set()
    # Without a range every row of the stream is looked at (ids whose time is not known).
    assert await store.seen_ids("acme", "ttp-url", ["id-0000", "id-1199", "nope"]) == {"id-0000", "id-1199"}
    with pytest.raises(ValueError, match="naive"):
        await store.seen_ids("acme", "ttp-url", ["a"], between=(datetime(2026, 1, 1), T0))


async def test_seen_rows_are_stored_in_time_order_whatever_order_they_come_in(
    store: StateStore, state_url: str
) -> None:
    delivered = [(f"{i:032x}"[::-1], T0 + timedelta(milliseconds=7 * i)) for i in range(700)]
    await store.commit_window("acme", "ttp-url", T0 + timedelta(minutes=1), owner=None, seen=delivered[::-1])
    engine = create_engine(state_url)
    try:
        with engine.connect() as conn:
            rows = list(
                conn.execute(
                    select(seen_table.c.event_id, seen_table.c.event_time).order_by(
                        seen_table.c.tenant, seen_table.c.stream, seen_table.c.event_time, seen_table.c.event_id
                    )
                )
            )
    finally:
        engine.dispose()
    assert [(r.event_id, r.event_time) for r in rows] == sorted(delivered, key=lambda pair: (pair[1], pair[0]))


async def test_prune_seen_of_uses_each_streams_own_horizon(store: StateStore) -> None:
    await store.commit_window("t", "a", T0, owner=None, seen=[("a-old", T0 - timedelta(hours=3)), ("a-new", T0)])
    await store.commit_window("t", "b", T0, owner=None, seen=[("b-old", T0 - timedelta(hours=3))])
    assert await store.prune_seen_of({("t", "a"): T0 - timedelta(hours=1), ("t", "b"): T0 - timedelta(days=1)}) == 1
    assert await store.seen_ids("t", "a", ["a-old", "a-new"]) == {"a-new"}
    assert await store.seen_ids("t", "b", ["b-old"]) == {"b-old"}
    assert await store.prune_seen_of({}) == 0
