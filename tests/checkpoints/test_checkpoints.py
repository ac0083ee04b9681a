"""Checkpoints: commit, never backwards, set/reset, atomic commits, time round trips."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mimecast_siem.checkpoints import LeaseLost, StateStore, StateStoreError

from .faults import install_poison_trigger

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
TTL = timedelta(seconds=60)


async def test_a_stream_without_commits_has_no_checkpoint(store: StateStore) -> None:
    assert await store.get_checkpoint("acme", "ttp-url") is None
    assert await store.list_checkpoints() == []


async def test_commit_moves_the_checkpoint_forward_and_lists_it(store: StateStore) -> None:
    assert await store.commit_window("acme", "ttp-url", T0, owner=None) == T0
    assert await store.commit_window("acme", "ttp-url", T0 + timedelta(minutes=5), owner=None) == T0 + timedelta(
        minutes=5
    )
    await store.commit_window("acme", "ttp-attachment", T0, owner=None)
    rows = await store.list_checkpoints()
    assert [(r.tenant, r.stream, r.window_end) for r in rows] == [
        ("acme", "ttp-attachment", T0),
        ("acme", "ttp-url", T0 + timedelta(minutes=5)),
    ]
    assert all(r.updated_at.tzinfo is UTC for r in rows)


async def test_commit_never_moves_the_checkpoint_backwards(store: StateStore, caplog: pytest.LogCaptureFixture) -> None:
    await store.commit_window("acme", "ttp-url", T0, owner=None)
    with caplog.at_level("WARNING", logger="mimecast_siem.checkpoints"):
        kept = await store.commit_window("acme", "ttp-url", T0 - timedelta(hours=1), owner=None)
    assert kept == T0
    assert await store.get_checkpoint("acme", "ttp-url") == T0
    assert "asked to move it back" in caplog.text


async def test_commit_records_the_lease_owner_as_updater(store: StateStore) -> None:
    assert await store.acquire("acme", "ttp-url", "replica-1", TTL)
    await store.commit_window("acme", "ttp-url", T0, owner="replica-1")
    (row,) = await store.list_checkpoints()
    assert row.updated_by == "replica-1"


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-8))),
    ],
)
async def test_times_round_trip_exactly_as_utc(store: StateStore, when: datetime) -> None:
    await store.commit_window("acme", "ttp-url", when, owner=None)
    back = await store.get_checkpoint("acme", "ttp-url")
    assert back == when
    assert back is not None
    assert back.utcoffset() == timedelta(0)


async def test_naive_times_are_refused_before_touching_the_database(store: StateStore) -> None:
    with pytest.raises(ValueError, match="end must be a timezone-aware UTC datetime"):
        await store.commit_window("acme", "ttp-url", datetime(2026, 1, 1), owner=None)
    with pytest.raises(ValueError, match="seen event time must be a timezone-aware"):
        await store.commit_window("acme", "ttp-url", T0, owner=None, seen=[("e1", datetime(2026, 1, 1))])
    assert await store.get_checkpoint("acme", "ttp-url") is None


async def test_set_checkpoint_moves_backwards_forgets_later_seen_ids_and_fences_the_holder(store: StateStore) -> None:
    assert await store.acquire("acme", "ttp-url", "replica-1", TTL)
    seen = [("early", T0 - timedelta(minutes=30)), ("late", T0 + timedelta(minutes=30))]
    await store.commit_window("acme", "ttp-url", T0 + timedelta(hours=1), owner="replica-1", seen=seen)

    previous = await store.set_checkpoint("acme", "ttp-url", T0, by="operator")

    assert previous == T0 + timedelta(hours=1)
    assert await store.get_checkpoint("acme", "ttp-url") == T0
    # events from the new checkpoint on will be delivered again; older ones stay deduplicated
    assert await store.seen_ids("acme", "ttp-url", ["early", "late"]) == {"early"}
    (row,) = await store.list_checkpoints()
    assert row.updated_by == "operator"
    # the daemon that held the stream must not overwrite the operator's choice
    with pytest.raises(LeaseLost, match="nobody holds it"):
        await store.commit_window("acme", "ttp-url", T0 + timedelta(hours=2), owner="replica-1")
    assert await store.get_checkpoint("acme", "ttp-url") == T0
    assert await store.renew("replica-1", [("acme", "ttp-url")], TTL) == set()


async def test_set_checkpoint_creates_a_missing_checkpoint(store: StateStore) -> None:
    assert await store.set_checkpoint("acme", "ttp-url", T0) is None
    assert await store.get_checkpoint("acme", "ttp-url") == T0


async def test_reset_forgets_checkpoint_seen_ids_and_snapshot_of_that_stream_only(store: StateStore) -> None:
    for stream in ("held-messages", "ttp-url"):
        await store.commit_window("acme", stream, T0, owner=None, seen=[("e1", T0)], snapshot={"m1": {"id": "m1"}})
    assert await store.reset_checkpoint("acme", "held-messages") == T0
    assert await store.get_checkpoint("acme", "held-messages") is None
    assert await store.seen_ids("acme", "held-messages", ["e1"]) == set()
    assert await store.load_snapshot("acme", "held-messages") == {}
    assert await store.get_checkpoint("acme", "ttp-url") == T0
    assert await store.seen_ids("acme", "ttp-url", ["e1"]) == {"e1"}
    assert await store.load_snapshot("acme", "ttp-url") == {"m1": {"id": "m1"}}
    assert await store.reset_checkpoint("acme", "never-committed") is None


async def test_a_snapshot_that_is_not_json_is_refused_before_the_commit(store: StateStore) -> None:
    with pytest.raises(ValueError, match="snapshot item 'm2' cannot be stored as JSON"):
        await store.commit_window("acme", "held-messages", T0, owner=None, snapshot={"m2": {"when": object()}})
    assert await store.get_checkpoint("acme", "held-messages") is None


async def test_a_failure_mid_commit_leaves_nothing(store: StateStore, state_url: str) -> None:
    await store.commit_window("acme", "held-messages", T0, owner=None, seen=[("old", T0)], snapshot={"m1": {"a": 1}})
    # A real database error in the last step of the commit: a trigger refuses one snapshot item,
    # after the checkpoint moved and the seen ids were inserted in the same transaction.
    install_poison_trigger(state_url)
    with pytest.raises(StateStoreError, match="poisoned"):
        await store.commit_window(
            "acme",
            "held-messages",
            T0 + timedelta(minutes=1),
            owner=None,
            seen=[("new", T0 + timedelta(seconds=30))],
            snapshot={"m1": {"a": 2}, "poison": {"a": 3}},
        )
    assert await store.get_checkpoint("acme", "held-messages") == T0
    assert await store.seen_ids("acme", "held-messages", ["old", "new"]) == {"old"}
    assert await store.load_snapshot("acme", "held-messages") == {"m1": {"a": 1}}


async def test_lease_lost_commits_nothing(store: StateStore) -> None:
    assert await store.acquire("acme", "held-messages", "replica-2", TTL)
    with pytest.raises(LeaseLost) as lost:
        await store.commit_window(
            "acme", "held-messages", T0, owner="replica-1", seen=[("e1", T0)], snapshot={"m1": {"a": 1}}
        )
    assert lost.value.holder == "replica-2"
    assert await store.get_checkpoint("acme", "held-messages") is None
    assert await store.seen_ids("acme", "held-messages", ["e1"]) == set()
    assert await store.load_snapshot("acme", "held-messages") == {}


async def test_concurrent_commits_from_many_tasks_keep_the_latest(store: StateStore) -> None:
    ends = [T0 + timedelta(minutes=i) for i in range(40)]
    await asyncio.gather(*(store.commit_window("acme", "ttp-url", end, owner=None) for end in reversed(ends)))
    assert await store.get_checkpoint("acme", "ttp-url") == ends[-1]


async def test_checkpoint_times_reflect_what_this_process_committed(store: StateStore) -> None:
    await store.commit_window("acme", "ttp-url", T0, owner=None)
    assert store.checkpoint_times() == {("acme", "ttp-url"): T0.timestamp()}
    await store.reset_checkpoint("acme", "ttp-url")
    assert store.checkpoint_times() == {}
