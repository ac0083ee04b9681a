"""Idempotency keys in the state store, on SQLite and PostgreSQL: claim, replay, mismatch, busy,
abandoned, expiry, release - and concurrent claims of one key from several stores (replicas)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from mimecast_siem.checkpoints import IdempotencyState, StateStore
from tests.checkpoints.conftest import ManualClock

DIGEST = "a" * 64
OTHER = "b" * 64


async def test_first_claim_is_new_then_the_stored_answer_is_replayed(clocked: StateStore) -> None:
    first = await clocked.claim_idempotency("soar", "key-1", DIGEST)
    assert first.state is IdempotencyState.NEW
    busy = await clocked.claim_idempotency("soar", "key-1", DIGEST)
    assert busy.state is IdempotencyState.BUSY
    await clocked.complete_idempotency("soar", "key-1", 207, '{"outcome": "partial"}')
    again = await clocked.claim_idempotency("soar", "key-1", DIGEST)
    assert again.state is IdempotencyState.REPLAY
    assert (again.status, again.response) == (207, '{"outcome": "partial"}')


async def test_same_key_with_another_body_is_a_mismatch(clocked: StateStore) -> None:
    await clocked.claim_idempotency("soar", "key-1", DIGEST)
    await clocked.complete_idempotency("soar", "key-1", 200, "{}")
    assert (await clocked.claim_idempotency("soar", "key-1", OTHER)).state is IdempotencyState.MISMATCH


async def test_keys_belong_to_their_caller(clocked: StateStore) -> None:
    await clocked.claim_idempotency("soar", "key-1", DIGEST)
    assert (await clocked.claim_idempotency("other-token", "key-1", OTHER)).state is IdempotencyState.NEW


async def test_keys_expire_after_the_ttl(clocked: StateStore, clock: ManualClock) -> None:
    await clocked.claim_idempotency("soar", "key-1", DIGEST)
    await clocked.complete_idempotency("soar", "key-1", 200, "{}")
    clock.advance(timedelta(hours=23, minutes=59))
    assert (await clocked.claim_idempotency("soar", "key-1", DIGEST)).state is IdempotencyState.REPLAY
    clock.advance(timedelta(minutes=2))
    assert (await clocked.claim_idempotency("soar", "key-1", OTHER)).state is IdempotencyState.NEW
    clock.advance(timedelta(days=2))
    assert await clocked.prune_idempotency() == 1


async def test_a_claim_that_never_finished_is_abandoned_not_rerun(clocked: StateStore, clock: ManualClock) -> None:
    await clocked.claim_idempotency("soar", "key-1", DIGEST)
    clock.advance(timedelta(minutes=11))
    assert (await clocked.claim_idempotency("soar", "key-1", DIGEST)).state is IdempotencyState.ABANDONED


async def test_a_released_key_can_be_claimed_again(clocked: StateStore) -> None:
    await clocked.claim_idempotency("soar", "key-1", DIGEST)
    await clocked.release_idempotency("soar", "key-1")
    assert (await clocked.claim_idempotency("soar", "key-1", DIGEST)).state is IdempotencyState.NEW


async def test_bad_keys_are_refused(store: StateStore) -> None:
    for bad in ("", "has space", "x" * 256, "tab\there", "é"):
        with pytest.raises(ValueError, match="idempotency key"):
            await store.claim_idempotency("soar", bad, DIGEST)


async def test_concurrent_claims_from_several_replicas_have_one_winner(state_url: str) -> None:
    stores = [await StateStore.open(state_url) for _ in range(4)]
    try:
        for round_ in range(5):
            claims = await asyncio.gather(
                *(s.claim_idempotency("soar", f"race-{round_}", DIGEST) for s in stores for _ in range(3))
            )
            states = [c.state for c in claims]
            assert states.count(IdempotencyState.NEW) == 1, states
            assert set(states) <= {IdempotencyState.NEW, IdempotencyState.BUSY}
    finally:
        for s in stores:
            await s.close()
