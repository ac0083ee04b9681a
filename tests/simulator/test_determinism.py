"""Same seed, same world; another seed or another app, another world."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mimecast_siem.simulator import SimulatorConfig, World
from mimecast_siem.simulator.config import GROUND_TRUTH_STREAMS

FROZEN = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
T0 = FROZEN.timestamp()


def _world(**changes: object) -> World:
    return World(SimulatorConfig(**{"frozen_at": FROZEN, "history": 3600.0, **changes}))  # type: ignore[arg-type]


def _truth(world: World, stream: str, client_id: str | None = None) -> list[dict[str, Any]]:
    return world.ground_truth(stream, T0 - 1800, T0 - 600, client_id=client_id, include_future_visible=True)


def test_same_seed_same_records_in_every_stream() -> None:
    first, second = _world(seed=5), _world(seed=5)
    for stream in GROUND_TRUTH_STREAMS:
        records = _truth(first, stream)
        assert records, stream
        assert records == _truth(second, stream), stream


def test_cache_eviction_does_not_change_records() -> None:
    small, big = _world(seed=5, cache_records=1000, rates={"ttp-url": 20.0}), _world(seed=5, rates={"ttp-url": 20.0})
    assert _truth(small, "ttp-url") == _truth(big, "ttp-url")
    assert small.cache.records <= 1000 + 20 * 60 * 2  # bounded (one oversized bucket may stay)
    assert _truth(small, "ttp-url") == _truth(big, "ttp-url")


def test_records_do_not_depend_on_when_the_world_started() -> None:
    early = World(SimulatorConfig(seed=5, frozen_at=datetime(2026, 11, 25, 11, 40, tzinfo=UTC), history=3600.0))
    late = _world(seed=5)
    assert early.ground_truth("ttp-url", T0 - 2400, T0 - 2000, include_future_visible=True) == late.ground_truth(
        "ttp-url", T0 - 2400, T0 - 2000, include_future_visible=True
    )


def test_different_seed_different_records() -> None:
    assert _truth(_world(seed=5), "ttp-url") != _truth(_world(seed=6), "ttp-url")


def test_each_app_is_its_own_tenant() -> None:
    world = _world(apps=[("one", "x"), ("two", "y")])
    one, two = _truth(world, "ttp-url", "one"), _truth(world, "ttp-url", "two")
    assert one != two
    assert world.account("one").profile != world.account("two").profile
    assert all(
        r["userEmailAddress"].endswith(world.account("one").profile.domain) for r in one if r["route"] == "inbound"
    )


def test_history_bounds_the_data() -> None:
    world = _world(history=600.0)
    assert world.ground_truth("ttp-url", T0 - 1800, T0 - 601) == []
    records = world.ground_truth("ttp-url", T0 - 600, T0)
    assert records
    assert min(r["date"] for r in records) >= "2026-11-25T11:50:00+0000"


def test_rate_is_roughly_respected() -> None:
    world = _world(rates={"ttp-url": 10.0, "audit": 0.0})
    records = world.ground_truth("ttp-url", T0 - 1800, T0 - 600, include_future_visible=True)
    assert 9000 <= len(records) <= 15000  # 10/s over 1200 s, +-30 % per minute
    assert world.ground_truth("audit", T0 - 1800, T0) == []


def test_hold_ids_differ_between_seeds() -> None:
    first = {r["id"] for r in _truth(_world(seed=5), "held-messages")}
    second = {r["id"] for r in _truth(_world(seed=6), "held-messages")}
    assert first
    assert first.isdisjoint(second)
