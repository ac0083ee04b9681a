"""Our client against the simulator's two quota shapes over HTTP: the quota is spent, not braked.

Sustained requests are judged as a share of what the quota gave back during the run (a ratio, not a
wall-clock figure), after the burst allowance was spent.
"""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from mimecast_siem.mimecast import MimecastClient, Priority
from mimecast_siem.simulator import RequestQuota, RunningSimulator
from tests.mimecast.conftest import CLIENT_ID, FAST_RETRY, tenant_for

pytestmark = pytest.mark.slow

SUMMARY = "/api/gateway/get-hold-summary-list"
LIMIT = 20
PERIOD = 1.0
RUN = 8.0


async def _hammer(sim: RunningSimulator, quota: RequestQuota, callers: int) -> tuple[list[float], float, float]:
    """``callers`` tasks request as fast as the client lets them for RUN seconds.

    Returns when each request succeeded, when the first 429 was answered and when the run ended.
    """
    sim.world.clock.unfreeze()  # the quota refills with simulated time
    sim.set_faults(quota=quota)
    done: list[float] = []
    async with MimecastClient(tenant_for(sim.url, max_concurrency=4), retry=FAST_RETRY) as client:
        await client.authenticate()
        end = time.monotonic() + RUN

        async def caller() -> None:
            while time.monotonic() < end:
                response = await client.request(SUMMARY, data=[], priority=Priority.BACKFILL)
                assert response.status == 200
                done.append(time.monotonic())

        async with asyncio.timeout(RUN + 30):
            await asyncio.gather(*(caller() for _ in range(callers)))
    refused = sim.stats().rate_limited.get(CLIENT_ID, 0)
    if quota.headers == "always":
        # X-RateLimit-Remaining on every answer: the client waits for the reset instead of a 429.
        assert refused <= 3, refused
    else:
        assert refused > 0, "the quota never ran out: the test measures nothing"
    start = done[0]
    return done, start, end


@pytest.mark.parametrize("headers", ["refused", "always"])
async def test_a_bucket_quota_is_spent_at_90_percent_or_more(sim: RunningSimulator, headers: str) -> None:
    quota = RequestQuota(limit=LIMIT, period=PERIOD, shape="bucket", headers=headers)  # type: ignore[arg-type]
    done, _start, end = await _hammer(sim, quota, callers=6)
    # After the burst (the bucket's capacity), one request comes back every PERIOD / LIMIT.
    after_burst = sorted(done)[LIMIT:]
    span = end - after_burst[0]
    share = len(after_burst) / (span * LIMIT / PERIOD)
    assert share >= 0.9, f"{share:.1%} of the bucket's refill rate used"


@pytest.mark.parametrize("headers", ["refused", "always"])
async def test_a_window_quota_is_spent_at_90_percent_or_more(sim: RunningSimulator, headers: str) -> None:
    quota = RequestQuota(limit=LIMIT, period=PERIOD, shape="window", headers=headers)  # type: ignore[arg-type]
    done, start, end = await _hammer(sim, quota, callers=6)
    # Windows start at the first request; whole windows after the first one give LIMIT each.
    windows = math.floor((end - start) / PERIOD)
    used = sum(1 for t in done if start + PERIOD <= t < start + windows * PERIOD)
    share = used / ((windows - 1) * LIMIT)
    assert share >= 0.9, f"{share:.1%} of the windows' requests used"
