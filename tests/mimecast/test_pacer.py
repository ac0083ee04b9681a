"""The limiter's pacing as pure logic: the Pacer state machine, and the limiter on a virtual clock.

No sockets and no sleeping: the quotas are the simulator's own quota objects (a bucket refilled one
request per interval, a window refilled whole), charged at virtual times.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mimecast_siem.mimecast.ratelimit import (
    MAX_RATE,
    MIN_PROBE_SPACING,
    MIN_RATE,
    PACE_MEMORY,
    Pacer,
    QuotaHeaders,
    RateLimiter,
)
from mimecast_siem.simulator.config import RequestQuota
from mimecast_siem.simulator.faults import new_quota

# --- the state machine ---------------------------------------------------------------------------


class PacerMachine(RuleBasedStateMachine):
    """Random sequences of answers, starts, idle spells and time passing."""

    def __init__(self) -> None:
        super().__init__()
        self.pacer = Pacer()
        self.now = 0.0

    @rule(seconds=st.floats(0, 2 * PACE_MEMORY, allow_nan=False))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    @rule(seconds=st.floats(0, 30, allow_nan=False))
    def idle(self, seconds: float) -> None:
        self.pacer.idle(seconds)

    @rule()
    def start(self) -> None:
        before = self.pacer.remaining
        self.pacer.started(self.now)
        if before is not None:
            assert self.pacer.remaining == before - 1

    @rule(
        paced=st.booleans(),
        remaining=st.none() | st.integers(0, 100),
        reset=st.none() | st.floats(0, 20, allow_nan=False),
        in_flight=st.integers(0, 8),
    )
    def success(self, paced: bool, remaining: int | None, reset: float | None, in_flight: int) -> None:
        self.pacer.interval(self.now)  # staleness is judged before the answer counts
        before = self.pacer.rate
        headers = None if remaining is None and reset is None else QuotaHeaders(100, remaining, reset)
        self.pacer.succeeded(self.now, paced=paced, headers=headers, in_flight=in_flight)
        after = self.pacer.rate
        # Additive increase only: a success never slows the pace, and only a paced one speeds it up.
        if before is None:
            assert after is None
        else:
            assert after is not None
            assert after >= before
            if not paced:
                assert after == before
        if remaining is not None:
            assert self.pacer.remaining == remaining - in_flight

    @rule(pause=st.floats(0, 30, allow_nan=False))
    def refused(self, pause: float) -> None:
        self.pacer.interval(self.now)
        before = self.pacer.rate
        successes = self.pacer.cycle_successes
        self.pacer.refused(self.now, pause=pause)
        after = self.pacer.rate
        quota = self.pacer.quota_rate
        # Multiplicative decrease, never below what the quota was measured to sustain.
        if before is not None:
            assert after is not None
            assert after <= max(before, quota or 0.0, MIN_RATE) + 1e-9
        if successes == 0 and before is None:
            assert after is None or after == quota  # nothing measured: no new pace from nowhere
        assert self.pacer.remaining is None  # the probe's answer says what came back
        assert self.pacer.last_refusal == self.now

    @precondition(lambda self: self.pacer.remaining is not None)
    @rule()
    def budget(self) -> None:
        wait = self.pacer.budget_wait(self.now)
        if wait is not None:
            # Never longer than the latest reset said (or the probe spacing after it).
            assert 0.0 <= wait <= max(self.pacer.refill_period, MIN_PROBE_SPACING) + 1e-9

    @invariant()
    def bounds(self) -> None:
        rate, quota = self.pacer.rate, self.pacer.quota_rate
        if rate is not None:
            assert MIN_RATE <= rate <= MAX_RATE
        if quota is not None:
            assert 0 < quota <= MAX_RATE
            if rate is not None:
                assert rate >= min(quota, MAX_RATE) - 1e-9

    @invariant()
    def stale_evidence_is_forgotten(self) -> None:
        interval = self.pacer.interval(self.now)
        assert interval >= 0
        if self.now - self.pacer.last_refusal > PACE_MEMORY:
            assert interval == 0
            assert self.pacer.rate is None
            assert self.pacer.quota_rate is None


TestPacerMachine = PacerMachine.TestCase
TestPacerMachine.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)


@settings(deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Other"]),
        st.one_of(st.text(max_size=20), st.integers(-(10**12), 10**12).map(str), st.floats().map(str)),
    )
)
def test_quota_headers_parse_any_values_to_bounded_numbers(headers: dict[str, str]) -> None:
    parsed = QuotaHeaders.parse(headers)
    if not {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} & set(headers):
        assert parsed is None
        return
    assert parsed is not None
    for value in (parsed.limit, parsed.remaining):
        assert value is None or value >= 0
    if parsed.limit is not None and parsed.remaining is not None:
        assert parsed.remaining <= parsed.limit
    assert parsed.reset is None or 0 <= parsed.reset <= 3600


# --- the limiter against both quota shapes, on a virtual clock --------------------------------------


async def _drain(quota: RequestQuota, *, rtt: float, headers: bool, periods: int) -> tuple[list[float], float]:
    """One caller drains a backlog through ``quota`` on a virtual clock, as the client does.

    Returns when each request the quota let through arrived, and when the quota first ran empty (a
    429, or an answer saying ``X-RateLimit-Remaining: 0``); the run lasts ``periods`` quota periods
    after that.
    """
    now = [0.0]
    limiter = RateLimiter(max_concurrency=1, clock=lambda: now[0])
    state = new_quota(quota, 0.0)
    first: float | None = None
    allowed: list[float] = []
    end = math.inf
    while now[0] < end:
        now[0] += max(0.0, limiter.next_start_in()) + 1e-9  # float rounding must not leave it 1e-17 early
        await limiter.acquire()
        now[0] += rtt / 2
        arrived = now[0]
        verdict = state.charge(arrived)
        now[0] += rtt / 2
        limiter.release()
        if first is None and (not verdict.allowed or verdict.remaining == 0):
            first = arrived
            end = first + periods * quota.period
        if verdict.allowed:
            allowed.append(arrived)
            answer = {
                "X-RateLimit-Limit": str(verdict.limit),
                "X-RateLimit-Remaining": str(verdict.remaining),
                "X-RateLimit-Reset": str(verdict.reset_ms),
            }
            limiter.on_success(answer if headers else None)
        else:
            limiter.on_rate_limited(verdict.reset_ms / 1000)
    assert first is not None
    return allowed, first


def _share(quota: RequestQuota, allowed: list[float], first: float, periods: int) -> float:
    """Requests used / requests the quota gave back, after it first ran empty."""
    if quota.shape == "window":
        # Whole windows only: each gives `limit` requests back at its start.
        k0 = math.floor(first / quota.period) + 1
        k1 = k0 + periods - 1
        used = sum(1 for t in allowed if k0 * quota.period <= t < k1 * quota.period)
        return used / ((k1 - k0) * quota.limit)
    end = first + periods * quota.period
    used = sum(1 for t in allowed if first < t <= end)
    return used / ((end - first) * quota.limit / quota.period)


@settings(max_examples=60, deadline=None)
@given(
    shape=st.sampled_from(["bucket", "window"]),
    limit=st.integers(5, 200),
    period=st.floats(1.0, 120.0),
    rtt_share=st.floats(0.01, 0.5),
    headers=st.booleans(),
)
async def test_a_backlog_spends_at_least_90_percent_of_either_quota_shape(
    shape: str, limit: int, period: float, rtt_share: float, headers: bool
) -> None:
    """Sustained requests >= 90% of what the quota allows, a bucket or a window, headers or not.

    The round trip is a share of the quota's interval (``rtt_share < 1``), so the quota, not the
    network, bounds the caller.
    """
    quota = RequestQuota(limit=limit, period=period, shape=shape, headers="always" if headers else "refused")  # type: ignore[arg-type]
    periods = 12
    allowed, first = await _drain(quota, rtt=rtt_share * period / limit, headers=headers, periods=periods)
    share = _share(quota, allowed, first, periods)
    assert share >= 0.9, f"{share:.1%} of the quota used ({quota}, round trip {rtt_share:.2f} of the interval)"


@pytest.mark.parametrize("shape", ["bucket", "window"])
async def test_the_issue_workload_is_not_braked_by_the_reset_header(shape: str) -> None:
    """40 requests per 10 s: the old limiter pinned the pace to 1.05 x Reset and reached ~11%."""
    quota = RequestQuota(limit=40, period=10.0, shape=shape)  # type: ignore[arg-type]
    allowed, first = await _drain(quota, rtt=0.02, headers=False, periods=30)
    assert _share(quota, allowed, first, 30) >= 0.9
