"""The SIEM poller against the simulator: batch files and the event stream, their cursors and failures.

Real simulator and real client; the state store and the router are small in-memory doubles (the
daemon-level guarantees are proven end to end in tests/e2e/test_siem_daemon.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mimecast_siem.collector.pipeline import StreamContext
from mimecast_siem.collector.siem import SiemCursor, SiemPoller, siem_spec
from mimecast_siem.config.models import RateLimitSettings, StreamSettings, TenantSettings
from mimecast_siem.events import Event
from mimecast_siem.mimecast import MimecastClient, RetryPolicy, reset_limiters
from mimecast_siem.observability.metrics import Metrics, reset_metrics
from mimecast_siem.simulator import RunningSimulator, SimulatorConfig, run_simulator

FROZEN = datetime(2026, 11, 25, 12, 7, 30, tzinfo=UTC)
START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@dataclass
class MemoryStore:
    checkpoints: dict[tuple[str, str], datetime] = field(default_factory=dict)
    snapshots: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
    seen: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    commits: int = 0

    async def get_checkpoint(self, tenant: str, stream: str) -> datetime | None:
        return self.checkpoints.get((tenant, stream))

    async def commit_window(self, tenant: str, stream: str, end: datetime, *, owner: str | None,
                            epoch: int | None = None, seen: Any = (), snapshot: Any = None) -> datetime:  # fmt: skip
        key = (tenant, stream)
        self.checkpoints[key] = max(end, self.checkpoints.get(key, end))
        if snapshot is not None:
            self.snapshots[key] = snapshot
        self.seen.setdefault(key, set()).update(i for i, _ in seen)
        self.commits += 1
        return self.checkpoints[key]

    async def seen_ids(self, tenant: str, stream: str, ids: Any, *, between: Any = None) -> set[str]:
        return set(ids) & self.seen.get((tenant, stream), set())

    async def load_snapshot(self, tenant: str, stream: str) -> dict[str, dict[str, Any]]:
        return self.snapshots.get((tenant, stream), {})


@dataclass
class Collector:
    events: list[Event] = field(default_factory=list)
    unreadable: list[tuple[Event, str]] = field(default_factory=list)

    async def deliver(self, tenant: str, stream: str, events: Sequence[Event]) -> Any:
        self.events.extend(events)
        return None

    async def record(self, event: Event, reason: str) -> None:
        self.unreadable.append((event, reason))


@pytest.fixture(autouse=True)
def fresh() -> Metrics:
    reset_limiters()
    return reset_metrics()


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(SimulatorConfig(frozen_at=FROZEN, history=3 * 3600, siem_rate=1.0, rates={})) as s:
        yield s


@pytest.fixture
async def client(sim: RunningSimulator) -> AsyncIterator[MimecastClient]:
    tenant = TenantSettings(name="acme", base_url=sim.url, client_id=sim.client_id, client_secret=sim.client_secret,
                            rate_limit=RateLimitSettings(max_concurrency=4))  # fmt: skip
    async with MimecastClient(tenant, retry=RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.02)) as c:
        yield c


@contextlib.asynccontextmanager
async def simulated(config: SimulatorConfig) -> AsyncIterator[tuple[RunningSimulator, MimecastClient]]:
    """A simulator of its own (``config``: a frozen clock elsewhere than the shared one) and a client of it."""
    async with run_simulator(config) as sim:
        tenant = TenantSettings(name="acme", base_url=sim.url, client_id=sim.client_id,
                                client_secret=sim.client_secret, rate_limit=RateLimitSettings(max_concurrency=4))  # fmt: skip
        async with MimecastClient(tenant, retry=RetryPolicy(max_attempts=3, backoff_initial=0.01)) as c:
            yield sim, c


def poller(sim: RunningSimulator, client: MimecastClient, store: MemoryStore, out: Collector, stream: str,
           mode: str, **settings: Any) -> SiemPoller:  # fmt: skip
    values: dict[str, Any] = {"start_from": START, "concurrency": 2, "page_size": 100, **settings}
    ctx = StreamContext(tenant="acme", spec=siem_spec(stream), settings=StreamSettings(**values), client=client,
                        router=out)  # fmt: skip
    return SiemPoller(ctx, store, owner="me", epoch=None, mode=mode,  # type: ignore[arg-type]
                      unreadable=out.record, clock=sim.world.clock.now)  # fmt: skip


def ids(events: Sequence[Event]) -> list[tuple[int, int]]:
    return sorted((e.raw["timestamp"], e.raw["_offset"]) for e in events)


def truth_ids(records: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return sorted((r["timestamp"], r["_offset"]) for r in records)


async def test_batch_delivers_every_file_once_and_follows_new_files(sim: RunningSimulator, client: MimecastClient,
                                                                    fresh: Metrics) -> None:  # fmt: skip
    store, out = MemoryStore(), Collector()
    p = poller(sim, client, store, out, "siem-receipt", "batch")
    assert await p.poll() is True
    truth = sim.ground_truth("siem-receipt", datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 25, 12, tzinfo=UTC))
    assert ids(out.events) == truth_ids(truth)
    cursor = SiemCursor.load(store.snapshots[("acme", "siem-receipt")], "batch")
    assert cursor.day == "2026-11-25"
    assert cursor.next_page
    assert store.checkpoints[("acme", "siem-receipt")] == max(e.timestamp for e in out.events)
    assert await p.poll() is True
    assert len(out.events) == len(truth)  # nothing new, nothing twice
    sim.world.clock.advance(15 * 60)
    await p.poll()
    later = sim.ground_truth(
        "siem-receipt", datetime(2026, 11, 25, 12, tzinfo=UTC), datetime(2026, 11, 25, 12, 15, tzinfo=UTC)
    )
    assert ids(out.events) == truth_ids(truth + later)
    listed = fresh.siem_files.labels(tenant="acme", stream="siem-receipt", outcome="downloaded")._value.get()
    assert listed == 13


async def test_batch_delivers_the_new_day_at_once_and_the_old_days_late_files_until_it_settles() -> None:
    """Across midnight: the new day's files are delivered as they appear (not an hour later, when the
    old day's list is final), the old day's last file - appearing after midnight - too, and the old
    day leaves the cursor once it is over by DAY_SETTLE. A restart in between resumes both listings."""
    before_midnight = datetime(2026, 11, 25, 23, 40, tzinfo=UTC)
    config = SimulatorConfig(frozen_at=before_midnight, history=2 * 3600, siem_rate=1.0, rates={})
    async with simulated(config) as (sim, c):
        store, out = MemoryStore(), Collector()
        start = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)
        p = poller(sim, c, store, out, "siem-receipt", "batch", start_from=start)
        assert await p.poll() is True
        sim.world.clock.advance(50 * 60)  # 00:30: the 23:45 file (appeared 00:01) and the 00:00 one exist
        assert await p.poll() is True
        truth = sim.ground_truth("siem-receipt", datetime(2026, 11, 25, tzinfo=UTC),
                                 datetime(2026, 11, 26, 0, 15, tzinfo=UTC))  # fmt: skip
        assert ids(out.events) == truth_ids(truth)
        cursor = SiemCursor.load(store.snapshots[("acme", "siem-receipt")], "batch")
        assert (cursor.previous, cursor.day) == ("2026-11-25", "2026-11-26")
        assert store.checkpoints[("acme", "siem-receipt")] >= datetime(2026, 11, 26, 0, 14, tzinfo=UTC)
        # A restart (a new poller on the stored cursor) 40 minutes later: both days resume.
        sim.world.clock.advance(40 * 60)  # 01:10: the old day has settled
        p = poller(sim, c, store, out, "siem-receipt", "batch", start_from=start)
        assert await p.poll() is True
        cursor = SiemCursor.load(store.snapshots[("acme", "siem-receipt")], "batch")
        assert (cursor.previous, cursor.previous_page, cursor.day) == (None, None, "2026-11-26")
        truth = sim.ground_truth("siem-receipt", datetime(2026, 11, 25, tzinfo=UTC),
                                 datetime(2026, 11, 26, 1, 0, tzinfo=UTC))  # fmt: skip
        assert ids(out.events) == truth_ids(truth)  # every event once


async def test_batch_relists_expired_urls_and_dead_letters_corrupt_lines(sim: RunningSimulator, client: MimecastClient,
                                                                         fresh: Metrics) -> None:  # fmt: skip
    sim.set_faults(siem_expired_urls=2, siem_corrupt_files=1, siem_duplicate_lines=1)
    store, out = MemoryStore(), Collector()
    await poller(sim, client, store, out, "siem-process", "batch").poll()
    truth = sim.ground_truth("siem-process", datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 25, 12, tzinfo=UTC))
    assert ids(out.events) == truth_ids(truth)  # every record once: the duplicate line collapsed
    assert len(out.unreadable) == 1
    event, reason = out.unreadable[0]
    assert "line 2 of SIEM file email_process_" in reason
    assert "signature" not in reason
    assert event.raw["line"] == 2
    assert fresh.siem_files.labels(tenant="acme", stream="siem-process", outcome="expired")._value.get() == 2
    assert fresh.siem_corrupt_lines.labels(tenant="acme", stream="siem-process")._value.get() == 1


async def test_batch_gives_up_loudly_when_urls_keep_expiring(sim: RunningSimulator, client: MimecastClient,
                                                             fresh: Metrics) -> None:  # fmt: skip
    sim.set_faults(siem_expired_urls=1000)
    store, out = MemoryStore(), Collector()
    with pytest.raises(Exception, match="expired or removed"):
        await poller(sim, client, store, out, "siem-receipt", "batch").poll()
    assert ("acme", "siem-receipt") not in store.checkpoints or not out.events
    assert fresh.siem_files.labels(tenant="acme", stream="siem-receipt", outcome="failed")._value.get() == 1


async def test_stream_walks_from_start_then_follows_the_cursor(sim: RunningSimulator, client: MimecastClient) -> None:
    store, out = MemoryStore(), Collector()
    p = poller(sim, client, store, out, "siem-delivery", "stream")
    assert await p.poll() is True
    truth = sim.ground_truth("siem-delivery", START, FROZEN)
    assert ids(out.events) == truth_ids(truth)
    sim.world.clock.advance(300)
    await p.poll()
    more = sim.ground_truth("siem-delivery", FROZEN - timedelta(seconds=1), FROZEN + timedelta(seconds=300))
    assert len(ids(out.events)) == len(set(ids(out.events)))
    assert set(truth_ids(more)) <= set(ids(out.events))


async def test_stream_reports_a_checkpoint_older_than_24h(sim: RunningSimulator, client: MimecastClient,
                                                           fresh: Metrics, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    store, out = MemoryStore(), Collector()
    store.checkpoints[("acme", "siem-receipt")] = FROZEN - timedelta(hours=30)
    await poller(sim, client, store, out, "siem-receipt", "stream").poll()
    note = SiemCursor.load(store.snapshots[("acme", "siem-receipt")], "stream").note
    assert note is not None
    assert "older than the 24 h" in note
    assert fresh.siem_gap_seconds.labels(tenant="acme", stream="siem-receipt")._value.get() == pytest.approx(
        (6 * 3600 + 300), abs=1
    )
    assert any("older than the 24 h" in r.getMessage() for r in caplog.records)
    assert out.events  # resumed from the oldest available point


async def test_stream_recovers_from_a_rejected_and_a_stalled_cursor(sim: RunningSimulator, client: MimecastClient,
                                                                    fresh: Metrics) -> None:  # fmt: skip
    store, out = MemoryStore(), Collector()
    p = poller(sim, client, store, out, "siem-receipt", "stream")
    await p.poll()
    key = ("acme", "siem-receipt")
    store.snapshots[key] = SiemCursor(mode="stream", next_page="bm90IGEgY3Vyc29y").snapshot()
    sim.world.clock.advance(120)
    await p.poll()
    assert fresh.siem_cursor_resets.labels(tenant="acme", stream="siem-receipt", reason="rejected")._value.get() == 1
    sim.set_faults(siem_stall_cursor=True)
    for _ in range(6):
        sim.world.clock.advance(60)
        await p.poll()
    sim.clear_faults()
    assert fresh.siem_cursor_resets.labels(tenant="acme", stream="siem-receipt", reason="stalled")._value.get() >= 1
    await p.poll()
    truth = sim.ground_truth("siem-receipt", START, sim.world.clock.time() - 1)
    assert set(truth_ids(truth)) <= set(ids(out.events))
    assert len(ids(out.events)) == len(set(ids(out.events)))


async def test_backfill_range_delivers_each_event_of_the_range_once(
    sim: RunningSimulator, client: MimecastClient
) -> None:
    from mimecast_siem.collector.siem import deliver_siem_range

    out = Collector()
    ctx = poller(sim, client, MemoryStore(), out, "siem-receipt", "batch").ctx
    first, middle, last = START, START + timedelta(minutes=37), START + timedelta(hours=1, minutes=30)
    for lo, hi in ((first, middle), (middle, last)):
        await deliver_siem_range(ctx, lo, hi, api="cg", unreadable=out.record, clock=sim.world.clock.now)
    assert ids(out.events) == truth_ids(sim.ground_truth("siem-receipt", first, last))


async def test_batch_keeps_the_oldest_day_the_api_still_lists_across_the_year_end() -> None:
    """At 2027-01-07 00:30 the API still lists 2026-12-31 (7 days back) and serves its files: a cursor left a
    day before it (the daemon was down for eight days) reports 2026-12-30 as past the retention and delivers
    2026-12-31 on, not only the days after it."""
    now = datetime(2027, 1, 7, 0, 30, tzinfo=UTC)
    config = SimulatorConfig(frozen_at=now, history=9 * 86400, siem_rate=0.005, siem_file_interval=3600, rates={})
    async with simulated(config) as (sim, c):
        store, out = MemoryStore(), Collector()
        store.checkpoints[("acme", "siem-receipt")] = datetime(2026, 12, 30, 6, tzinfo=UTC)
        p = poller(sim, c, store, out, "siem-receipt", "batch", concurrency=16)
        assert await p.poll() is True
        truth = sim.ground_truth("siem-receipt", datetime(2026, 12, 31, tzinfo=UTC), datetime(2027, 1, 7, tzinfo=UTC))
        assert truth
        assert min(r["timestamp"] for r in truth) < 1798761600000 - 12 * 3600 * 1000  # 2026-12-31 has files
        assert ids(out.events) == truth_ids(truth)  # 2026-12-31 too, each event once
        note = SiemCursor.load(store.snapshots[("acme", "siem-receipt")], "batch").note
        assert note is not None
        assert "files of 2026-12-30 to 2026-12-30 are past the 7-day retention; resumed at 2026-12-31" in note


async def test_batch_moves_on_when_the_api_refuses_the_day_at_the_retention_edge(fresh: Metrics) -> None:
    """An API that counts its 7 days from now (not by calendar day) refuses 2026-12-31 at 2027-01-07 00:30:
    the poll reports that day as past the retention and delivers 2027-01-01 on, instead of failing (and
    retrying) every poll for the rest of the day."""
    now = datetime(2027, 1, 7, 0, 30, tzinfo=UTC)
    config = SimulatorConfig(frozen_at=now, history=9 * 86400, siem_rate=0.005, siem_file_interval=3600, rates={},
                             siem_retention="rolling")  # fmt: skip
    async with simulated(config) as (sim, c):
        store, out = MemoryStore(), Collector()
        store.checkpoints[("acme", "siem-receipt")] = datetime(2026, 12, 31, 6, tzinfo=UTC)
        p = poller(sim, c, store, out, "siem-receipt", "batch", concurrency=16)
        assert await p.poll() is True
        truth = sim.ground_truth("siem-receipt", datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 7, tzinfo=UTC))
        assert truth
        assert ids(out.events) == truth_ids(truth)  # every event of the days still served, once
        cursor = SiemCursor.load(store.snapshots[("acme", "siem-receipt")], "batch")
        assert cursor.note is not None
        assert "files of 2026-12-31 to 2026-12-31 are past the 7-day retention (the API refused" in cursor.note
        assert "resumed at 2027-01-01" in cursor.note
        gap = fresh.siem_gap_seconds.labels(tenant="acme", stream="siem-receipt")._value.get()
        assert gap == 86400
        assert await p.poll() is True  # and it stays moved on
        assert len(out.events) == len(truth)


async def test_backfill_ranges_across_the_year_end_deliver_each_event_once() -> None:
    """Consecutive backfill ranges whose ends are midnight of the new year and an event's own millisecond:
    each range lists the days it touches (2026-12-31 and 2027-01-01), keeps [start, end), and together they
    deliver every event once - the one stamped exactly at a range end in the next range."""
    from mimecast_siem.collector.siem import deliver_siem_range

    now = datetime(2027, 1, 1, 6, tzinfo=UTC)
    config = SimulatorConfig(frozen_at=now, history=12 * 3600, siem_rate=0.05, siem_file_interval=3600, rates={})
    async with simulated(config) as (sim, c):
        out = Collector()
        ctx = poller(sim, c, MemoryStore(), out, "siem-receipt", "batch", concurrency=8).ctx
        first, midnight, last = now - timedelta(hours=9), datetime(2027, 1, 1, tzinfo=UTC), now - timedelta(hours=2)
        truth = sim.ground_truth("siem-receipt", first, last)
        at = next(r["timestamp"] for r in truth if r["timestamp"] >= 1798759800000)  # first event after 23:30
        split = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=at)
        for lo, hi in ((first, split), (split, midnight), (midnight, last)):
            await deliver_siem_range(ctx, lo, hi, api="cg", unreadable=out.record, clock=sim.world.clock.now)
    assert any(r["timestamp"] >= 1798761600000 for r in truth)  # 2027 events too
    assert ids(out.events) == truth_ids(truth)
