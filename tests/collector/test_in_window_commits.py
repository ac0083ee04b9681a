"""Bounded re-delivery: an oldest-first window commits its progress every ``redelivery_pages`` pages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.collector import CATALOGUE, LeaseTerm, StreamContext, StreamTask
from mimecast_siem.events import Event
from mimecast_siem.mimecast import MimecastClient, reset_limiters
from mimecast_siem.simulator import LateArrivals
from mimecast_siem.sinks import DeadLetters, Router, SendResult, SinkContext, SinkTransientError, build_sinks
from tests.collector.harness import running_supervisor
from tests.collector.helpers import daemon_settings, delivered_ids, expected_ids


def _settings(sim: Any, tmp_path: Path, start: datetime, **overrides: Any) -> Any:
    stream = {
        "start_from": start.isoformat(),
        "max_window": "1h",
        "page_size": 50,
        "concurrency": 2,
        "redelivery_pages": 2,
        **overrides,
    }
    return daemon_settings(
        sim.url, sim.client_id, sim.client_secret, tmp_path, streams=("ttp-url",), stream_overrides=stream
    )


async def test_a_stuck_window_keeps_the_progress_of_its_delivered_pages(simulator_factory: Any, tmp_path: Path) -> None:
    sim = await simulator_factory(rates={"ttp-url": 5.0}, late=LateArrivals(fraction=0.0))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=8)  # ~2,400 records: ~48 pages, 1 window
    async with running_supervisor(_settings(sim, tmp_path, start)) as h:
        sink = h.sink
        inner_send = sink.send
        sent = 0

        async def fail_after_ten(events: list[Event]) -> SendResult:
            nonlocal sent
            if sent >= 10:
                raise SinkTransientError("test receiver is down", endpoint="file")
            sent += 1
            return await inner_send(events)

        sink.send = fail_after_ten  # type: ignore[method-assign,assignment]
        head = datetime.now(UTC) - timedelta(seconds=2)

        async def moved_inside() -> bool:
            cp = await h.checkpoint("ttp-url")
            return cp is not None and cp > start

        await h.wait_for(moved_inside, 30, "a checkpoint inside the first window")
        await asyncio.sleep(1.0)  # the sink keeps failing: the window cannot complete
        stuck = await h.checkpoint("ttp-url")
        assert stuck is not None
        assert start < stuck < head - timedelta(minutes=5), stuck  # well inside the one (8-minute) window
        committed_records = len(sim.ground_truth("ttp-url", start, stuck))
        # Every page but those since the last in-window commit (at most redelivery_pages = 2) is committed.
        assert committed_records >= (10 - 2) * 50 - 50, committed_records
        commits = h.metrics.registry.get_sample_value(
            "mimecast_siem_in_window_commits_total", {"tenant": "acme", "stream": "ttp-url"}
        )
        assert (commits or 0) >= 3
        sink.send = inner_send  # type: ignore[method-assign]
        await h.wait_checkpoint("ttp-url", datetime.now(UTC) - timedelta(seconds=4), timeout=60)
        final = await h.checkpoint("ttp-url")
    assert final is not None
    truth = expected_ids("ttp-url", sim.ground_truth("ttp-url", start, final))
    delivered = delivered_ids(tmp_path / "out", "ttp-url")
    assert truth <= set(delivered)
    assert max(delivered.values()) == 1  # no crash here: nothing twice


async def test_whole_window_commits_when_turned_off(simulator_factory: Any, tmp_path: Path) -> None:
    """``redelivery_pages: null`` keeps the old contract: the checkpoint moves by whole windows only."""
    sim = await simulator_factory(rates={"ttp-url": 5.0}, late=LateArrivals(fraction=0.0))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    async with running_supervisor(_settings(sim, tmp_path, start, redelivery_pages=None, max_window="10m")) as h:
        await h.wait_checkpoint("ttp-url", datetime.now(UTC) - timedelta(seconds=4), timeout=60)
        commits = h.metrics.registry.get_sample_value(
            "mimecast_siem_in_window_commits_total", {"tenant": "acme", "stream": "ttp-url"}
        )
    assert not commits


class SeenWrites:
    """The real state store, counting the seen ids each commit writes (every call goes through)."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.written: list[str] = []
        self.commits = 0

    async def get_checkpoint(self, tenant: str, stream: str) -> datetime | None:
        return await self.inner.get_checkpoint(tenant, stream)

    async def commit_window(
        self,
        tenant: str,
        stream: str,
        end: datetime,
        *,
        owner: str | None,
        epoch: int | None = None,
        seen: Any = (),
        snapshot: Any = None,
    ) -> datetime:
        rows = list(seen)
        committed = await self.inner.commit_window(
            tenant, stream, end, owner=owner, epoch=epoch, seen=rows, snapshot=snapshot
        )
        self.commits += 1
        self.written += [event_id for event_id, _when in rows]
        return committed

    async def seen_ids(self, tenant: str, stream: str, ids: Any, *, between: Any = None) -> set[str]:
        return await self.inner.seen_ids(tenant, stream, ids)

    async def load_snapshot(self, tenant: str, stream: str) -> dict[str, dict[str, Any]]:
        return await self.inner.load_snapshot(tenant, stream)


