"""Held-queue snapshots: which messages entered and which left the hold queue (pure).

``get-hold-message-list`` returns the queue as it is now, not a log (quirk 11). Each poll the
collector compares the current list with the snapshot stored at the previous commit:

* an id that is new → an ``entered`` event;
* an id that is no longer listed → a ``left`` event, with how long it was held (from the record's
  ``dateReceived``, or from when the collector first saw it).

The snapshot is stored with the checkpoint in one transaction (``commit_window(snapshot=...)``), so
the diff survives restarts: a message that left while the daemon was down is reported once it is
back. ``confirm_after`` (default 1) lets a caller require an id to be missing from that many
consecutive polls before it is declared gone, as protection against a queue that pages unstably.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mimecast_siem.streams import held_since, iso, parse_time

#: Keys of a snapshot entry (the stored value of one held message).
_RECORD = "record"
_FIRST_SEEN = "first_seen"
_MISSING = "missing"

Snapshot = dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class LeftHold:
    """A message that is no longer held, and for how long it was."""

    record: dict[str, Any]
    held_for: timedelta | None


@dataclass(slots=True)
class HoldDiff:
    """Result of comparing the stored snapshot with the current queue."""

    entered: list[dict[str, Any]] = field(default_factory=list)
    left: list[LeftHold] = field(default_factory=list)
    snapshot: Snapshot = field(default_factory=dict)
    without_id: int = 0


def diff_hold_queue(
    previous: Mapping[str, Mapping[str, Any]],
    current: Sequence[Mapping[str, Any]],
    now: datetime,
    *,
    confirm_after: int = 1,
) -> HoldDiff:
    """Compare ``previous`` (a stored snapshot) with the ``current`` queue listing.

    Args:
        previous: snapshot from the last commit (``{id: entry}``), empty on the first poll.
        current: the records of this poll (all pages).
        now: time of this poll (UTC-aware); the time of ``left`` events.
        confirm_after: polls an id must be missing before it counts as left (>= 1).

    Returns:
        The entered records, the left ones (with hold durations) and the snapshot to store.
    """
    if confirm_after < 1:
        raise ValueError("confirm_after must be at least 1")
    diff = HoldDiff()
    for record in current:
        if not isinstance(record, Mapping):
            continue
        message_id = record.get("id")
        if not isinstance(message_id, str) or not message_id:
            diff.without_id += 1
            continue
        if message_id in diff.snapshot:  # the same id twice in one listing (pages shifted)
            continue
        before = previous.get(message_id)
        if before is None:
            diff.entered.append(dict(record))
            first_seen = iso(now)
        else:
            first_seen = str(before.get(_FIRST_SEEN) or iso(now))
        diff.snapshot[message_id] = {_RECORD: dict(record), _FIRST_SEEN: first_seen, _MISSING: 0}
    for message_id, entry in previous.items():
        if message_id in diff.snapshot:
            continue
        missing = _int(entry.get(_MISSING)) + 1
        record = dict(entry.get(_RECORD) or {"id": message_id})
        if missing < confirm_after:
            diff.snapshot[message_id] = {**entry, _MISSING: missing}
            continue
        diff.left.append(LeftHold(record=record, held_for=_held_for(record, entry, now)))
    return diff


def _held_for(record: Mapping[str, Any], entry: Mapping[str, Any], now: datetime) -> timedelta | None:
    since = held_since(record) or parse_time(entry.get(_FIRST_SEEN))
    if since is None:
        return None
    return max(now - since, timedelta(0))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
