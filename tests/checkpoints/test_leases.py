"""Leases in one process: acquire, renew, release, expiry, fencing epochs, LeaseLost (clock injected)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mimecast_siem.checkpoints import LeaseLost, StateStore

from .conftest import CLOCK_START, ManualClock

T0 = CLOCK_START
TTL = timedelta(seconds=30)
KEY = ("acme", "ttp-url")


async def test_a_free_lease_is_acquired_once(clocked: StateStore) -> None:
    assert await clocked.acquire(*KEY, "a", TTL)
    assert not await clocked.acquire(*KEY, "b", TTL)
    (row,) = await clocked.list_leases()
    assert (row.tenant, row.stream, row.owner, row.epoch) == ("acme", "ttp-url", "a", 1)
    assert row.acquired_at == T0
    assert row.expires_at == T0 + TTL


async def test_reacquiring_a_live_lease_extends_it_in_the_same_term(clocked: StateStore, clock: ManualClock) -> None:
    first = await clocked.acquire_lease(*KEY, "a", TTL)
    clock.advance(timedelta(seconds=10))
    again = await clocked.acquire_lease(*KEY, "a", TTL)
    assert first is not None
    assert again is not None
    assert again.epoch == first.epoch
    assert again.acquired_at == first.acquired_at
    assert again.expires_at == T0 + timedelta(seconds=10) + TTL


async def test_an_expired_lease_is_taken_over_in_a_new_term(clocked: StateStore, clock: ManualClock) -> None:
    assert await clocked.acquire(*KEY, "a", TTL)
    clock.advance(TTL - timedelta(microseconds=1))
    assert not await clocked.acquire(*KEY, "b", TTL)
    clock.advance(timedelta(microseconds=1))  # expires_at itself is no longer held
    taken = await clocked.acquire_lease(*KEY, "b", TTL)
    assert taken is not None
    assert (taken.owner, taken.epoch, taken.acquired_at) == ("b", 2, T0 + TTL)


async def test_the_same_owner_retaking_an_expired_lease_starts_a_new_term(
    clocked: StateStore, clock: ManualClock
) -> None:
    assert await clocked.acquire(*KEY, "a", TTL)
    clock.advance(TTL)
    again = await clocked.acquire_lease(*KEY, "a", TTL)
    assert again is not None
    assert again.epoch == 2


async def test_renew_extends_the_leases_nobody_took_expired_or_not(clocked: StateStore, clock: ManualClock) -> None:
    keys = [("acme", "ttp-url"), ("acme", "ttp-attachment"), ("acme", "held-messages")]
    for key in keys:
        assert await clocked.acquire(*key, "a", TTL)
    clock.advance(TTL)  # all expired
    assert await clocked.acquire("acme", "ttp-attachment", "b", TTL)  # one taken over by b
    assert await clocked.acquire("acme", "held-messages", "a", TTL)  # one re-taken by a
    clock.advance(timedelta(seconds=1))

    renewed = await clocked.renew("a", [*keys, ("acme", "never-had")], timedelta(minutes=5))

    # ttp-url ran out while nobody took it (a slow holder, not a dead one): renewed in the same term
    assert renewed == {("acme", "held-messages"), ("acme", "ttp-url")}
    rows = {(r.tenant, r.stream): r for r in await clocked.list_leases()}
    assert rows[("acme", "held-messages")].expires_at == T0 + TTL + timedelta(seconds=1, minutes=5)
    assert rows[("acme", "ttp-url")].expires_at == T0 + TTL + timedelta(seconds=1, minutes=5)
    assert rows[("acme", "ttp-url")].epoch == 1
    assert rows[("acme", "ttp-attachment")].owner == "b"
    assert await clocked.renew("a", [], TTL) == set()


async def test_release_frees_the_key_and_keeps_the_epoch_growing(clocked: StateStore) -> None:
    assert await clocked.acquire(*KEY, "a", TTL)
    assert await clocked.acquire("acme", "ttp-attachment", "a", TTL)
    assert await clocked.release("a", [KEY]) == 1
    assert await clocked.get_lease(*KEY) is None
    taken = await clocked.acquire_lease(*KEY, "b", TTL)
    assert taken is not None
    assert taken.epoch == 2
    assert await clocked.release("b", [("acme", "ttp-attachment")]) == 0  # not b's
    assert await clocked.release("a") == 1  # every lease of a
    assert [(r.stream, r.owner) for r in await clocked.list_leases()] == [("ttp-url", "b")]


async def test_a_commit_after_the_lease_ran_out_but_nobody_took_it_goes_through(
    clocked: StateStore, clock: ManualClock
) -> None:
    # A holder starved past its TTL (GC pause, throttled pod) has done the only work on the key.
    assert await clocked.acquire(*KEY, "a", TTL)
    await clocked.commit_window(*KEY, T0, owner="a")
    clock.advance(TTL + timedelta(seconds=1))
    await clocked.commit_window(*KEY, T0 + timedelta(minutes=1), owner="a", seen=[("e", T0)])
    assert await clocked.get_checkpoint(*KEY) == T0 + timedelta(minutes=1)
    assert await clocked.seen_ids(*KEY, ["e"]) == {"e"}
    # ...but once another replica takes the expired lease, the slow holder's commit is refused
    clock.advance(TTL + timedelta(seconds=1))
    assert await clocked.acquire(*KEY, "b", TTL)
    with pytest.raises(LeaseLost, match="b holds it now") as lost:
        await clocked.commit_window(*KEY, T0 + timedelta(minutes=2), owner="a", seen=[("f", T0)])
    assert (lost.value.tenant, lost.value.stream, lost.value.owner, lost.value.holder) == ("acme", "ttp-url", "a", "b")
    assert await clocked.get_checkpoint(*KEY) == T0 + timedelta(minutes=1)
    assert await clocked.seen_ids(*KEY, ["f"]) == set()
    assert await clocked.renew("a", [KEY], TTL) == set()


async def test_commit_after_the_lease_moved_raises_lease_lost(clocked: StateStore, clock: ManualClock) -> None:
    assert await clocked.acquire(*KEY, "a", TTL)
    clock.advance(TTL)
    assert await clocked.acquire(*KEY, "b", TTL)
    with pytest.raises(LeaseLost, match="b holds it now"):
        await clocked.commit_window(*KEY, T0, owner="a")
    await clocked.commit_window(*KEY, T0, owner="b")
    assert await clocked.get_checkpoint(*KEY) == T0


async def test_commit_fenced_by_epoch_refuses_a_stale_term_of_the_same_owner(
    clocked: StateStore, clock: ManualClock
) -> None:
    first = await clocked.acquire_lease(*KEY, "a", TTL)
    assert first is not None
    clock.advance(TTL)
    second = await clocked.acquire_lease(*KEY, "a", TTL)  # same owner, new term
    assert second is not None
    with pytest.raises(LeaseLost, match=f"epoch {second.epoch}, not {first.epoch}"):
        await clocked.commit_window(*KEY, T0, owner="a", epoch=first.epoch)
    await clocked.commit_window(*KEY, T0, owner="a", epoch=second.epoch)
    assert await clocked.get_checkpoint(*KEY) == T0


async def test_commit_without_any_lease_row_raises_lease_lost(clocked: StateStore) -> None:
    with pytest.raises(LeaseLost, match="nobody holds it"):
        await clocked.commit_window(*KEY, T0, owner="a")


async def test_lease_arguments_are_checked(clocked: StateStore) -> None:
    with pytest.raises(ValueError, match="ttl must be a positive duration"):
        await clocked.acquire(*KEY, "a", timedelta(0))
    with pytest.raises(ValueError, match="owner must be a non-empty string"):
        await clocked.acquire(*KEY, "", TTL)
    with pytest.raises(ValueError, match="tenant must be a non-empty string"):
        await clocked.acquire("", "ttp-url", "a", TTL)


async def test_the_database_clock_drives_expiry_without_an_injected_clock(store: StateStore) -> None:
    before = await store.now()
    lease = await store.acquire_lease(*KEY, "a", timedelta(hours=1))
    assert lease is not None
    assert lease.acquired_at >= before
    assert lease.expires_at == lease.acquired_at + timedelta(hours=1)
    assert lease.held_at(await store.now())
