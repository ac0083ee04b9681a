"""Property tests: random operation sequences against the store agree with a tiny in-memory model.

Each example runs on a fresh in-memory SQLite store (the SQL is the same on PostgreSQL, where the
example-based tests run). The models are the rules of docs/state.md written as plain Python.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mimecast_siem.checkpoints import LeaseLost, StateStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OWNERS = ["a", "b", "c"]

minutes = st.integers(min_value=0, max_value=120)
checkpoint_ops = st.lists(
    st.one_of(
        st.tuples(st.just("commit"), minutes, st.lists(st.tuples(st.sampled_from("pqrstu"), minutes), max_size=4)),
        st.tuples(st.just("set"), minutes, st.just([])),
        st.tuples(st.just("reset"), st.just(0), st.just([])),
        st.tuples(st.just("prune"), minutes, st.just([])),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(checkpoint_ops)
# One id committed at two times, then the earlier time pruned, or rewound past the later one: a
# full-suite run found the first (the model kept only an id's first time) after migration 6.
@example([("commit", 20, [("p", 10)]), ("commit", 60, [("p", 50)]), ("prune", 30, [])])
@example([("commit", 20, [("p", 10)]), ("commit", 60, [("p", 50)]), ("set", 30, []), ("prune", 15, [])])
def test_checkpoint_and_seen_ids_follow_the_model(ops: list[tuple[str, int, list[tuple[str, int]]]]) -> None:
    async def run() -> None:
        checkpoint: datetime | None = None
        # Pairs (id, event time), as docs/state.md keys them (migration 6): an id committed with two
        # different times is two pairs, either of which makes it seen until that pair is forgotten.
        seen: set[tuple[str, datetime]] = set()
        async with await StateStore.open("sqlite://") as store:
            for op, at, ids in ops:
                when = T0 + timedelta(minutes=at)
                if op == "commit":
                    await store.commit_window(
                        "acme", "s", when, owner=None, seen=[(i, T0 + timedelta(minutes=m)) for i, m in ids]
                    )
                    checkpoint = when if checkpoint is None else max(checkpoint, when)
                    seen |= {(i, T0 + timedelta(minutes=m)) for i, m in ids}
                elif op == "set":
                    await store.set_checkpoint("acme", "s", when)
                    checkpoint = when
                    seen = {(i, t) for i, t in seen if t < when}
                elif op == "reset":
                    await store.reset_checkpoint("acme", "s")
                    checkpoint, seen = None, set()
                else:
                    await store.prune_seen(when)
                    seen = {(i, t) for i, t in seen if t >= when}
                assert await store.get_checkpoint("acme", "s") == checkpoint
                assert await store.seen_ids("acme", "s", list("pqrstu")) == {i for i, _ in seen}

    asyncio.run(run())


@dataclass
class LeaseModel:
    """Who holds the one key, until when, in which term."""

    owner: str | None = None
    expires: datetime = T0
    epoch: int = 0

    def held_by(self, who: str, now: datetime) -> bool:
        return self.owner == who and now < self.expires


lease_ops = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.sampled_from(OWNERS), st.integers(1, 60)),
        st.tuples(st.just("renew"), st.sampled_from(OWNERS), st.integers(1, 60)),
        st.tuples(st.just("release"), st.sampled_from(OWNERS), st.just(0)),
        st.tuples(st.just("commit"), st.sampled_from(OWNERS), st.just(0)),
        st.tuples(st.just("wait"), st.just(""), st.integers(1, 90)),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(lease_ops)
def test_leases_follow_the_model(ops: list[tuple[str, str, int]]) -> None:
    async def run() -> None:
        now = T0
        model = LeaseModel()
        async with await StateStore.open("sqlite://", clock=lambda: now) as store:
            for op, who, seconds in ops:
                ttl = timedelta(seconds=seconds)
                if op == "wait":
                    now += ttl
                elif op == "acquire":
                    got = await store.acquire_lease("acme", "s", who, ttl)
                    if model.owner is None or now >= model.expires or model.owner == who:
                        if not model.held_by(who, now):
                            model.epoch += 1
                        model.owner, model.expires = who, now + ttl
                        assert got is not None
                        assert got.epoch == model.epoch
                    else:
                        assert got is None
                elif op == "renew":
                    kept = await store.renew(who, [("acme", "s")], ttl)
                    if model.owner == who:  # expired or not: nobody took it, the term goes on
                        model.expires = now + ttl
                        assert kept == {("acme", "s")}
                    else:
                        assert kept == set()
                elif op == "release":
                    await store.release(who, [("acme", "s")])
                    if model.owner == who:
                        model.owner, model.expires = None, now
                else:
                    try:
                        await store.commit_window("acme", "s", now, owner=who)
                        committed = True
                    except LeaseLost:
                        committed = False
                    assert committed == (model.owner == who)  # fenced by owner and epoch, not the clock

    asyncio.run(run())
