"""One request budget per Mimecast application (client id), shared by every caller in the process.

Mimecast's quota is per registered app (mimecast-api.md section 3), so every stream, backfill and
action using one client id shares one :class:`RateLimiter` (:func:`limiter_for`). The limiter:

* serves waiting callers by priority (``ACTION < LIVE < BACKFILL``: an analyst's release is not
  stuck behind a month of backfill), first come first served within a priority;
* caps requests in flight (``max_concurrency``) and optionally paces starts
  (``max_requests_per_second``);
* on a 429 pauses the whole app - every caller - for ``Retry-After`` seconds, else
  ``X-RateLimit-Reset`` milliseconds, else an exponential backoff with jitter;
* then paces request starts near the quota's refill rate while callers keep queueing, never closer
  than the refill interval it learned in this episode: Mimecast's ``X-RateLimit-Reset`` is the time
  until "at least one request is added back" (a lower bound of the refill interval), and a 429 to a
  request that was already paced proves the spacing was too small, and once an episode has 20
  successes, elapsed time / successes between two 429s measures it. The learned interval keeps
  pacing starts for FLOOR_MEMORY (5 min) after the last 429, also between episodes. So a long
  backlog meets one 429 and then, after at most a few more while the interval is learned, none;
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
#: Request-start spacing during a rate-limit episode: bounds, and the shrink factor per success.
MAX_SPACING = 60.0
MIN_SPACING = 0.001
#: Least request-start spacing after a 429, whatever the server's hint says.
FIRST_SPACING = 0.05
SPACING_DECAY = 0.9
#: Safety margin on a learned refill interval (network jitter can bring two requests closer).
FLOOR_MARGIN = 1.05
#: How long a learned refill interval keeps pacing request starts after the last 429 (the quota is a
#: property of the app: a backlog that briefly stops queueing should not burst into it again).
FLOOR_MEMORY = 300.0
#: Successes in an episode before their average spacing counts as a measure of the refill interval.
RATE_SAMPLE_MIN = 20


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


def refill_hint_seconds(headers: Mapping[str, str]) -> float | None:
    """``X-RateLimit-Reset`` in seconds: how long until the quota adds a request back; ``None`` if absent.

    Mimecast documents it as milliseconds "before at least one call is permitted" (mimecast-api.md
    section 3), so it never exceeds the refill interval. Capped at :data:`MAX_SPACING`.
    """
    reset = headers.get("X-RateLimit-Reset")
    millis = None if reset is None else _number(reset)
    if millis is None or millis <= 0:
        return None
    return min(millis / 1000.0, MAX_SPACING)


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class RateLimiter:
    """The shared request budget of one Mimecast app. See the module docstring.

    Args:
        name: shown in log lines (not a secret; the client passes the client id).
        max_concurrency: requests in flight at once.
        max_requests_per_second: minimum spacing of request starts; ``None`` = react to 429s only.
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
        # A rate-limit episode runs from a 429 until a request succeeds with nobody waiting. In it,
        # one request probes the quota after each pause (letting every waiter rush in just earns
        # more 429s), and request starts are spaced: the spacing doubles (at least to the server's
        # hint) on each 429 and shrinks by SPACING_DECAY on each success - so a sustained overload
        # settles near the quota's refill rate instead of alternating bursts and 429s.
        self._probing = False
        self._spacing = 0.0
        self._episode_start: float | None = None  # first 429 of the current rate-limit episode
        self._episode_refusals = 0
        self._floor = 0.0  # the refill interval learned from 429s: spacing never shrinks below it
        self._last_refusal = -math.inf
        self._paced_successes = 0  # successes since the last 429 (the spacing was tested by them)
        self._episode_successes = 0  # successes since the episode's first 429

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
        """True from a 429 until the next successful request (a rate-limit episode)."""
        return self._episode_start is not None

    @property
    def concurrency_now(self) -> int:
        """Slots usable now: ``max_concurrency``, or 1 while probing the quota after a 429."""
        return 1 if self._probing else self.max_concurrency

    @property
    def learned_interval(self) -> float:
        """The least spacing of request starts learned from 429s (0 once FLOOR_MEMORY passed without one)."""
        return self._floor_now(self._clock())

    def _floor_now(self, now: float) -> float:
        if self._floor and now - self._last_refusal > FLOOR_MEMORY:
            self._floor = 0.0
        return self._floor

    def configure(self, settings: RateLimitSettings) -> None:
        """Apply a tenant's ``rate_limit`` settings (the latest configuration wins)."""
        self.max_concurrency = settings.max_concurrency
        self.max_requests_per_second = settings.max_requests_per_second
        self._wake_head()

    # --- 429 handling ---------------------------------------------------------------------------

    def pause(self, seconds: float) -> None:
        """Hold every caller of this app for ``seconds`` from now (extends, never shortens, a pause)."""
        until = self._clock() + max(0.0, seconds)
        self._pause_until = max(self._pause_until, until)
        # Callers with a max_wait must learn now that the pause outlasts their budget.
        for waiter in self._queue:
            waiter.wake.set()

    def on_rate_limited(self, retry_after: float | None, *, refill_hint: float | None = None) -> float:
        """Record a 429 and pause the app; returns the pause applied, in seconds.

        With a server hint (``retry_after``) the pause is exactly that. Without one the pause grows
        exponentially with each 429 that arrives after the previous pause ended (with jitter, so
        several apps do not wake in lock-step); 429s answered to requests that were already in flight
        during a pause do not escalate it.

        Args:
            retry_after: seconds to pause, from the response headers (:func:`retry_after_seconds`).
            refill_hint: seconds until the quota adds a request back (``X-RateLimit-Reset``, see
                :func:`refill_hint_seconds`); a lower bound of the refill interval, learned as the
                least spacing of request starts for the rest of the episode.
        """
        in_episode = self._episode_start is not None
        if not in_episode:
            self._episode_start = self._clock()
            self._episode_refusals = 0
            self._episode_successes = 0
        self._episode_refusals += 1
        already_paused = self.paused_for() > 0
        if retry_after is not None:
            seconds = retry_after
        else:
            if not already_paused:
                self._streak += 1
            base = min(self.backoff_max, self.backoff_initial * 2 ** max(0, self._streak - 1))
            seconds = base * random.uniform(0.5, 1.0)
            if already_paused:
                seconds = min(seconds, self.paused_for())
        if not already_paused:  # answers to requests sent before the pause say nothing new
            self._probing = True
            if in_episode and self._paced_successes and self._spacing > 0:
                # Requests paced this far apart were still refused: the refill is slower.
                self._floor = max(self._floor, self._spacing * FLOOR_MARGIN, self._measured_interval())
            if refill_hint is not None:
                # A Retry-After shorter than the reset says a request is allowed sooner: trust it.
                self._floor = max(self._floor, min(refill_hint, seconds) * FLOOR_MARGIN)
            self._floor = min(MAX_SPACING, self._floor)
            self._last_refusal = self._clock()
            # The least spacing matters when the server keeps saying "retry now" (Retry-After: 0, a
            # reset in the past): doubling from zero would stay zero and hammer Mimecast in a busy loop.
            self._spacing = min(MAX_SPACING, max(self._spacing * 2, seconds, FIRST_SPACING, self._floor))
            self._paced_successes = 0
        self.pause(seconds)
        return seconds

    def _measured_interval(self) -> float:
        """The refill interval as this episode measured it (0 until it has enough successes).

        The quota was empty at the episode's first 429 and is empty again at this one, so every
        success in between used a request the quota added back: elapsed time / successes is the
        refill interval, within one request either way. Other users of the same app make it larger,
        which is the share this process should pace to.
        """
        if self._episode_start is None or self._episode_successes < RATE_SAMPLE_MIN:
            return 0.0
        return (self._clock() - self._episode_start) / self._episode_successes

    def on_success(self) -> None:
        """A request was not rate limited: the probe succeeded, spacing shrinks, maybe the episode ends."""
        self._streak = 0
        if self._probing:
            self._probing = False
            self._wake_head()
        if self._episode_start is None:
            return
        self._paced_successes += 1
        self._episode_successes += 1
        self._spacing = max(self._floor, self._spacing * SPACING_DECAY)
        if self._queue and self._spacing >= MIN_SPACING:
            return  # callers still queue: keep pacing near the refill rate
        log.info(
            "Rate limiting of Mimecast app %s ended after %.1f s and %d refused requests.",
            self.name,
            self._clock() - self._episode_start,
            self._episode_refusals,
            extra={"rate_limited_seconds": round(self._clock() - self._episode_start, 3)},
        )
        self._episode_start = None
        self._spacing = 0.0  # the learned floor keeps pacing starts until FLOOR_MEMORY passes

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
                        self._in_flight += 1
                        self._last_start = now
                        self._wake_head()
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
                with suppress(TimeoutError):
                    await asyncio.wait_for(waiter.wake.wait(), timeout)
                paused += max(0.0, min(self._clock(), pause_end) - now)
        except BaseException:
            self._forget(waiter)
            raise

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
        self._wake_head()

    # --- internals --------------------------------------------------------------------------------

    def next_start_in(self) -> float:
        """Seconds until the pause and the pacing allow the next request to start (<= 0: now)."""
        return self._starts_in(self._clock())

    def _starts_in(self, now: float) -> float:
        """Seconds until the head waiter may start: the pause and the pacing interval, whichever is later."""
        interval = max(self._spacing, self._floor_now(now))
        if self.max_requests_per_second:
            interval = max(interval, 1.0 / self.max_requests_per_second)
        return max(self._pause_until - now, self._last_start + interval - now)

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
            f"paused_for={self.paused_for():.1f})"
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
