"""One backoff rule for every retry loop: exponential, capped, with jitter.

Retry number ``n`` (1-based) waits ``base * (1 - jitter * r)`` seconds, where
``base = min(maximum, initial * multiplier ** (n - 1))`` and ``r`` is uniform in ``[0, 1)``: with the
default jitter of 0.5 a pause is between half and all of its base, so tenants, streams and
replicas that failed together do not retry in lock-step (mimecast-api.md quirk 8). The same rule is
available as a pure function (:meth:`Backoff.delay`, for loops that sleep themselves and for tests)
and as a tenacity wait strategy (:meth:`Backoff.wait`, for ``tenacity.AsyncRetrying``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tenacity import RetryCallState
from tenacity.wait import wait_base

#: Exponents above this are capped: a loop failing for days must not overflow the float.
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter.

    Attributes:
        initial: base delay of the first retry, seconds.
        maximum: cap of the base delay, seconds.
        multiplier: growth of the base per retry.
        jitter: fraction of the delay randomised away (0 = deterministic, 0.5 = 50-100 %, 1 = 0-100 %).
    """

    initial: float = 1.0
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < 0 or self.multiplier < 1 or not 0 <= self.jitter <= 1:
            raise ValueError(
                f"invalid backoff {self!r}: initial and maximum must be >= 0, multiplier >= 1, jitter within 0..1"
            )

    def delay(self, attempt: int, rand: float | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (1-based; 0 or less waits nothing).

        Args:
            attempt: how many attempts failed so far.
            rand: uniform in ``[0, 1)``; drawn when not given (tests pass their own).
        """
        if attempt <= 0:
            return 0.0
        base = min(self.maximum, self.initial * self.multiplier ** min(attempt - 1, _MAX_EXPONENT))
        r = random.random() if rand is None else rand
        return max(0.0, base * (1.0 - self.jitter * r))

    def wait(self) -> wait_base:
        """The same rule as a tenacity wait strategy (the attempt number is the failed attempts so far)."""
        return _BackoffWait(self)


class _BackoffWait(wait_base):
    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.backoff.delay(retry_state.attempt_number)
