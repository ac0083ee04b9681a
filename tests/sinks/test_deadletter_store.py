"""Dead letters in the state store (what PostgreSQL state uses), on a real store: write, read, replay with
refusals, duplicates and a replay that never finished; the choice between the file and the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.sinks.base import Rejection
from mimecast_siem.sinks.deadletter import DeadLetters
from mimecast_siem.sinks.deadletter_store import (
    CLAIM_TTL,
    DeadLetterStoreUnavailable,
    StateDeadLetters,
    dead_letter_store,
)
from tests.sinks.builders import batch
from tests.sinks.scripted_sink import ScriptedSink, reject_every_other


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[StateStore]:
    state = await StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield state
    await state.close()


async def test_write_read_and_replay_with_refusals(store: StateStore) -> None:
    letters = StateDeadLetters(store, owner="replay-1")
    events, others = batch(6), batch(2, "audit")
    await letters.write_many("splunk", [Rejection(e, "HEC code 7: Incorrect index token=abc") for e in events])
    await letters.write_many("retired", [Rejection(e, "gone") for e in others])
    await letters.write_many("splunk", [Rejection(events[0], "again")])  # the same event refused twice
    read = await letters.read_all(sink="splunk")
    assert [e.event_id for e in read.entries] == [e.event_id for e in events] + [events[0].event_id]
    assert read.entries[0].event == events[0]

    dry = await letters.replay({"splunk": ScriptedSink("splunk")}, dry_run=True)
    assert dry.outcomes["splunk"].attempted == 6
    assert dry.skipped_unknown_sink == {"retired": 1 + 1}
    assert await store.count_dead_letters() == 9, "a dry run changes nothing"

    sink = ScriptedSink("splunk", [reject_every_other])
    report = await letters.replay({"splunk": sink}, batch_max_events={"splunk": 10})
    assert report.outcomes["splunk"].attempted == 6
    assert report.outcomes["splunk"].delivered == 3
    assert report.outcomes["splunk"].rejected == 3
    assert [e.event_id for e in sink.received] == [e.event_id for e in events[::2]]
    left = await letters.read_all(sink="splunk")
    assert [e.event_id for e in left.entries] == [e.event_id for e in events[1::2]]
    assert all(e.attempts == 1 and e.reason.startswith("HEC code 6") for e in left.entries)
    assert report.kept == 3 + 2

    again = await letters.replay({"splunk": ScriptedSink("splunk")})
    assert again.outcomes["splunk"].delivered == 3
    assert await store.count_dead_letters(sink="splunk") == 0


async def test_a_replay_that_never_finished_leaves_rows_claimed_until_they_expire(store: StateStore) -> None:
    letters = StateDeadLetters(store, owner="replay-crashed")
    await letters.write_many("splunk", [Rejection(e, "refused") for e in batch(3)])
    claimed = await store.claim_dead_letters("replay-crashed", timedelta(seconds=-1), sinks=["splunk"])
    assert len(claimed) == 3  # claimed, then the process died (a deadline already passed)
    other = StateDeadLetters(store, owner="replay-2")
    report = await other.replay({"splunk": ScriptedSink("splunk")})
    assert report.outcomes["splunk"].delivered == 3, "expired claims are taken over"
    await letters.write_many("splunk", [Rejection(e, "refused") for e in batch(2, start=10)])
    assert len(await store.claim_dead_letters("replay-3", CLAIM_TTL, sinks=["splunk"])) == 2
    busy = await other.replay({"splunk": ScriptedSink("splunk")})
    assert "splunk" not in busy.outcomes, "rows another replay holds are left alone"
    assert await store.count_dead_letters() == 2


async def test_a_store_that_fails_is_an_os_error_for_the_router(store: StateStore) -> None:
    letters = StateDeadLetters(store)
    await store.close()
    with pytest.raises(DeadLetterStoreUnavailable):
        await letters.write_many("splunk", [Rejection(batch(1)[0], "refused")])


async def test_the_file_unless_the_state_is_postgresql(store: StateStore, tmp_path: Path) -> None:
    settings: Any = SimpleNamespace(
        dead_letter_path=lambda: tmp_path / "dl.ndjson", dead_letter=SimpleNamespace(max_bytes=1000)
    )
    assert isinstance(dead_letter_store(settings, store), DeadLetters)  # SQLite state
    assert isinstance(dead_letter_store(settings, None), DeadLetters)
    postgres: Any = SimpleNamespace(backend="postgresql", display_url="postgresql+psycopg://m:***@db/m")
    chosen = dead_letter_store(settings, postgres)
    assert isinstance(chosen, StateDeadLetters)
    assert chosen.where == "the state store (postgresql+psycopg://m:***@db/m)"
