"""Fault decisions: quotas, scripted answers, forced 401s and seeded random failures.

The decisions are made here (values in, verdicts out); the app carries them out on the wire.
Random faults draw from a PRNG seeded at every :meth:`FaultState.configure`, so a test that sets
the same faults sees the same sequence of failures.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from mimecast_siem.simulator.config import FaultSettings, RequestQuota, ScriptedFault
from mimecast_siem.simulator.records import derive_seed

#: Outcomes of :meth:`FaultState.draw_random`.
RANDOM_KINDS: tuple[str, ...] = ("drop", "invalid_json", "truncated", "html")


@dataclass(frozen=True, slots=True)
class QuotaVerdict:
    """Result of charging one request against a quota."""

    allowed: bool
    limit: int
    remaining: int
    reset_ms: int


class QuotaBucket:
    """Token bucket of one client id: ``limit`` requests, one back every ``period / limit`` s."""

    def __init__(self, quota: RequestQuota, now: float) -> None:
        self.quota = quota
        self.tokens = float(quota.limit)
        self.updated = now

    def charge(self, now: float) -> QuotaVerdict:
        """Take one request from the bucket if there is one."""
        q = self.quota
        interval = q.period / q.limit
        if now > self.updated:
            self.tokens = min(float(q.limit), self.tokens + (now - self.updated) / interval)
            self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return QuotaVerdict(True, q.limit, int(self.tokens), _ms((1.0 - self.tokens % 1.0) * interval))
        return QuotaVerdict(False, q.limit, 0, _ms((1.0 - self.tokens) * interval))


class QuotaWindow:
    """Fixed window of one client id: ``limit`` requests per ``period``, all given back at its end.

    Windows are aligned to the first request (``now`` at creation): window ``k`` covers
    ``[start + k * period, start + (k + 1) * period)``.
    """

    def __init__(self, quota: RequestQuota, now: float) -> None:
        self.quota = quota
        self.start = now
        self.window = 0
        self.used = 0

    def charge(self, now: float) -> QuotaVerdict:
        """Count one request against the current window if it has one left."""
        q = self.quota
        window = max(self.window, math.floor((now - self.start) / q.period))
        if window != self.window:
            self.window, self.used = window, 0
        reset_ms = _ms(self.start + (window + 1) * q.period - now)
        if self.used < q.limit:
            self.used += 1
            return QuotaVerdict(True, q.limit, q.limit - self.used, reset_ms)
        return QuotaVerdict(False, q.limit, 0, reset_ms)


Quota = QuotaBucket | QuotaWindow


def new_quota(quota: RequestQuota, now: float) -> Quota:
    """The quota state of one client id, in the shape ``quota`` asks for."""
    return QuotaWindow(quota, now) if quota.shape == "window" else QuotaBucket(quota, now)


def _ms(seconds: float) -> int:
    # Round away float noise before ceil, so 400.0000001 ms reads 400.
    return max(1, math.ceil(round(seconds * 1000, 6)))


class FaultState:
    """The live fault settings and their counters.

    Args:
        settings: Initial faults.
        world_seed: Used when ``settings.seed`` is ``None``.
    """

    def __init__(self, settings: FaultSettings, world_seed: int) -> None:
        self._world_seed = world_seed
        self.settings = settings
        self._rng = random.Random()
        self._script: list[ScriptedFault] = []
        self._force_401 = 0
        self._quotas: dict[str, Quota] = {}
        self._siem: dict[str, int] = {}
        self.configure(settings)

    def configure(self, settings: FaultSettings) -> None:
        """Replace every fault (and reseed the random ones, reset quotas and the script)."""
        settings.validate()
        self.settings = settings
        seed = settings.seed if settings.seed is not None else derive_seed(self._world_seed, "faults")
        self._rng = random.Random(seed)
        self._script = [ScriptedFault(s.path, s.count, s.status, s.kind, s.delay) for s in settings.script]
        self._force_401 = settings.force_401
        self._quotas = {}
        self._siem = {
            "siem_expired_urls": settings.siem_expired_urls,
            "siem_corrupt_files": settings.siem_corrupt_files,
            "siem_duplicate_lines": settings.siem_duplicate_lines,
        }

    @property
    def script_remaining(self) -> int:
        """Scripted answers still to be given."""
        return sum(s.count for s in self._script)

    @property
    def force_401_remaining(self) -> int:
        """Forced 401 answers still to be given."""
        return self._force_401

    def take_scripted(self, path: str) -> ScriptedFault | None:
        """The first scripted fault matching ``path``, consuming one of its uses."""
        for i, item in enumerate(self._script):
            if item.path in ("*", path):
                item.count -= 1
                if item.count <= 0:
                    del self._script[i]
                return item
        return None

    def take_siem(self, name: str) -> bool:
        """Whether the counted SIEM fault ``name`` applies to this file (consumes one)."""
        if self._siem.get(name, 0) > 0:
            self._siem[name] -= 1
            return True
        return False

    def take_force_401(self) -> bool:
        """Whether this request must answer 401 (consumes one)."""
        if self._force_401 > 0:
            self._force_401 -= 1
            return True
        return False

    def charge_quota(self, client_id: str, now: float) -> QuotaVerdict | None:
        """Charge one request to ``client_id``; ``None`` when no quota is set."""
        quota = self.settings.quota
        if quota is None:
            return None
        bucket = self._quotas.get(client_id)
        if bucket is None:
            bucket = self._quotas[client_id] = new_quota(quota, now)
        return bucket.charge(now)

    def latency(self) -> float:
        """Seconds to delay this request."""
        s = self.settings
        if s.latency_jitter > 0:
            return s.latency + self._rng.random() * s.latency_jitter
        return s.latency

    def draw_random(self) -> int | str | None:
        """One draw: an HTTP status (500/502/503), a kind of :data:`RANDOM_KINDS`, or ``None``."""
        s = self.settings
        table: list[tuple[int | str, float]] = [(status, rate) for status, rate in sorted(s.error_rates.items())]
        table += [
            ("drop", s.drop_rate),
            ("invalid_json", s.invalid_json_rate),
            ("truncated", s.truncated_rate),
            ("html", s.html_rate),
        ]
        if not any(rate > 0 for _, rate in table):
            return None
        r = self._rng.random()
        acc = 0.0
        for outcome, rate in table:
            acc += rate
            if r < acc:
                return outcome
        return None
