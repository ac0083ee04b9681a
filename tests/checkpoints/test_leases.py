"""Leases in one process: acquire, renew, release, expiry, fencing epochs, LeaseLost (clock injected)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from mimecast_siem.checkpoints import LeaseLost, StateStore

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)
KEY = ("acme", "ttp-url")


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def leases(state_url: str, clock: ManualClock) -> AsyncIterator[StateStore]:
    store = await StateStore.open(state_url, clock=clock)
    try:
        yield store
    finally:
        await store.close()


async def test_a_free_lease_is_acquired_once(leases: StateStore) -> None:
    assert await leases.acquire(*KEY, "a", TTL)
    assert not await leases.acquire(*KEY, "b", TTL)
    (row,) = await leases.list_leases()
    assert (row.tenant, row.stream, row.owner, row.epoch) == ("acme", "ttp-url", "a", 1)
    assert row.acquired_at == T0
    assert row.expires_at == T0 + TTL


async def test_reacquiring_a_live_lease_extends_it_in_the_same_term(leases: StateStore, clock: ManualClock) -> None:
    first = await leases.acquire_lease(*KEY, "a", TTL)
    clock.advance(timedelta(seconds=10))
    again = await leases.acquire_lease(*KEY, "a", TTL)
    assert first is not None
    assert again is not None
    assert again.epoch == first.epoch
    assert again.acquired_at == first.acquired_at
    assert again.expires_at == T0 + timedelta(seconds=10) + TTL


async def test_an_expired_lease_is_taken_over_in_a_new_term(leases: StateStore, clock: ManualClock) -> None:
    assert await leases.acquire(*KEY, "a", TTL)
    clock.advance(TTL - timedelta(microseconds=1))
    assert not await leases.acquire(*KEY, "b", TTL)
    clock.advance(timedelta(microseconds=1))  # expires_at itself is no longer held
    taken = await leases.acquire_lease(*KEY, "b", TTL)
    assert taken is not None
    assert (taken.owner, taken.epoch, taken.acquired_at) == ("b", 2, T0 + TTL)


async def test_the_same_owner_retaking_an_expired_lease_starts_a_new_term(
    leases: StateStore, clock: ManualClock
) -> None:
    assert await leases.acquire(*KEY, "a", TTL)
    clock.advance(TTL)
    again = await leases.acquire_lease(*KEY, "a", TTL)
    assert again is not None
    assert again.epoch == 2


async def test_renew_extends_only_leases_still_held(leases: StateStore, clock: ManualClock) -> None:
    keys = [("acme", "ttp-url"), ("acme", "ttp-attachment"), ("acme", "held-messages")]
    for key in keys:
        assert await leases.acquire(*key, "a", TTL)
    clock.advance(TTL)  # all expired
    assert await leases.acquire("acme", "ttp-attachment", "b", TTL)  # one taken over by b
    assert await leases.acquire("acme", "held-messages", "a", TTL)  # one re-taken by a
    clock.advance(timedelta(seconds=1))

    renewed = await leases.renew("a", [*keys, ("acme", "never-had")], timedelta(minutes=5))

    assert renewed == {("acme", "held-messages")}
    rows = {(r.tenant, r.stream): r for r in await leases.list_leases()}
    assert rows[("acme", "held-messages")].expires_at == T0 + TTL + timedelta(seconds=1, minutes=5)
    assert rows[("acme", "ttp-url")].expires_at == T0 + TTL  # expired, not renewed
    assert rows[("acme", "ttp-attachment")].owner == "b"
    assert await leases.renew("a", [], TTL) == set()


async def test_release_frees_the_key_and_keeps_the_epoch_growing(leases: StateStore) -> None:
    assert await leases.acquire(*KEY, "a", TTL)
    assert await leases.acquire("acme", "ttp-attachment", "a", TTL)
    assert await leases.release("a", [KEY]) == 1
    assert await leases.get_lease(*KEY) is None
    taken = await leases.acquire_lease(*KEY, "b", TTL)
    assert taken is not None
    assert taken.epoch == 2
    assert await leases.release("b", [("acme", "ttp-attachment")]) == 0  # not b's
    assert await leases.release("a") == 1  # every lease of a
    assert [(r.stream, r.owner) for r in await leases.list_leases()] == [("ttp-url", "b")]


async def test_commit_with_an_expired_lease_raises_lease_lost(leases: StateStore, clock: ManualClock) -> None:
    assert await leases.acquire(*KEY, "a", TTL)
    await leases.commit_window(*KEY, T0, owner="a")
    clock.advance(TTL + timedelta(seconds=1))
    with pytest.raises(LeaseLost, match="expired at") as lost:
        await leases.commit_window(*KEY, T0 + timedelta(minutes=1), owner="a", seen=[("e", T0)])
    assert (lost.value.tenant, lost.value.stream, lost.value.owner, lost.value.holder) == ("acme", "ttp-url", "a", None)
    assert await leases.get_checkpoint(*KEY) == T0
    assert await leases.seen_ids(*KEY, ["e"]) == set()


async def test_commit_after_the_lease_moved_raises_lease_lost(leases: StateStore, clock: ManualClock) -> None:
    assert await leases.acquire(*KEY, "a", TTL)
    clock.advance(TTL)
    assert await leases.acquire(*KEY, "b", TTL)
    with pytest.raises(LeaseLost, match="b holds it now"):
        await leases.commit_window(*KEY, T0, owner="a")
    await leases.commit_window(*KEY, T0, owner="b")
    assert await leases.get_checkpoint(*KEY) == T0


async def test_commit_fenced_by_epoch_refuses_a_stale_term_of_the_same_owner(
    leases: StateStore, clock: ManualClock
) -> None:
    first = await leases.acquire_lease(*KEY, "a", TTL)
    assert first is not None
    clock.advance(TTL)
    second = await leases.acquire_lease(*KEY, "a", TTL)  # same owner, new term
    assert second is not None
    with pytest.raises(LeaseLost, match=f"epoch {second.epoch}, not {first.epoch}"):
        await leases.commit_window(*KEY, T0, owner="a", epoch=first.epoch)
    await leases.commit_window(*KEY, T0, owner="a", epoch=second.epoch)
    assert await leases.get_checkpoint(*KEY) == T0


async def test_commit_without_any_lease_row_raises_lease_lost(leases: StateStore) -> None:
    with pytest.raises(LeaseLost, match="nobody holds it"):
        await leases.commit_window(*KEY, T0, owner="a")


async def test_lease_arguments_are_checked(leases: StateStore) -> None:
    with pytest.raises(ValueError, match="ttl must be a positive duration"):
        await leases.acquire(*KEY, "a", timedelta(0))
    with pytest.raises(ValueError, match="owner must be a non-empty string"):
        await leases.acquire(*KEY, "", TTL)
    with pytest.raises(ValueError, match="tenant must be a non-empty string"):
        await leases.acquire("", "ttp-url", "a", TTL)


async def test_the_database_clock_drives_expiry_without_an_injected_clock(store: StateStore) -> None:
    before = await store.now()
    lease = await store.acquire_lease(*KEY, "a", timedelta(hours=1))
    assert lease is not None
    assert lease.acquired_at >= before
    assert lease.expires_at == lease.acquired_at + timedelta(hours=1)
    assert lease.held_at(await store.now())
