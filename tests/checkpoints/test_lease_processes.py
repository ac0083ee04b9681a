"""Leases across real processes: exclusivity under races, and takeover after a SIGKILLed holder."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from mimecast_siem.checkpoints import StateStore

from .processes import read_line, run_together, workers
from .store_worker import T0, TENANT


async def test_several_processes_racing_for_free_keys_never_share_one(state_url: str, tmp_path: Path) -> None:
    await (await StateStore.open(state_url)).close()  # migrate once so the race is about leases only
    outputs = run_together("race", state_url, 4, tmp_path / "go", "--keys", "12")
    winners = Counter(key for out in outputs for key in out.split())
    assert winners == Counter({f"stream-{i}": 1 for i in range(12)})


async def test_lease_exclusivity_keeps_a_shared_counter_exact(state_url: str, tmp_path: Path) -> None:
    # Each process repeatedly: take the lease, read the checkpoint, commit it one second later,
    # release. Two holders at once would read the same value and lose an increment.
    await (await StateStore.open(state_url)).close()
    outputs = run_together("counter", state_url, 4, tmp_path / "go", "--rounds", "40")
    increments = sum(int(out) for out in outputs)
    assert increments > 0
    store = await StateStore.open(state_url)
    try:
        assert await store.get_checkpoint(TENANT, "counter") == T0 + timedelta(seconds=increments)
    finally:
        await store.close()


async def test_racing_runners_claim_each_backfill_job_once(state_url: str, tmp_path: Path) -> None:
    store = await StateStore.open(state_url)
    try:
        since = T0
        jobs = [
            await store.create_backfill_job(
                TENANT, ["ttp-url"], since, since + timedelta(hours=i + 1), timedelta(hours=1)
            )
            for i in range(10)
        ]
    finally:
        await store.close()
    outputs = run_together("claim", state_url, 4, tmp_path / "go")
    claims = Counter(int(job_id) for out in outputs for job_id in out.split())
    assert claims == Counter({job.id: 1 for job in jobs})


async def test_processes_creating_the_same_backfill_at_once_share_one_job(state_url: str, tmp_path: Path) -> None:
    await (await StateStore.open(state_url)).close()
    outputs = run_together("create", state_url, 4, tmp_path / "go")
    assert len(set(outputs)) == 1
    store = await StateStore.open(state_url)
    try:
        (job,) = await store.list_backfill_jobs()
        assert job.id == int(outputs[0])
        assert job.windows_total == 2 * 96
        assert len(await store.backfill_windows(job.id)) == 2 * 96  # windows were written once
    finally:
        await store.close()


async def test_a_sigkilled_holders_streams_are_taken_over_after_the_ttl(state_url: str) -> None:
    ttl = 3.0
    keys = [(TENANT, f"stream-{i}") for i in range(3)]
    store = await StateStore.open(state_url)
    try:
        with workers("hold", state_url, 1, "--keys", "3", "--ttl", str(ttl)) as (holder,):
            line = read_line(holder, timeout=60)
            assert line.startswith("held "), line
            held_epochs = [int(e) for e in line.removeprefix("held ").split(",")]
            assert not await store.acquire(*keys[0], "successor", timedelta(seconds=ttl))
            holder.send_signal(signal.SIGKILL)
            assert holder.wait(timeout=30) == -signal.SIGKILL

            # The dead holder never releases; its keys become free when its last renewal runs out.
            taken: dict[tuple[str, str], int] = {}
            deadline = time.monotonic() + ttl + 30
            while len(taken) < len(keys) and time.monotonic() < deadline:
                for key in keys:
                    if key not in taken and (
                        lease := await store.acquire_lease(*key, "successor", timedelta(seconds=30))
                    ):
                        taken[key] = lease.epoch
                await asyncio.sleep(0.2)
        assert sorted(taken) == sorted(keys)
        assert [taken[k] for k in keys] == [e + 1 for e in held_epochs]
        assert {r.owner for r in await store.list_leases()} == {"successor"}
    finally:
        await store.close()
