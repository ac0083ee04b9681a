"""The held-message queue of one tenant: messages enter hold and leave on a deterministic schedule.

Each message gets, from the seeded PRNG, the time it enters hold, the time it would leave and how
(released, rejected or expired by housekeeping). The queue at any instant is the set of messages
with ``entered <= t < left``. Releasing or rejecting a message (the response actions) records an
override that moves its leaving time to "now", so both the list and the release log reflect it,
and a walk paginating an earlier snapshot keeps seeing the same members.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from mimecast_siem.simulator.clock import Clock
from mimecast_siem.simulator.config import HeldQueueSettings
from mimecast_siem.simulator.logstore import BUCKET_SECONDS, UID_SPAN, Bucket, BucketCache, DateStrings
from mimecast_siem.simulator.records import (
    AccountProfile,
    decode_id,
    derive_seed,
    held_message_record,
    opaque_id,
    pick,
    release_log_record,
)
from mimecast_siem.simulator.wire import format_time

OUTCOMES: tuple[str, ...] = ("released", "rejected", "expired")


@dataclass(slots=True)
class HoldLifecycle:
    """One message's stay in the held queue.

    Attributes:
        message_id: The ``id`` that release/reject take.
        uid: Stable sort key part.
        entered: Epoch seconds it entered hold (whole seconds, as ``dateReceived`` shows).
        scheduled_leave: When it leaves unless an action releases or rejects it first.
        scheduled_outcome: ``released``, ``rejected`` or ``expired``.
        own: Addressed to the API app's own mailbox (listed when ``admin`` is false).
        held_group: ``administrator`` or ``moderator`` (for ``filterBy heldGroup``).
    """

    message_id: str
    uid: int
    entered: int
    scheduled_leave: float
    scheduled_outcome: str
    own: bool
    held_group: str


@dataclass(frozen=True, slots=True)
class HoldExit:
    """How and when a message left (or will leave) hold."""

    at: float
    outcome: str
    operator: str
    reason: str | None = None


class HoldQueue:
    """Held queue of one tenant.

    Args:
        settings: Arrival rate, hold durations, outcome shares.
        seed: World seed.
        profile: The tenant.
        origin: Epoch seconds before which no message entered hold.
        clock: The world clock (manual release/reject happen "now").
        cache: Shared bucket cache.
    """

    def __init__(
        self,
        settings: HeldQueueSettings,
        *,
        seed: int,
        profile: AccountProfile,
        origin: int,
        clock: Clock,
        cache: BucketCache,
    ) -> None:
        self.settings = settings
        self._seed = seed
        self._profile = profile
        self.origin = origin
        self._clock = clock
        self._cache = cache
        self._overrides: dict[str, HoldExit] = {}
        # Part of every id, so worlds with different seeds never share message ids.
        self._salt = derive_seed(seed, profile.client_id, "hold-ids") % 1_000_000
        # Entry buckets a release-log bucket can draw from.
        self._span = int(settings.max_hold) // BUCKET_SECONDS + 2

    # -- entries ---------------------------------------------------------------------------------

    def entries(self, index: int) -> Bucket:
        """Messages that entered hold during minute ``index``, keyed by entry time."""
        if self.settings.arrival_rate <= 0 or (index + 1) * BUCKET_SECONDS <= self.origin:
            return Bucket(extras=[])
        return self._cache.get((self._profile.client_id, "hold-entries", index), lambda: self._generate(index))

    def _generate(self, index: int) -> Bucket:
        s = self.settings
        rng = random.Random(derive_seed(self._seed, self._profile.client_id, "holds", index))
        expected = s.arrival_rate * BUCKET_SECONDS
        count = int(expected * (0.7 + 0.6 * rng.random()) + rng.random())
        start = index * BUCKET_SECONDS
        offsets = sorted(int(rng.random() * BUCKET_SECONDS) for _ in range(count))
        dates = DateStrings()
        extras: list[HoldLifecycle] = []
        bucket = Bucket(extras=extras)
        for position, offset in enumerate(offsets):
            ts = start + offset
            uid = index * UID_SPAN + position
            message_id = opaque_id(f"hold:{self._profile.client_id}:{index}:{position}:{self._salt}")
            duration = s.min_hold + rng.random() * (s.max_hold - s.min_hold)
            r = rng.random()
            outcome = (
                "released" if r < s.release_share else "rejected" if r < s.release_share + s.reject_share else "expired"
            )
            own = rng.random() < s.own_share
            record, group = held_message_record(rng, message_id, dates(ts), own, self._profile)
            if ts < self.origin:
                continue
            bucket.keys.append((ts, uid))
            bucket.visible_at.append(float(ts))
            bucket.records.append(record)
            extras.append(HoldLifecycle(message_id, uid, ts, ts + duration, outcome, own, group))
        return bucket

    def find(self, message_id: str) -> tuple[dict[str, Any], HoldLifecycle] | None:
        """The held-message record and lifecycle for ``message_id``, whether or not still held."""
        text = decode_id(message_id)
        if text is None:
            return None
        parts = text.split(":")
        if len(parts) != 5 or parts[0] != "hold" or parts[1] != self._profile.client_id or parts[4] != str(self._salt):
            return None
        try:
            index, position = int(parts[2]), int(parts[3])
        except ValueError:
            return None
        bucket = self.entries(index)
        assert bucket.extras is not None
        for i, lifecycle in enumerate(bucket.extras):
            if lifecycle.uid == index * UID_SPAN + position:
                return bucket.records[i], lifecycle
        return None

    # -- leaving ---------------------------------------------------------------------------------

    def exit_of(self, lifecycle: HoldLifecycle) -> HoldExit:
        """When and how ``lifecycle``'s message leaves hold (an action's override wins)."""
        override = self._overrides.get(lifecycle.message_id)
        if override is not None:
            return override
        if lifecycle.scheduled_outcome == "expired":
            operator = "housekeeping"
        else:
            operator = self._profile.admins[lifecycle.uid % len(self._profile.admins)]
        return HoldExit(lifecycle.scheduled_leave, lifecycle.scheduled_outcome, operator)

    def is_held(self, lifecycle: HoldLifecycle, at: float) -> bool:
        """Whether the message is in the queue at time ``at``."""
        return lifecycle.entered <= at < self.exit_of(lifecycle).at

    def release(self, message_id: str, *, operator: str | None = None) -> bool:
        """Release a held message now. ``False`` when it is unknown or no longer held."""
        return self._leave(message_id, "released", operator, None)

    def reject(self, message_id: str, *, reason: str | None = None, operator: str | None = None) -> bool:
        """Reject a held message now. ``False`` when it is unknown or no longer held."""
        return self._leave(message_id, "rejected", operator, reason)

    def _leave(self, message_id: str, outcome: str, operator: str | None, reason: str | None) -> bool:
        found = self.find(message_id)
        now = self._clock.time()
        if found is None or not self.is_held(found[1], now):
            return False
        lifecycle = found[1]
        scheduled = int(self.exit_of(lifecycle).at) // BUCKET_SECONDS
        self._overrides[message_id] = HoldExit(now, outcome, operator or self._profile.own_mailbox, reason)
        for index in {scheduled, int(now) // BUCKET_SECONDS}:
            self._cache.invalidate((self._profile.client_id, "hold-release", index))
        return True

    # -- views -----------------------------------------------------------------------------------

    def held_at(self, at: float) -> list[tuple[dict[str, Any], HoldLifecycle]]:
        """Every message in the queue at ``at``, newest entry first."""
        out: list[tuple[dict[str, Any], HoldLifecycle]] = []
        last = int(at) // BUCKET_SECONDS
        for index in range(last, last - self._span - 1, -1):
            bucket = self.entries(index)
            assert bucket.extras is not None
            for i in range(len(bucket) - 1, -1, -1):
                lifecycle = bucket.extras[i]
                if self.is_held(lifecycle, at):
                    out.append((bucket.records[i], lifecycle))
        return out

    def summary(self, at: float) -> list[dict[str, Any]]:
        """``get-hold-summary-list`` data: number of held messages per policy, largest first."""
        counts = Counter(record["policyInfo"] for record, _ in self.held_at(at))
        return [
            {"policyInfo": p, "numberOfItems": n} for p, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    def release_log(self, index: int) -> Bucket:
        """Release-log records of messages that left hold during minute ``index``, keyed by leaving time."""
        return self._cache.get((self._profile.client_id, "hold-release", index), lambda: self._build_release(index))

    def _build_release(self, index: int) -> Bucket:
        start, end = index * BUCKET_SECONDS, (index + 1) * BUCKET_SECONDS
        rows: list[tuple[tuple[int, int], float, dict[str, Any], HoldLifecycle]] = []
        for entry_index in range(index - self._span, index + 1):
            bucket = self.entries(entry_index)
            assert bucket.extras is not None
            for i, lifecycle in enumerate(bucket.extras):
                leave = self.exit_of(lifecycle)
                if not start <= leave.at < end:
                    continue
                rng = random.Random(derive_seed(self._seed, self._profile.client_id, "release", lifecycle.uid))
                record = release_log_record(
                    bucket.records[i], leave.outcome, format_time(leave.at), leave.operator, rng
                )
                if leave.reason:
                    record["rejectReason"] = leave.reason
                rows.append(((int(leave.at), lifecycle.uid), leave.at, record, lifecycle))
        rows.sort(key=lambda row: row[0])
        return Bucket(
            keys=[r[0] for r in rows],
            visible_at=[r[1] for r in rows],
            records=[r[2] for r in rows],
            extras=[r[3] for r in rows],
        )

    def lifecycles(self, lo: int, hi_exclusive: int) -> list[dict[str, Any]]:
        """Ground truth: every message that entered hold in ``[lo, hi_exclusive)``, with its exit."""
        out: list[dict[str, Any]] = []
        if lo >= hi_exclusive:
            return out
        for index in range(lo // BUCKET_SECONDS, (hi_exclusive - 1) // BUCKET_SECONDS + 1):
            bucket = self.entries(index)
            assert bucket.extras is not None
            for lifecycle in bucket.extras:
                if lo <= lifecycle.entered < hi_exclusive:
                    leave = self.exit_of(lifecycle)
                    out.append(
                        {
                            "id": lifecycle.message_id,
                            "entered": format_time(lifecycle.entered),
                            "left": format_time(leave.at),
                            "left_epoch": leave.at,
                            "outcome": leave.outcome,
                            "operator": leave.operator,
                            "own": lifecycle.own,
                            "held_group": lifecycle.held_group,
                        }
                    )
        return out

    def pick_held(self, at: float, rng: random.Random) -> str | None:
        """A random message id currently held (handy for tests and demos)."""
        held = self.held_at(at)
        return pick(rng, held)[1].message_id if held else None
