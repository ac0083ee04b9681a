"""Held-queue snapshot diff: entered / left / held-for, restart safety, odd listings."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.collector.snapshots import diff_hold_queue

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def held(message_id: str, received: str | None = "2026-11-25T09:00:00+0000") -> dict[str, Any]:
    record: dict[str, Any] = {"id": message_id, "subject": f"s-{message_id}"}
    if received is not None:
        record["dateReceived"] = received
    return record


def test_first_poll_reports_every_held_message_as_entered() -> None:
    diff = diff_hold_queue({}, [held("a"), held("b")], T0)
    assert [r["id"] for r in diff.entered] == ["a", "b"]
    assert diff.left == []
    assert set(diff.snapshot) == {"a", "b"}


def test_left_message_carries_hold_duration_from_date_received() -> None:
    first = diff_hold_queue({}, [held("a"), held("b")], T0)
    second = diff_hold_queue(first.snapshot, [held("b"), held("c")], T0 + timedelta(minutes=30))
    assert [r["id"] for r in second.entered] == ["c"]
    assert [(x.record["id"], x.held_for) for x in second.left] == [("a", timedelta(minutes=90))]
    assert set(second.snapshot) == {"b", "c"}


def test_hold_duration_falls_back_to_first_seen() -> None:
    first = diff_hold_queue({}, [held("a", received=None)], T0)
    second = diff_hold_queue(first.snapshot, [], T0 + timedelta(minutes=7))
    assert second.left[0].held_for == timedelta(minutes=7)


def test_snapshot_round_trips_through_json_like_storage() -> None:
    """The stored snapshot is plain JSON data; a restarted daemon diffs against the reloaded copy."""
    import json

    first = diff_hold_queue({}, [held("a"), held("b")], T0)
    reloaded = json.loads(json.dumps(first.snapshot))
    second = diff_hold_queue(reloaded, [held("b")], T0 + timedelta(minutes=1))
    assert second.entered == []
    assert [x.record["id"] for x in second.left] == ["a"]


def test_confirm_after_requires_consecutive_absences() -> None:
    first = diff_hold_queue({}, [held("a")], T0, confirm_after=2)
    missing_once = diff_hold_queue(first.snapshot, [], T0 + timedelta(minutes=1), confirm_after=2)
    assert missing_once.left == []
    assert "a" in missing_once.snapshot
    back = diff_hold_queue(missing_once.snapshot, [held("a")], T0 + timedelta(minutes=2), confirm_after=2)
    assert back.entered == []  # it never left
    assert back.snapshot["a"]["missing"] == 0


def test_records_without_id_and_repeats_are_tolerated() -> None:
    diff = diff_hold_queue({}, [held("a"), held("a"), {"subject": "no id"}, "junk"], T0)  # type: ignore[list-item]
    assert [r["id"] for r in diff.entered] == ["a"]
    assert diff.without_id == 1


@settings(max_examples=200, deadline=None)
@given(
    polls=st.lists(st.sets(st.sampled_from("abcdefgh"), max_size=8), min_size=1, max_size=8),
)
def test_every_message_enters_once_per_stay_and_leaves_once(polls: list[set[str]]) -> None:
    """Replaying any sequence of queue states: enter/leave events alternate per id and match the states."""
    snapshot: dict[str, dict[str, Any]] = {}
    transitions: dict[str, list[str]] = {}
    for i, ids in enumerate(polls):
        diff = diff_hold_queue(snapshot, [held(x) for x in sorted(ids)], T0 + timedelta(minutes=i))
        for record in diff.entered:
            transitions.setdefault(record["id"], []).append("entered")
        for gone in diff.left:
            transitions.setdefault(gone.record["id"], []).append("left")
        snapshot = diff.snapshot
        assert set(snapshot) == ids
    for message_id, seq in transitions.items():
        assert seq[0] == "entered"
        assert all(a != b for a, b in itertools.pairwise(seq)), (message_id, seq)
        assert (seq[-1] == "entered") == (message_id in polls[-1])
