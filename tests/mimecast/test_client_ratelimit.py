"""429s against the simulator's quota: app-wide pauses, storms without losses, bounded waits for actions."""

from __future__ import annotations

import asyncio

import pytest

from mimecast_siem.errors import RateLimited
from mimecast_siem.mimecast import MimecastClient, Priority, limiter_for
from mimecast_siem.observability.metrics import Metrics
from mimecast_siem.simulator import RequestQuota, RunningSimulator
from tests.mimecast.conftest import CLIENT_ID, FAST_RETRY, tenant_for

SUMMARY = "/api/gateway/get-hold-summary-list"
QUEUES = "/api/email/get-email-queues"
QUEUE_ITEM = {"start": "2026-11-25T11:00:00+0000", "end": "2026-11-25T11:30:00+0000"}


def sample(m: Metrics, name: str, **labels: str) -> float:
    return m.registry.get_sample_value(name, labels) or 0.0


async def test_a_429_pauses_every_caller_of_the_app(sim: RunningSimulator) -> None:
    """Caller A is refused; caller B (another endpoint, same app) must not hit the server until the pause ends."""
    async with MimecastClient(tenant_for(sim.url), retry=FAST_RETRY) as client:
        await client.authenticate()
        sim.world.clock.unfreeze()  # the quota refills with simulated time
        sim.set_faults(quota=RequestQuota(limit=1, period=0.6))
        await client.request(SUMMARY, data=[])  # spends the only request
        caller_a = asyncio.create_task(client.request(SUMMARY, data=[]))
        async with asyncio.timeout(5):
            while client.limiter.paused_for() == 0:
                await asyncio.sleep(0.005)
        caller_b = asyncio.create_task(client.request(QUEUES, data=[QUEUE_ITEM]))
        while client.limiter.paused_for() > 0.05:
            await asyncio.sleep(0.01)
            assert sim.stats().count(path=QUEUES) == 0  # B is held back by A's 429
        async with asyncio.timeout(10):
            results = await asyncio.gather(caller_a, caller_b)
    assert [r.status for r in results] == [200, 200]
    assert sim.stats().count(path=QUEUES, status=200) == 1


async def test_a_429_storm_loses_nothing_and_crashes_no_caller(
    sim: RunningSimulator, fresh_shared_state: Metrics
) -> None:
    sim.world.clock.unfreeze()
    sim.set_faults(quota=RequestQuota(limit=4, period=0.4))
    async with MimecastClient(tenant_for(sim.url, max_concurrency=8), retry=FAST_RETRY) as client:

        async def caller(priority: Priority) -> int:
            done = 0
            for _ in range(4):
                response = await client.request(SUMMARY, data=[], priority=priority)
                assert response.status == 200
                done += 1
            return done

        priorities = [Priority.LIVE] * 4 + [Priority.BACKFILL] * 3 + [Priority.ACTION] * 3
        async with asyncio.timeout(60):
            done = await asyncio.gather(*(caller(p) for p in priorities))
    assert done == [4] * len(priorities)
    stats = sim.stats()
    assert stats.count(path=SUMMARY, status=200) == 4 * len(priorities)
    refused = stats.rate_limited[CLIENT_ID]
    assert refused > 0
    # Paced after the first 429 instead of stampeding after every pause (which earned ~7 refusals
    # per success with 8 slots): far fewer 429s than requests.
    assert refused < 4 * len(priorities) // 2, refused
    assert sample(fresh_shared_state, "mimecast_siem_api_rate_limited_total", tenant="acme") == refused
    assert sample(fresh_shared_state, "mimecast_siem_api_backoff_seconds_total", tenant="acme", reason="rate_limit") > 0


async def test_an_action_with_max_wait_gets_rate_limited_instead_of_waiting(sim: RunningSimulator) -> None:
    sim.set_faults(quota=RequestQuota(limit=1, period=120))  # the next request comes back in ~2 minutes
    async with MimecastClient(tenant_for(sim.url), retry=FAST_RETRY) as client:
        await client.request(SUMMARY, data=[])
        with pytest.raises(RateLimited) as info:
            async with asyncio.timeout(10):
                await client.request(SUMMARY, data=[], priority=Priority.ACTION, max_wait=0.5)
    assert info.value.retry_after > 60
    assert sim.stats().count(path=SUMMARY, status=429) == 1


async def test_the_limiter_is_shared_by_clients_of_the_same_app(sim: RunningSimulator) -> None:
    sim.set_faults(quota=RequestQuota(limit=1, period=120))
    async with (
        MimecastClient(tenant_for(sim.url), retry=FAST_RETRY) as first,
        MimecastClient(tenant_for(sim.url), retry=FAST_RETRY) as second,
    ):
        assert first.limiter is second.limiter is limiter_for(CLIENT_ID)
        await first.request(SUMMARY, data=[])
        with pytest.raises(RateLimited):
            await first.request(SUMMARY, data=[], max_wait=0.2)
        requests_so_far = sim.stats().count(path=SUMMARY)
        # The second client of the same app knows about the pause without asking the server.
        with pytest.raises(RateLimited):
            await second.request(SUMMARY, data=[], max_wait=0.2)
    assert sim.stats().count(path=SUMMARY) == requests_so_far
