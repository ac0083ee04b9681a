"""Seen ids (dedupe of overlap re-reads, bounded by time) and stored snapshots (held messages)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mimecast_siem.checkpoints import StateStore

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
