"""The pure page walk: any page size, direction and range gives exactly the filtered records, once."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.simulator.logstore import BUCKET_SECONDS, UID_SPAN, Bucket, BucketCache, WalkRange, collect, walk

ORIGIN = 1_000_000 * BUCKET_SECONDS


def _source(seed: int, density: int) -> tuple[Any, list[tuple[tuple[int, int], float, dict[str, Any]]]]:
    """Ten minutes of records: (key, visible_at, record) in key order, and a bucket source over them."""
    rng = random.Random(seed)
    rows: list[tuple[tuple[int, int], float, dict[str, Any]]] = []
    buckets: dict[int, Bucket] = {}
    for index in range(ORIGIN // BUCKET_SECONDS, ORIGIN // BUCKET_SECONDS + 10):
        bucket = Bucket()
        offsets = sorted(rng.randrange(BUCKET_SECONDS) for _ in range(rng.randrange(density + 1)))
        for pos, off in enumerate(offsets):
            ts = index * BUCKET_SECONDS + off
            key = (ts, index * UID_SPAN + pos)
            vis = ts + (rng.uniform(0, 300) if rng.random() < 0.2 else rng.random())
            record = {"ts": ts, "uid": key[1], "odd": pos % 2 == 1}
            bucket.keys.append(key)
            bucket.visible_at.append(vis)
            bucket.records.append(record)
            rows.append((key, vis, record))
        buckets[index] = bucket
    return (lambda index: buckets.get(index, Bucket())), rows


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    density=st.sampled_from([0, 3, 40, 200]),
    lo_off=st.integers(-100, 700),
    span=st.integers(0, 700),
    cutoff_off=st.integers(0, 1000),
    descending=st.booleans(),
    page_size=st.integers(1, 60),
    odd_only=st.booleans(),
)
def test_paging_returns_every_matching_record_once_in_order(
    seed: int, density: int, lo_off: int, span: int, cutoff_off: int, descending: bool, page_size: int, odd_only: bool
) -> None:
    source, rows = _source(seed, density)
    lo, hi, cutoff = ORIGIN + lo_off, ORIGIN + lo_off + span, float(ORIGIN + cutoff_off)
    predicate = (lambda b, i: b.records[i]["odd"]) if odd_only else None
    expected = [r for k, v, r in rows if lo <= k[0] <= hi and v <= cutoff and (not odd_only or r["odd"])]
    if descending:
        expected.reverse()
    got: list[dict[str, Any]] = []
    after = None
    for _ in range(10_000):
        page = walk(source, WalkRange(lo, hi, cutoff, descending, after), predicate, page_size)
        assert len(page.records) <= page_size
        got.extend(page.records)
        if not page.has_more:
            break
        assert len(page.records) == page_size
        after = page.last_key
    assert got == expected


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), lo_off=st.integers(0, 600), span=st.integers(0, 600), visible=st.booleans())
def test_collect_is_the_half_open_range(seed: int, lo_off: int, span: int, visible: bool) -> None:
    source, rows = _source(seed, 30)
    lo, hi = ORIGIN + lo_off, ORIGIN + lo_off + span
    by = float(ORIGIN + 400) if visible else None
    expected = [r for k, v, r in rows if lo <= k[0] < hi and (by is None or v <= by)]
    assert collect(source, lo, hi, by) == expected


def test_walk_with_nothing_visible_is_empty() -> None:
    source, _ = _source(1, 50)
    page = walk(source, WalkRange(ORIGIN, ORIGIN + 600, float(ORIGIN - 1), True), None, 10)
    assert page.records == []
    assert page.has_more is False
    assert page.last_key is None


def test_cache_is_bounded_and_counts() -> None:
    cache = BucketCache(max_records=10)
    built: list[int] = []

    def make(n: int) -> Bucket:
        built.append(n)
        return Bucket(keys=[(i, i) for i in range(n)], visible_at=[0.0] * n, records=[{}] * n)

    cache.get("a", lambda: make(6))
    cache.get("b", lambda: make(6))  # evicts "a"
    assert cache.records == 6
    cache.get("b", lambda: make(6))
    cache.get("a", lambda: make(6))
    assert built == [6, 6, 6]
    assert (cache.hits, cache.misses) == (1, 3)
    cache.invalidate("a")
    assert cache.records == 0