async def test_in_window_commits_write_each_seen_id_once_and_a_restart_re_delivers_nothing(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """Each commit stores only the ids delivered since the previous one (the earlier ones are stored).

    Before, every in-window commit wrote the ids of a whole overlap again: with 2 pages per commit and
    an overlap of several minutes each id was written many times. The store must still hold every id a
    re-read of the overlap reaches: a restarted task re-reads it and delivers nothing twice.
    """
    sim = await simulator_factory(rates={"ttp-url": 5.0}, late=LateArrivals(fraction=0.0))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=8)  # ~2,400 records, 1 window
    settings = _settings(sim, tmp_path, start, overlap="5m", lag="2s")
    reset_limiters()
    inner_store = await StateStore.open(settings.state_url())
    store = SeenWrites(inner_store)
    router = Router(
        settings, build_sinks(settings, SinkContext(tmp_path, "me", "test")), DeadLetters(settings.dead_letter_path())
    )
    await router.start()
    try:
        async with MimecastClient(settings.tenants[0]) as client:
            lease = await inner_store.acquire_lease("acme", "ttp-url", "me", timedelta(minutes=5))
            assert lease is not None

            def new_task() -> StreamTask:
                stream = settings.stream_settings(settings.tenants[0], "ttp-url")
                ctx = StreamContext("acme", CATALOGUE["ttp-url"], stream, client, router)
                return StreamTask(ctx, store, LeaseTerm("me", lease.epoch), stopping=asyncio.Event())

            task = new_task()
            polls = 0
            while not await task.poll_once():
                polls += 1
                assert polls < 20, "the catch-up did not end"
            checkpoint = await inner_store.get_checkpoint("acme", "ttp-url")
            assert checkpoint is not None
            assert store.commits >= 10  # in-window commits every 2 pages of 50
            assert len(store.written) == len(set(store.written)), "a seen id was written twice"
            # The store holds every delivered id of the overlap before the checkpoint (what a re-read reaches).
            delivered = delivered_ids(tmp_path / "out", "ttp-url")
            reach = expected_ids("ttp-url", sim.ground_truth("ttp-url", checkpoint - timedelta(minutes=5), checkpoint))
            assert reach
            assert await inner_store.seen_ids("acme", "ttp-url", reach) == reach
            assert set(store.written) <= set(delivered)

            # A restarted task knows no coverage: it re-reads the whole 5-minute overlap.
            await asyncio.sleep(3)
            await new_task().poll_once()
            final = await inner_store.get_checkpoint("acme", "ttp-url")
    finally:
        await router.close()
        await inner_store.close()
    assert final is not None
    assert final > checkpoint
    truth = expected_ids("ttp-url", sim.ground_truth("ttp-url", start, final - timedelta(seconds=2)))
    delivered = delivered_ids(tmp_path / "out", "ttp-url")
    assert not truth - set(delivered), f"{len(truth - set(delivered))} of {len(truth)} events lost"
    assert not {i: n for i, n in delivered.items() if n > 1}, "events delivered twice"
