"""The batch progress every multi-request sink keeps across the router's retries, and the optional-extra import."""

from __future__ import annotations

import pytest

from mimecast_siem.errors import ConfigError
from mimecast_siem.sinks.progress import BatchProgress, ProgressMemory, batch_key
from mimecast_siem.sinks.registry import import_extra
from tests.sinks.builders import batch


def test_a_kept_attempt_is_what_the_retry_of_the_same_batch_takes() -> None:
    memory: ProgressMemory[int] = ProgressMemory()
    events = batch(3)
    key, progress = memory.take(events)
    progress.done.update({0, 1})
    progress.rejected[2] = "refused"
    progress.bytes_sent = 10
    memory.keep(key, progress)
    again_key, again = memory.take(events)
    assert again_key == key
    assert again is progress
    assert len(memory) == 0  # taken: a later success forgets it
    _, other = memory.take(batch(3, start=3))
    assert other.done == set()
    assert other.rejected == {}
    assert other.bytes_sent == 0


def test_the_batch_key_depends_on_the_ids_their_order_and_count() -> None:
    events = batch(3)
    assert batch_key(events) == batch_key(list(events))
    assert batch_key(events) != batch_key(list(reversed(events)))
    assert batch_key(events) != batch_key(events[:2])


def test_the_oldest_attempt_is_forgotten_past_the_memory_size() -> None:
    memory: ProgressMemory[str] = ProgressMemory(size=2)
    batches = [batch(1, start=n) for n in range(3)]
    for events in batches:
        key, progress = memory.take(events)
        progress.done.add(f"object-{key}")
        memory.keep(key, progress)
    assert len(memory) == 2
    assert memory.take(batches[0])[1].done == set()
    assert memory.take(batches[2])[1].done != set()


def test_the_result_accepts_every_event_not_refused_in_batch_order() -> None:
    events = batch(4)
    progress: BatchProgress[int] = BatchProgress(rejected={3: "too large", 1: "bad"}, bytes_sent=42)
    result = progress.result(events)
    assert result.accepted == 2
    assert [(r.event, r.reason) for r in result.rejected] == [(events[1], "bad"), (events[3], "too large")]
    assert result.bytes_sent == 42


def test_a_missing_extra_is_a_config_error_naming_the_package_and_the_extra() -> None:
    with pytest.raises(ConfigError) as caught:
        import_extra("no_such_package_xyz.sub", "kafka", what="compression zstd", key="compression")
    assert str(caught.value) == "the compression zstd support is not installed"
    (problem,) = caught.value.problems
    assert problem.key == "compression"
    assert "no_such_package_xyz: pip install 'mimecast-siem[kafka]'" in problem.message
    assert import_extra("json", "none").dumps([1]) == "[1]"
