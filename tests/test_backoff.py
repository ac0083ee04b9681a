"""The one backoff rule (mimecast_siem/backoff.py), as a pure function and as a tenacity wait."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tenacity import AsyncRetrying, RetryError, stop_after_attempt

from mimecast_siem.backoff import Backoff


def test_doubles_from_initial_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(7)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


@given(
    attempt=st.integers(min_value=1, max_value=100_000),
    rand=st.floats(min_value=0, max_value=1, exclude_max=True),
    jitter=st.floats(min_value=0, max_value=1),
)
def test_jitter_takes_at_most_its_fraction_away(attempt: int, rand: float, jitter: float) -> None:
    backoff = Backoff(initial=1.0, maximum=60.0, jitter=jitter)
    base = min(60.0, 2.0 ** min(attempt - 1, 64))
    delay = backoff.delay(attempt, rand)
    assert base * (1 - jitter) - 1e-9 <= delay <= base


def test_jitter_spreads_retries_that_failed_together() -> None:
    backoff = Backoff(initial=1.0, maximum=30.0)
    delays = {backoff.delay(3) for _ in range(50)}
    assert len(delays) > 40
    assert all(2.0 <= d <= 4.0 for d in delays)


def test_nonsense_is_refused_with_the_rule() -> None:
    with pytest.raises(ValueError, match=r"jitter within 0\.\.1"):
        Backoff(jitter=2.0)


async def test_the_same_rule_drives_tenacity() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    retrying = AsyncRetrying(
        wait=Backoff(initial=0.25, maximum=1.0, jitter=0.0).wait(), stop=stop_after_attempt(5), sleep=sleep
    )

    async def always_down() -> None:
        async for attempt in retrying:
            with attempt:
                raise OSError("down")

    with pytest.raises(RetryError):
        await always_down()
    assert slept == [0.25, 0.5, 1.0, 1.0]
