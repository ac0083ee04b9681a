"""One request budget per Mimecast application (client id), shared by every caller in the process.

Mimecast's quota is per registered app (mimecast-api.md section 3), so every stream, backfill and
action using one client id shares one :class:`RateLimiter` (:func:`limiter_for`). The limiter:

* serves waiting callers by priority (``ACTION < LIVE < BACKFILL``: an analyst's release is not
  stuck behind a month of backfill), first come first served within a priority;
* caps requests in flight (``max_concurrency``) and optionally caps the pace of request starts
  (``max_requests_per_second``);
* treats the quota as a budget to spend, whatever its shape, with a :class:`Pacer`:

  - on a 429 it pauses the whole app - every caller - for ``Retry-After`` seconds, else
    ``X-RateLimit-Reset`` milliseconds, else an exponential backoff with jitter; after the pause one
    request probes the quota before the others follow;
  - between two 429s it counts successes: both 429s found the quota empty, so successes / time
    between them is the rate the quota sustains, whether it refills one request per interval (a
    bucket) or a whole window at once. Request starts are then paced at that rate, and the pace
    probes upward (additive increase on each paced success) until the next 429, which cuts it
    (multiplicative decrease, never below the measured rate). ``X-RateLimit-Reset`` alone is never
    taken as the pace: for a window quota it is the time to the window's end, and pacing to it
    wasted ~90% of the quota;
  - when answers carry ``X-RateLimit-Remaining`` (Mimecast may send it only with a 429), requests
    start at once while the quota has requests left and wait for the reset when it has none;
  - forgets what it learned once the evidence is stale (:data:`PACE_MEMORY` without a 429);
* lets a caller bound its wait (``max_wait``): past it, :class:`~mimecast_siem.errors.RateLimited`
  is raised with the seconds left, instead of waiting longer.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import IntEnum

from mimecast_siem.config.models import RateLimitSettings
from mimecast_siem.errors import RateLimited

log = logging.getLogger("mimecast_siem.mimecast")

#: Longest pause honoured from a server header; a broken header must not stall the app for days.
MAX_HEADER_PAUSE = 3600.0
#: Bounds of a learned pace, in request starts per second.
MIN_RATE = 1.0 / 60.0
MAX_RATE = 1000.0
#: Additive increase per paced success, as a share of the measured quota rate (the pace doubles in
#: about 1 / ALPHA successes when nothing refuses it).
ALPHA = 0.02
#: Multiplicative decrease of the pace at a 429 (never below the measured quota rate).
BETA = 0.5
#: Weight of the newest measurement in the quota-rate estimate (the rest is the previous estimate).
MEASURE_WEIGHT = 0.5
#: Seconds without a 429 after which the learned pace and quota rate are forgotten, and the longest
#: an ``X-RateLimit-Remaining`` is trusted.
PACE_MEMORY = 120.0
#: A start within this many paced intervals of the previous one counts as bounded by the pace.
PACED_SLACK = 1.25
#: Least request-start spacing after a 429 whose pause is zero (the server keeps saying "retry now").
MIN_PROBE_SPACING = 0.05


class Priority(IntEnum):
    """Who goes first when callers queue for the same app (lower value first)."""

    ACTION = 0
    LIVE = 1
    BACKFILL = 2


@dataclass(frozen=True, slots=True)
class Permit:
    """What a caller got from :meth:`RateLimiter.slot`.

    Attributes:
        waited: seconds between asking and getting the slot.
        paused: the part of ``waited`` spent in an app-wide 429 pause.
    """

    waited: float
    paused: float


@dataclass(order=True, slots=True)
class _Waiter:
    priority: int
    seq: int
    wake: asyncio.Event = field(compare=False)


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait after a 429, from the response headers; ``None`` when they say nothing.

    ``Retry-After`` (seconds, or an HTTP date) wins over ``X-RateLimit-Reset`` (milliseconds,
    Mimecast's documented header). Negative values count as zero; values are capped at
    :data:`MAX_HEADER_PAUSE`.
    """
    retry_after = headers.get("Retry-After")
    if retry_after is not None:
        seconds = _number(retry_after)
        if seconds is None:
            try:
                when = parsedate_to_datetime(retry_after.strip())
            except (TypeError, ValueError, IndexError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                seconds = (when - (now or datetime.now(UTC))).total_seconds()
        if seconds is not None:
            return min(max(seconds, 0.0), MAX_HEADER_PAUSE)
    reset = headers.get("X-RateLimit-Reset")
    if reset is not None:
        millis = _number(reset)
        if millis is not None:
            return min(max(millis / 1000.0, 0.0), MAX_HEADER_PAUSE)
    return None


@dataclass(frozen=True, slots=True)
class QuotaHeaders:
    """The ``X-RateLimit-*`` headers of one answer (each ``None`` when absent or unreadable).

    Attributes:
        limit: ``X-RateLimit-Limit``, the quota.
        remaining: ``X-RateLimit-Remaining``, requests left now.
        reset: ``X-RateLimit-Reset`` in seconds: until at least one request is added back.
    """

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None

    @classmethod
    def parse(cls, headers: Mapping[str, str] | None) -> QuotaHeaders | None:
        """The quota headers of ``headers``; ``None`` when the answer carries none of them."""
        if not headers:
            return None
        raw_limit = headers.get("X-RateLimit-Limit")
        raw_remaining = headers.get("X-RateLimit-Remaining")
        raw_reset = headers.get("X-RateLimit-Reset")
        if raw_limit is None and raw_remaining is None and raw_reset is None:
            return None
        limit = _count(raw_limit)
        remaining = _count(raw_remaining)
        if limit is not None and remaining is not None:
            remaining = min(remaining, limit)
        reset = None if raw_reset is None else _number(raw_reset)
        reset = None if reset is None else min(max(reset / 1000.0, 0.0), MAX_HEADER_PAUSE)
        return cls(limit, remaining, reset)


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _count(text: str | None) -> int | None:
    value = None if text is None else _number(text)
    return None if value is None or value < 0 else int(min(value, 1e9))


@dataclass(slots=True)
class Pacer:
    """What the quota allows, learned from answers: the pure state machine behind :class:`RateLimiter`.

    Times are the caller's monotonic seconds. See the module docstring for the strategy.

    Attributes:
        rate: pace of request starts in requests per second; ``None`` = unpaced (no evidence).
        quota_rate: the rate the quota sustained between the last 429s (``None`` until measured).
        remaining: requests the quota has left by the latest ``X-RateLimit-Remaining`` (minus the
            requests started since); ``None`` when no answer said.
        refill_at: when ``remaining`` grows again (the latest ``X-RateLimit-Reset``).
        last_refusal: time of the latest 429 that counted (not one answered during a pause).
    """

    rate: float | None = None
    quota_rate: float | None = None
    remaining: int | None = None
    refill_at: float = -math.inf
    refill_period: float = 0.0
    remaining_seen: float = -math.inf
    last_refusal: float = -math.inf
    cycle_start: float | None = None
    cycle_successes: int = 0
    cycle_idle: float = 0.0

    def interval(self, now: float) -> float:
        """Least seconds between two request starts now (0 = unpaced); forgets stale pacing."""
        self._forget_stale(now)
        return 0.0 if self.rate is None else 1.0 / self.rate

    def budget_wait(self, now: float) -> float | None:
        """What ``X-RateLimit-Remaining`` says: ``None`` (nothing known), 0 (start now) or seconds to wait."""
        if self.remaining is None:
            return None
        if now - self.remaining_seen > PACE_MEMORY:
            self.remaining = None
            return None
        if self.remaining > 0:
            return 0.0
        if now < self.refill_at:
            return self.refill_at - now
        # The reset passed: at least one request came back. Let one go; its answer says how many.
        self.remaining = 1
        self.refill_at = now + max(self.refill_period, MIN_PROBE_SPACING)
        return 0.0

    def started(self, now: float) -> None:
        """A request starts now."""
        if self.remaining is not None:
            self.remaining -= 1

    def idle(self, seconds: float) -> None:
        """Nobody wanted a request for ``seconds``: that time does not count against the quota rate."""
        if self.cycle_start is not None:
            self.cycle_idle += max(0.0, seconds)

    def succeeded(
        self, now: float, *, paced: bool = False, headers: QuotaHeaders | None = None, in_flight: int = 0
    ) -> None:
        """A request was not rate limited.

        Args:
            now: the time of the answer.
            paced: its start waited for the pace (the pace, not demand, bounded it): probe upward.
            headers: the answer's quota headers, if it had any.
            in_flight: requests still in flight (the quota will count them too).
        """
        self._forget_stale(now)
        if self.cycle_start is not None:
            self.cycle_successes += 1
        if paced and self.rate is not None:
            step = ALPHA * (self.quota_rate or self.rate)
            self.rate = min(MAX_RATE, self.rate + step)
        if headers is not None and headers.remaining is not None:
            self.remaining = headers.remaining - in_flight
            self.remaining_seen = now
            self.refill_period = headers.reset if headers.reset is not None else self.refill_period
            self.refill_at = now + self.refill_period

    def refused(self, now: float, *, pause: float) -> None:
        """A 429 that counts (the first answered after the previous pause ended), and the pause it got."""
        self._forget_stale(now)
        if self.cycle_start is not None and self.cycle_successes > 0:
            busy = max(now - self.cycle_start - self.cycle_idle, 1e-3)
            measured = min(MAX_RATE, self.cycle_successes / busy)
            previous = self.quota_rate
            self.quota_rate = (
                measured if previous is None else MEASURE_WEIGHT * measured + (1 - MEASURE_WEIGHT) * previous
            )
        floor = max(MIN_RATE, self.quota_rate or 0.0)
        if self.rate is not None:
            self.rate = max(floor, self.rate * BETA)
        elif self.quota_rate is not None:
            self.rate = floor
        self.cycle_start = now
        self.cycle_successes = 0
        self.cycle_idle = 0.0
        self.last_refusal = now
        # The quota is empty until the pause ends; after it, the probe's answer tells the rest.
        self.remaining = None

    def _forget_stale(self, now: float) -> None:
        if now - self.last_refusal > PACE_MEMORY and (self.rate is not None or self.quota_rate is not None):
            self.rate = None
            self.quota_rate = None
            self.cycle_start = None
            self.cycle_successes = 0
            self.cycle_idle = 0.0


class RateLimiter:
    """The shared request budget of one Mimecast app. See the module docstring.

    Args:
        name: shown in log lines (not a secret; the client passes the client id).
        max_concurrency: requests in flight at once.
        max_requests_per_second: a cap on the pace of request starts; ``None`` = learn it from answers.
        backoff_initial: first pause after a 429 without headers, in seconds.
        backoff_max: longest such pause.
        clock: monotonic seconds (tests may pass their own).
    """

    def __init__(
        self,
        name: str = "default",
        *,
        max_concurrency: int = 4,
        max_requests_per_second: float | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if max_requests_per_second is not None and max_requests_per_second <= 0:
            raise ValueError(f"max_requests_per_second must be positive, got {max_requests_per_second}")
        self.name = name
        self.max_concurrency = max_concurrency
        self.max_requests_per_second = max_requests_per_second
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._clock = clock or time.monotonic
        self._queue: list[_Waiter] = []
        self._seq = itertools.count()
        self._in_flight = 0
        self._pause_until = 0.0
        self._last_start = -math.inf
        self._streak = 0  # 429s without headers since the last success
        self._refusals_in_a_row = 0  # 429s that counted since the last success
        self.pacer = Pacer()
        # After a pause one request probes the quota alone (letting every waiter rush in just earns
        # more 429s); the others follow once it succeeded.
        self._probing = False
        self._paced = False  # the latest start waited for the pace
        self._idle_since: float | None = self._clock()
        self._episode_start: float | None = None  # first 429 of the current rate-limit episode
        self._episode_refusals = 0

    # --- state --------------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Callers queued for a slot."""
        return len(self._queue)

    def paused_for(self) -> float:
        """Seconds left in the current app-wide pause (0 when not paused)."""
        return max(0.0, self._pause_until - self._clock())

    @property
    def rate_limited(self) -> bool:
        """True from a 429 until a request succeeds with nobody waiting (a rate-limit episode)."""
        return self._episode_start is not None

    @property
    def concurrency_now(self) -> int:
        """Slots usable now: ``max_concurrency``, or 1 while probing the quota after a 429."""
        return 1 if self._probing else self.max_concurrency

    @property
    def pace(self) -> float | None:
        """The learned pace of request starts in requests per second (``None``: unpaced)."""
        self.pacer.interval(self._clock())
        return self.pacer.rate

    @property
    def learned_interval(self) -> float:
        """Least seconds between request starts learned from the quota (0 when unpaced)."""
        return self.pacer.interval(self._clock())

    def configure(self, settings: RateLimitSettings) -> None:
        """Apply a tenant's ``rate_limit`` settings (the latest configuration wins)."""
        self.max_concurrency = settings.max_concurrency
        self.max_requests_per_second = settings.max_requests_per_second
        self._wake_head()

    # --- answers ----------------------------------------------------------------------------------

    def pause(self, seconds: float) -> None:
        """Hold every caller of this app for ``seconds`` from now (extends, never shortens, a pause)."""
        until = self._clock() + max(0.0, seconds)
        self._pause_until = max(self._pause_until, until)
        # Callers with a max_wait must learn now that the pause outlasts their budget.
        for waiter in self._queue:
            waiter.wake.set()

    def on_rate_limited(self, retry_after: float | None) -> float:
        """Record a 429 and pause the app; returns the pause applied, in seconds.

        With a server hint (``retry_after``, see :func:`retry_after_seconds`) the pause is exactly
        that. Without one the pause grows exponentially with each 429 that arrives after the previous
        pause ended (with jitter, so several apps do not wake in lock-step). 429s answered to
        requests that were already in flight during a pause do not escalate it and teach nothing.
        """
        now = self._clock()
        if self._episode_start is None:
            self._episode_start = now
            self._episode_refusals = 0
        self._episode_refusals += 1
        already_paused = self._pause_until > now
        if retry_after is not None:
            seconds = retry_after
        else:
            if not already_paused:
                self._streak += 1
            base = min(self.backoff_max, self.backoff_initial * 2 ** max(0, self._streak - 1))
            seconds = base * random.uniform(0.5, 1.0)
            if already_paused:
                seconds = min(seconds, self._pause_until - now)
        if not already_paused:  # answers to requests sent before the pause say nothing new
            self._probing = True
            self._refusals_in_a_row += 1
            self.pacer.refused(now, pause=seconds)
            # A server that keeps saying "retry now" (Retry-After: 0, a reset in the past) while
            # refusing every probe must not be hammered: the least pause doubles per refused probe.
            least = MIN_PROBE_SPACING * 2 ** min(self._refusals_in_a_row - 1, 20)
            seconds = max(seconds, min(least, self.backoff_max))
        self.pause(seconds)
        return seconds

    def on_success(self, headers: Mapping[str, str] | None = None) -> None:
        """A request was not rate limited (``headers``: its answer's, read for ``X-RateLimit-*``)."""
        self._streak = 0
        self._refusals_in_a_row = 0
        if self._probing:
            self._probing = False
            self._wake_head()
        self.pacer.succeeded(
            self._clock(), paced=self._paced, headers=QuotaHeaders.parse(headers), in_flight=self._in_flight
        )
        self._wake_head()  # the quota headers may allow a start sooner
        if self._episode_start is None or self._queue:
            return
        log.info(
            "Rate limiting of Mimecast app %s ended after %.1f s and %d refused requests.",
            self.name,
            self._clock() - self._episode_start,
            self._episode_refusals,
            extra={"rate_limited_seconds": round(self._clock() - self._episode_start, 3)},
        )
        self._episode_start = None

    # --- slots ------------------------------------------------------------------------------------

    @asynccontextmanager
    async def slot(self, priority: Priority = Priority.LIVE, *, max_wait: float | None = None) -> AsyncIterator[Permit]:
        """Wait for a request slot, hold it for the block, release it on exit.

        Args:
            priority: who goes first among waiters.
            max_wait: longest wait accepted, in seconds; ``None`` waits as long as it takes.

        Raises:
            RateLimited: the wait would exceed ``max_wait``; ``retry_after`` is the pause left.
        """
        permit = await self.acquire(priority, max_wait=max_wait)
        try:
            yield permit
        finally:
            self.release()

    async def acquire(self, priority: Priority = Priority.LIVE, *, max_wait: float | None = None) -> Permit:
        """Take a slot (prefer :meth:`slot`); every successful call must be paired with :meth:`release`."""
        start = self._clock()
        deadline = None if max_wait is None else start + max(0.0, max_wait)
        waiter = _Waiter(int(priority), next(self._seq), asyncio.Event())
        heapq.heappush(self._queue, waiter)
        paused = 0.0
        try:
            while True:
                now = self._clock()
                delay: float | None = None
                if self._queue[0] is waiter and self._in_flight < self.concurrency_now:
                    delay = self._starts_in(now)
                    if delay <= 0:
                        heapq.heappop(self._queue)
                        self._start(now)
                        return Permit(waited=now - start, paused=paused)
                timeout = delay
                if deadline is not None:
                    budget = deadline - now
                    pause_left = self._pause_until - now
                    if pause_left > budget or budget <= 0:
                        raise RateLimited(_too_long(pause_left, max_wait or 0.0), retry_after=max(pause_left, 0.0))
                    timeout = budget if timeout is None else min(timeout, budget)
                pause_end = self._pause_until
                waiter.wake.clear()
                # Not asyncio.wait_for: on Python 3.11 it drops a cancellation that arrives as the
                # wake-up completes, and the cancelled caller would go on to take a slot.
                with suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await waiter.wake.wait()
                paused += max(0.0, min(self._clock(), pause_end) - now)
        except BaseException:
            self._forget(waiter)
            raise

    def _start(self, now: float) -> None:
        # Paced: the start came as soon as the pace allowed, so the pace, not demand, bounded it.
        learned = self.pacer.interval(now)
        self._paced = learned > 0 and now - self._last_start <= learned * PACED_SLACK + 0.005
        if self._idle_since is not None:
            # Time in a pause or waiting for the pace is the quota's: only the rest is "nobody asked".
            self.pacer.idle(now - max(self._idle_since, self._pause_until, self._last_start + learned))
            self._idle_since = None
        self._in_flight += 1
        self._last_start = now
        self.pacer.started(now)
        self._wake_head()

    async def wait_out_pause(self, *, max_wait: float | None = None) -> float:
        """Sleep until the app-wide pause is over, without taking a slot; returns the seconds slept.

        Used by requests that must not queue behind slot holders (the token request they wait for).

        Raises:
            RateLimited: the pause outlasts ``max_wait``.
        """
        slept = 0.0
        while (left := self.paused_for()) > 0:
            if max_wait is not None and left > max_wait - slept:
                raise RateLimited(_too_long(left, max_wait), retry_after=left)
            start = self._clock()
            await asyncio.sleep(left)
            slept += self._clock() - start
        return slept

    def release(self) -> None:
        """Give back a slot taken with :meth:`acquire`."""
        if self._in_flight <= 0:
            raise RuntimeError("RateLimiter.release() called more often than acquire()")
        self._in_flight -= 1
        if self._in_flight == 0 and not self._queue:
            self._idle_since = self._clock()
        self._wake_head()

    # --- internals --------------------------------------------------------------------------------

    def next_start_in(self) -> float:
        """Seconds until the pause, the quota headers and the pace allow the next request to start (<= 0: now)."""
        return self._starts_in(self._clock())

    def _starts_in(self, now: float) -> float:
        """Seconds until the head waiter may start: the pause, the quota headers and the pace."""
        wait = self._pause_until - now
        budget = self.pacer.budget_wait(now) if wait <= 0 else None
        learned = self.pacer.interval(now) if budget is None else 0.0
        wait = max(wait, budget or 0.0)
        interval = learned
        if self.max_requests_per_second:
            interval = max(interval, 1.0 / self.max_requests_per_second)
        return max(wait, self._last_start + interval - now)

    def _wake_head(self) -> None:
        if self._queue:
            self._queue[0].wake.set()

    def _forget(self, waiter: _Waiter) -> None:
        try:
            self._queue.remove(waiter)
        except ValueError:
            return
        heapq.heapify(self._queue)
        self._wake_head()

    def __repr__(self) -> str:
        return (
            f"RateLimiter({self.name!r}, in_flight={self._in_flight}, waiting={len(self._queue)}, "
            f"paused_for={self.paused_for():.1f}, pace={self.pacer.rate})"
        )


def _too_long(pause_left: float, max_wait: float) -> str:
    if pause_left > 0:
        return (
            f"the Mimecast application is rate limited for another {pause_left:.1f} s, "
            f"longer than this call may wait ({max_wait:.1f} s)"
        )
    return f"no request slot for this Mimecast application became free within {max_wait:.1f} s (max_concurrency)"


_limiters: dict[str, RateLimiter] = {}


def limiter_for(client_id: str, settings: RateLimitSettings | None = None) -> RateLimiter:
    """The process-wide limiter of one Mimecast app, created on first use.

    Args:
        client_id: the app's client id (the quota is per app).
        settings: the tenant's ``rate_limit``; applied when given (the latest wins).
    """
    limiter = _limiters.get(client_id)
    if limiter is None:
        limiter = RateLimiter(_short(client_id))
        _limiters[client_id] = limiter
    if settings is not None:
        limiter.configure(settings)
    return limiter


def reset_limiters() -> None:
    """Forget every shared limiter (tests, and a daemon restart inside one process)."""
    _limiters.clear()


def _short(client_id: str) -> str:
    return client_id if len(client_id) <= 12 else client_id[:8] + "…"
