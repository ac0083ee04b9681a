"""Deterministic, lazily generated time-bucketed records and the walk that pages through them.

A stream's records live in one-minute buckets. A bucket is generated on first use from a PRNG
seeded by (seed, client id, stream, bucket index), so a multi-day history costs nothing until it is
read, and any bucket can be rebuilt identically after it left the cache. Every record has a sort
key ``(timestamp, uid)`` and a ``visible_at`` time: the API only serves it once the clock has
passed that time (late arrivals have ``visible_at`` well after their timestamp).

:func:`walk` is pure over a bucket source: it returns one page in either direction after a key,
so page tokens carry a key (not an offset) and stay valid while new records arrive.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from mimecast_siem.simulator.config import LateArrivals
from mimecast_siem.simulator.records import AccountProfile, RecordBuilder, derive_seed
from mimecast_siem.simulator.wire import format_time

BUCKET_SECONDS = 60
#: Room for uids inside one bucket: ``uid = bucket index * UID_SPAN + position``.
UID_SPAN = 10_000_000
_KEY_MAX = 1 << 62

RecordKey = tuple[int, int]


@dataclass(slots=True)
class Bucket:
    """The records of one minute in key order, with their visibility times.

    Attributes:
        keys: ``(timestamp, uid)`` per record, ascending.
        visible_at: Epoch seconds from which each record is served.
        records: The records as served.
        extras: Optional per-record side data (hold lifecycles), parallel to ``records``.
    """

    keys: list[RecordKey] = field(default_factory=list)
    visible_at: list[float] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    extras: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.keys)


BucketSource = Callable[[int], Bucket]
Predicate = Callable[[Bucket, int], bool]


class BucketCache:
    """LRU of generated buckets, bounded by the total number of records held."""

    def __init__(self, max_records: int) -> None:
        self._max = max_records
        self._items: OrderedDict[Hashable, Bucket] = OrderedDict()
        self._size = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, build: Callable[[], Bucket]) -> Bucket:
        """The cached bucket for ``key``, building (and caching) it on a miss."""
        bucket = self._items.get(key)
        if bucket is not None:
            self._items.move_to_end(key)
            self.hits += 1
            return bucket
        self.misses += 1
        bucket = build()
        self._items[key] = bucket
        self._size += len(bucket)
        while self._size > self._max and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._size -= len(old)
        return bucket

    def invalidate(self, key: Hashable) -> None:
        """Forget ``key`` so its bucket is rebuilt on next use."""
        bucket = self._items.pop(key, None)
        if bucket is not None:
            self._size -= len(bucket)

    @property
    def records(self) -> int:
        """Records currently cached."""
        return self._size


@dataclass(frozen=True, slots=True)
class WalkRange:
    """What one page request asks for.

    Attributes:
        lo: Earliest timestamp, inclusive (epoch seconds).
        hi: Latest timestamp, inclusive (the API's ``to`` is inclusive: mimecast-api.md quirk 3).
        cutoff: Visibility snapshot: only records with ``visible_at <= cutoff`` exist for this walk.
        descending: Newest first (the API default) when true.
        after: Key of the last record already returned; the page starts just past it.
    """

    lo: int
    hi: int
    cutoff: float
    descending: bool
    after: RecordKey | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a walk: its records, the key of its last record, and whether more follow."""

    records: list[dict[str, Any]]
    last_key: RecordKey | None
    has_more: bool


def walk(source: BucketSource, rng: WalkRange, predicate: Predicate | None, limit: int) -> Page:
    """Return up to ``limit`` records of ``rng`` in order, after ``rng.after``.

    Pure over ``source``: the same buckets give the same page.
    """
    hi = min(rng.hi, int(rng.cutoff))  # nothing is visible before its own timestamp
    if rng.lo > hi or limit < 1:
        return Page([], None, False)
    out: list[dict[str, Any]] = []
    last: RecordKey | None = None
    after = rng.after
    if not rng.descending:
        start = max(rng.lo, after[0]) if after else rng.lo
        lo_key = (rng.lo, -1)
        for b in range(start // BUCKET_SECONDS, hi // BUCKET_SECONDS + 1):
            bucket = source(b)
            keys, vis = bucket.keys, bucket.visible_at
            i = bisect_left(keys, lo_key)
            if after is not None and after[0] // BUCKET_SECONDS == b:
                i = max(i, bisect_right(keys, after))
            n = len(keys)
            while i < n:
                key = keys[i]
                if key[0] > hi:
                    return Page(out, last, False)
                if vis[i] <= rng.cutoff and (predicate is None or predicate(bucket, i)):
                    if len(out) == limit:
                        return Page(out, last, True)
                    out.append(bucket.records[i])
                    last = key
                i += 1
        return Page(out, last, False)
    start = min(hi, after[0]) if after else hi
    hi_key = (hi, _KEY_MAX)
    for b in range(start // BUCKET_SECONDS, rng.lo // BUCKET_SECONDS - 1, -1):
        bucket = source(b)
        keys, vis = bucket.keys, bucket.visible_at
        i = bisect_right(keys, hi_key) - 1
        if after is not None and after[0] // BUCKET_SECONDS == b:
            i = min(i, bisect_left(keys, after) - 1)
        while i >= 0:
            key = keys[i]
            if key[0] < rng.lo:
                return Page(out, last, False)
            if vis[i] <= rng.cutoff and (predicate is None or predicate(bucket, i)):
                if len(out) == limit:
                    return Page(out, last, True)
                out.append(bucket.records[i])
                last = key
            i -= 1
    return Page(out, last, False)


def collect(
    source: BucketSource, lo: int, hi_exclusive: int, visible_by: float | None, predicate: Predicate | None = None
) -> list[dict[str, Any]]:
    """Every record with ``lo <= timestamp < hi_exclusive``, oldest first, visible by ``visible_by``.

    ``visible_by=None`` includes records that are not visible yet (late arrivals still to come).
    """
    out: list[dict[str, Any]] = []
    if lo >= hi_exclusive:
        return out
    for b in range(lo // BUCKET_SECONDS, (hi_exclusive - 1) // BUCKET_SECONDS + 1):
        bucket = source(b)
        for i, key in enumerate(bucket.keys):
            if not lo <= key[0] < hi_exclusive:
                continue
            if visible_by is not None and bucket.visible_at[i] > visible_by:
                continue
            if predicate is None or predicate(bucket, i):
                out.append(bucket.records[i])
    return out


class DateStrings:
    """Formatted timestamps, memoised per bucket (formatting is a measurable share of generation)."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def __call__(self, ts: int) -> str:
        text = self._cache.get(ts)
        if text is None:
            text = self._cache[ts] = format_time(ts)
        return text


class LogStream:
    """One rated log stream of one tenant: records exist from ``origin`` on, at ``rate`` per second.

    Args:
        name: Stream name (``ttp-url`` ...).
        builder: Makes one record from the PRNG.
        rate: Mean records per second.
        seed: World seed.
        profile: The tenant.
        origin: Epoch seconds of the oldest possible record.
        late: Late-arrival settings.
        cache: Shared bucket cache.
    """

    def __init__(
        self,
        name: str,
        builder: RecordBuilder,
        *,
        rate: float,
        seed: int,
        profile: AccountProfile,
        origin: int,
        late: LateArrivals,
        cache: BucketCache,
    ) -> None:
        self.name = name
        self._builder = builder
        self.rate = rate
        self._seed = seed
        self._profile = profile
        self.origin = origin
        self._late = late
        self._cache = cache

    def bucket(self, index: int) -> Bucket:
        """The records of minute ``index`` (epoch seconds // 60)."""
        if self.rate <= 0 or (index + 1) * BUCKET_SECONDS <= self.origin:
            return Bucket()
        return self._cache.get((self._profile.client_id, self.name, index), lambda: self._generate(index))

    def _generate(self, index: int) -> Bucket:
        rng = random.Random(derive_seed(self._seed, self._profile.client_id, self.name, index))
        expected = self.rate * BUCKET_SECONDS
        count = int(expected * (0.7 + 0.6 * rng.random()) + rng.random())
        start = index * BUCKET_SECONDS
        offsets = sorted(int(rng.random() * BUCKET_SECONDS) for _ in range(count))
        late_fraction, late_min = self._late.fraction, self._late.min_delay
        late_span = self._late.max_delay - late_min
        dates = DateStrings()
        bucket = Bucket()
        builder, profile, origin = self._builder, self._profile, self.origin
        uid_base = index * UID_SPAN
        for position, offset in enumerate(offsets):
            ts = start + offset
            record = builder(rng, ts, dates(ts), profile)
            # Draw every value before deciding to skip, so the stream is the same whatever the origin.
            delay = late_min + rng.random() * late_span if rng.random() < late_fraction else rng.random()
            if ts < origin:
                continue
            bucket.keys.append((ts, uid_base + position))
            bucket.visible_at.append(ts + delay)
            bucket.records.append(record)
        return bucket
