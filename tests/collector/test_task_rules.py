"""Pure rules of the stream task: error classes → kinds, backoff bounds."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from mimecast_siem.checkpoints import LeaseLost
from mimecast_siem.collector.task import backoff_delay, error_kind
from mimecast_siem.errors import (
    AuthError,
    ConfigError,
    PermanentError,
    RateLimited,
    ResponseFormatError,
    TransientError,
)
from mimecast_siem.sinks import DeliveryAborted


def test_error_kind_is_decided_by_class() -> None:
    assert error_kind(AuthError("x")) == "auth"
    assert error_kind(RateLimited("x", retry_after=3)) == "rate_limited"
    assert error_kind(ResponseFormatError("x")) == "transient"
    assert error_kind(TransientError("x")) == "transient"
    assert error_kind(PermanentError("x")) == "permanent"
    assert error_kind(ConfigError("x")) == "config"
    assert error_kind(DeliveryAborted("x")) == "delivery_aborted"
    assert error_kind(LeaseLost("acme", "ttp-url", "me", "other", "expired")) == "lease_lost"
    assert error_kind(ConnectionResetError()) == "transient"
    assert error_kind(ValueError("bug")) == "internal"


@given(
    failures=st.integers(min_value=1, max_value=10_000),
    cap=st.integers(min_value=1, max_value=3600),
    rand=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_grows_but_never_passes_the_cap(failures: int, cap: int, rand: float) -> None:
    delay = backoff_delay(failures, TransientError("x"), timedelta(seconds=cap), rand)
    assert 0 < delay <= cap
    assert delay <= 2.0 ** min(failures - 1, 32)
    assert delay >= min(cap, 2.0 ** min(failures - 1, 32)) * 0.5


def test_rate_limit_waits_at_least_retry_after_within_the_cap() -> None:
    exc = RateLimited("x", retry_after=20)
    assert backoff_delay(1, exc, timedelta(minutes=5), 0.0) == 20
    assert backoff_delay(1, exc, timedelta(seconds=10), 0.0) == 10
