"""Backfill jobs: idempotent creation, windows, progress, resume, claims, cancel, fail, requeue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mimecast_siem.checkpoints import (
    BackfillJobBusy,
    BackfillJobNotFound,
    BackfillStatus,
    BackfillWindowNotFound,
    InvalidBackfillTransition,
    StateStore,
    WindowStatus,
)

from .conftest import ManualClock

SINCE = datetime(2026, 10, 1, tzinfo=UTC)
UNTIL = SINCE + timedelta(hours=5, minutes=30)
HOUR = timedelta(hours=1)
TTL = timedelta(seconds=30)
STREAMS = ["ttp-url", "ttp-attachment"]


async def test_create_materialises_every_window_of_every_stream(store: StateStore) -> None:
    job = await store.create_backfill_job("acme", STREAMS, SINCE, UNTIL, HOUR, ["file"])
    assert job.status is BackfillStatus.QUEUED
    assert job.streams == ("ttp-attachment", "ttp-url")
    assert job.sinks == ("file",)
    assert (job.since, job.until, job.window) == (SINCE, UNTIL, HOUR)
    assert (job.windows_total, job.windows_done, job.events) == (12, 0, 0)
    windows = await store.backfill_windows(job.id)
    assert [(w.stream, w.start, w.end) for w in windows if w.stream == "ttp-url"] == [
        (
            "ttp-url",
            SINCE + i * HOUR,
            min(SINCE + (i + 1) * HOUR, UNTIL),
        )
        for i in range(6)
    ]
    assert {w.status for w in windows} == {WindowStatus.PENDING}
    assert len(windows) == 12


async def test_the_same_command_gets_the_same_job(store: StateStore) -> None:
    first = await store.create_backfill_job("acme", STREAMS, SINCE, UNTIL, HOUR, ["hec", "file"])
    again = await store.create_backfill_job(
        "acme", list(reversed(STREAMS)), SINCE, UNTIL, timedelta(hours=2), ["file", "hec"]
    )
    other = await store.create_backfill_job("acme", STREAMS, SINCE, UNTIL, HOUR, ["file"])
    assert again.id == first.id
    assert again.window == HOUR  # the original job's windows are kept
    assert other.id != first.id
    assert len(await store.backfill_windows(first.id)) == 12
    assert [j.id for j in await store.list_backfill_jobs()] == [other.id, first.id]


async def test_resume_after_a_crash_continues_with_the_pending_windows(state_url: str) -> None:
    store = await StateStore.open(state_url)
    job = await store.create_backfill_job("acme", STREAMS, SINCE, UNTIL, HOUR)
    pending = await store.backfill_windows(job.id, status=WindowStatus.PENDING)
    for window in pending[:5]:
        await store.mark_window_done(job.id, window.stream, window.start, 10)
    await store.close()  # the process dies; the next run re-issues the same command

    store = await StateStore.open(state_url)
    try:
        resumed = await store.create_backfill_job("acme", STREAMS, SINCE, UNTIL, HOUR)
        assert resumed.id == job.id
        assert (resumed.windows_done, resumed.events) == (5, 50)
        left = await store.backfill_windows(job.id, status=WindowStatus.PENDING)
        assert [(w.stream, w.start) for w in left] == [(w.stream, w.start) for w in pending[5:]]
        done = await store.backfill_windows(job.id, status=WindowStatus.DONE)
        assert [w.events for w in done] == [10] * 5
    finally:
        await store.close()


async def test_marking_is_idempotent_and_the_last_window_finishes_the_job(store: StateStore) -> None:
    job = await store.create_backfill_job("acme", ["ttp-url"], SINCE, SINCE + 2 * HOUR, HOUR)
    first = await store.mark_window_done(job.id, "ttp-url", SINCE, 7)
    repeated = await store.mark_window_done(job.id, "ttp-url", SINCE, 99)
    assert (first.windows_done, first.events) == (1, 7)
    assert (repeated.windows_done, repeated.events) == (1, 7)
    assert first.status is BackfillStatus.QUEUED
    last = await store.mark_window_done(job.id, "ttp-url", SINCE + HOUR, 3)
    assert last.status is BackfillStatus.DONE
    assert (last.windows_done, last.windows_total, last.events) == (2, 2, 10)
    done_again = await store.create_backfill_job("acme", ["ttp-url"], SINCE, SINCE + 2 * HOUR, HOUR)
    assert done_again.status is BackfillStatus.DONE  # a finished job is not revived


async def test_marking_an_unknown_window_or_job_is_a_clear_error(store: StateStore) -> None:
    job = await store.create_backfill_job("acme", ["ttp-url"], SINCE, UNTIL, HOUR)
    with pytest.raises(BackfillWindowNotFound, match=f"job {job.id} has no ttp-url window starting at"):
        await store.mark_window_done(job.id, "ttp-url", SINCE + timedelta(minutes=1), 1)
    with pytest.raises(BackfillWindowNotFound):
        await store.mark_window_done(job.id, "ttp-attachment", SINCE, 1)
    with pytest.raises(BackfillJobNotFound, match="No backfill job has id 999"):
        await store.mark_window_done(999, "ttp-url", SINCE, 1)
    with pytest.raises(BackfillJobNotFound):
        await store.get_backfill_job(999)
    with pytest.raises(ValueError, match="events must be >= 0"):
        await store.mark_window_done(job.id, "ttp-url", SINCE, -1)


async def test_windows_page_through_without_loading_them_all(store: StateStore) -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    job = await store.create_backfill_job(
        "acme", ["ttp-url", "ttp-attachment"], since, since + timedelta(days=30), timedelta(minutes=15)
    )
    assert job.windows_total == 2 * 30 * 96
    seen = 0
    previous: tuple[str, datetime] | None = None
    async for window in store.iter_backfill_windows(job.id, page_size=700):
        key = (window.stream, window.start)
        assert previous is None or key > previous  # ordered, no repeats across page edges
        previous = key
        seen += 1
    assert seen == job.windows_total
    page = await store.backfill_windows(job.id, stream="ttp-url", limit=3, after=("ttp-url", since))
    assert [w.start for w in page] == [since + timedelta(minutes=15 * i) for i in (1, 2, 3)]


async def test_creation_refuses_bad_ranges(store: StateStore) -> None:
    with pytest.raises(ValueError, match=r"until .* must be after since"):
        await store.create_backfill_job("acme", STREAMS, UNTIL, SINCE, HOUR)
    with pytest.raises(ValueError, match="streams must be a non-empty list"):
        await store.create_backfill_job("acme", [], SINCE, UNTIL, HOUR)
    with pytest.raises(ValueError, match="window must be a positive duration"):
        await store.create_backfill_job("acme", STREAMS, SINCE, UNTIL, timedelta(0))
    with pytest.raises(ValueError, match="whole number of seconds"):
        await store.create_backfill_job("acme", STREAMS, SINCE, UNTIL, timedelta(milliseconds=1500))
    with pytest.raises(ValueError, match="over 1000000\\); use a larger window"):
        await store.create_backfill_job("acme", STREAMS, SINCE, SINCE + timedelta(days=365), timedelta(seconds=30))
    with pytest.raises(ValueError, match="since must be a timezone-aware"):
        await store.create_backfill_job("acme", STREAMS, datetime(2026, 1, 1), UNTIL, HOUR)
    assert await store.list_backfill_jobs() == []


async def test_next_queued_job_peeks_without_owner_and_claims_with_one(clocked: StateStore) -> None:
    assert await clocked.next_queued_backfill_job() is None
    older = await clocked.create_backfill_job("acme", ["ttp-url"], SINCE, UNTIL, HOUR)
    newer = await clocked.create_backfill_job("acme", ["ttp-attachment"], SINCE, UNTIL, HOUR)
    peeked = await clocked.next_queued_backfill_job()
    assert peeked is not None
    assert (peeked.id, peeked.status) == (older.id, BackfillStatus.QUEUED)

    claimed = await clocked.next_queued_backfill_job("replica-1", TTL)
    assert claimed is not None
    assert (claimed.id, claimed.status, claimed.owner) == (older.id, BackfillStatus.RUNNING, "replica-1")
    lease = await clocked.get_lease(*claimed.lease_key)
    assert lease is not None
    assert lease.owner == "replica-1"

    second = await clocked.next_queued_backfill_job("replica-2", TTL)
    assert second is not None
    assert second.id == newer.id
    assert await clocked.next_queued_backfill_job("replica-3", TTL) is None
    assert await clocked.next_queued_backfill_job("replica-1", TTL) is None  # never hands back its own job
    with pytest.raises(ValueError, match="ttl is required"):
        await clocked.next_queued_backfill_job("replica-3")


async def test_a_dead_runners_job_is_taken_over_after_its_lease_expires(
    clocked: StateStore, clock: ManualClock
) -> None:
    job = await clocked.create_backfill_job("acme", ["ttp-url"], SINCE, UNTIL, HOUR)
    assert await clocked.next_queued_backfill_job("replica-1", TTL) is not None
    await clocked.mark_window_done(job.id, "ttp-url", SINCE, 4)
    assert await clocked.next_queued_backfill_job("replica-2", TTL) is None  # replica-1 is alive

    assert await clocked.renew("replica-1", [job.lease_key], TTL) == {job.lease_key}
    clock.now += TTL  # replica-1 stops renewing (it died)

    taken = await clocked.next_queued_backfill_job("replica-2", TTL)
    assert taken is not None
    assert (taken.id, taken.owner, taken.windows_done) == (job.id, "replica-2", 1)
    assert await clocked.renew("replica-1", [job.lease_key], TTL) == set()


async def test_start_claims_a_specific_job_unless_a_live_runner_has_it(clocked: StateStore) -> None:
    job = await clocked.create_backfill_job("acme", ["ttp-url"], SINCE, UNTIL, HOUR)
    started = await clocked.start_backfill_job(job.id, "cli-1", TTL)
    assert (started.status, started.owner) == (BackfillStatus.RUNNING, "cli-1")
    again = await clocked.start_backfill_job(job.id, "cli-1", TTL)  # the same runner may resume
    assert again.owner == "cli-1"
    with pytest.raises(BackfillJobBusy, match=f"job {job.id} is being run by cli-1"):
        await clocked.start_backfill_job(job.id, "daemon", TTL)


async def test_release_puts_a_job_back_in_the_queue(clocked: StateStore) -> None:
    job = await clocked.create_backfill_job("acme", ["ttp-url"], SINCE, UNTIL, HOUR)
    await clocked.start_backfill_job(job.id, "cli-1", TTL)
    untouched = await clocked.release_backfill_job(job.id, "someone-else")
    assert untouched.status is BackfillStatus.RUNNING
    released = await clocked.release_backfill_job(job.id, "cli-1")
    assert (released.status, released.owner) == (BackfillStatus.QUEUED, None)
    assert await clocked.get_lease(*job.lease_key) is None
    claimed = await clocked.next_queued_backfill_job("daemon", TTL)
    assert claimed is not None
    assert claimed.id == job.id


async def test_cancel_stops_the_runner_at_its_next_window(clocked: StateStore) -> None:
    job = await clocked.create_backfill_job("acme", ["ttp-url"], SINCE, UNTIL, HOUR)
    await clocked.start_backfill_job(job.id, "cli-1", TTL)
    cancelled = await clocked.cancel_backfill_job(job.id)
    assert cancelled.status is BackfillStatus.CANCELLED
    # the window in flight is still recorded; the returned status tells the runner to stop
    after = await clocked.mark_window_done(job.id, "ttp-url", SINCE, 2)
    assert (after.status, after.windows_done) == (BackfillStatus.CANCELLED, 1)
    assert await clocked.renew("cli-1", [job.lease_key], TTL) == set()
    assert await clocked.next_queued_backfill_job("daemon", TTL) is None
    with pytest.raises(InvalidBackfillTransition, match="is cancelled; it cannot become cancelled"):
        await clocked.cancel_backfill_job(job.id)
    with pytest.raises(InvalidBackfillTransition, match="it cannot be run"):
        await clocked.start_backfill_job(job.id, "cli-1", TTL)
    with pytest.raises(BackfillJobNotFound):
        await clocked.cancel_backfill_job(12345)


async def test_rerunning_a_cancelled_or_failed_command_requeues_it_keeping_done_windows(clocked: StateStore) -> None:
    job = await clocked.create_backfill_job("acme", ["ttp-url"], SINCE, UNTIL, HOUR)
    await clocked.start_backfill_job(job.id, "cli-1", TTL)
    await clocked.mark_window_done(job.id, "ttp-url", SINCE, 5)
    failed = await clocked.fail_backfill_job(job.id, "sink hec rejected the batch permanently " + "x" * 1000)
    assert failed.status is BackfillStatus.FAILED
    assert failed.error is not None
    assert len(failed.error) == 500
    requeued = await clocked.create_backfill_job("acme", ["ttp-url"], SINCE, UNTIL, HOUR)
    assert (requeued.id, requeued.status, requeued.error, requeued.windows_done) == (
        job.id,
        BackfillStatus.QUEUED,
        None,
        1,
    )
    await clocked.cancel_backfill_job(job.id)
    again = await clocked.create_backfill_job("acme", ["ttp-url"], SINCE, UNTIL, HOUR)
    assert again.status is BackfillStatus.QUEUED


async def test_a_done_job_cannot_be_cancelled(store: StateStore) -> None:
    job = await store.create_backfill_job("acme", ["ttp-url"], SINCE, SINCE + HOUR, HOUR)
    await store.mark_window_done(job.id, "ttp-url", SINCE, 0)
    with pytest.raises(InvalidBackfillTransition, match="is done"):
        await store.cancel_backfill_job(job.id)


async def test_list_filters_by_status_and_tenant(store: StateStore) -> None:
    a = await store.create_backfill_job("acme", ["ttp-url"], SINCE, UNTIL, HOUR)
    b = await store.create_backfill_job("globex", ["ttp-url"], SINCE, UNTIL, HOUR)
    await store.cancel_backfill_job(b.id)
    assert [j.id for j in await store.list_backfill_jobs(status=BackfillStatus.QUEUED)] == [a.id]
    assert [j.id for j in await store.list_backfill_jobs(tenant="globex")] == [b.id]
    assert len(await store.list_backfill_jobs(limit=1)) == 1
