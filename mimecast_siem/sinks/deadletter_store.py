"""Where dead letters are kept: the file of one daemon, or the state store shared by every replica.

:class:`DeadLetterStore` is what the router (writing) and ``dead-letters list|replay`` (reading,
replaying) use. Two implementations:

* :class:`~mimecast_siem.sinks.deadletter.DeadLetters` - JSON lines under the data directory (SQLite
  state: one daemon, its volume).
* :class:`StateDeadLetters` - rows of the state store (PostgreSQL state). Every replica writes to and
  reads from the same table, so a pod's refused events survive the pod, and any replica or the CLI
  lists and replays them. A replay claims rows until a deadline (other replays skip them); a crash
  mid-replay lets the claims expire and the rows are replayed again: at-least-once, never lost.

:func:`dead_letter_store` picks one from the settings and the open state store. The state store is
passed in (any object with the :class:`DeadLetterRows` methods), so this package does not depend on
the checkpoints package.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import orjson

from mimecast_siem.sinks.base import Rejection, Sink
from mimecast_siem.sinks.deadletter import (
    DeadLetter,
    DeadLetters,
    ReadResult,
    ReplayOutcome,
    ReplayReport,
    _dedupe,
    _replay_sink,
    dumps_event_json,
    encode_entry,
)

#: How long a replay holds the rows it claimed (a crashed replay's rows come back after this).
CLAIM_TTL = timedelta(minutes=10)


class DeadLetterStoreUnavailable(OSError):
    """The state store did not take the dead letters; the router retries like a full disk."""


@runtime_checkable
class DeadLetterStore(Protocol):
    """Write, read and replay dead letters (see the module docstring)."""

    @property
    def where(self) -> str:
        """Where the entries are kept, for people (no password)."""

    async def write_many(self, sink: str, rejections: Sequence[Rejection]) -> None:
        """Keep ``rejections`` of ``sink`` durably; raise ``OSError`` when that is impossible right now."""

    async def read_all(self, *, sink: str | None = None) -> ReadResult:
        """Every entry (of ``sink``), oldest first, and what could not be parsed."""

    async def replay(
        self,
        sinks: Mapping[str, Sink],
        *,
        only_sink: str | None = None,
        batch_max_events: Mapping[str, int] | None = None,
        dry_run: bool = False,
    ) -> ReplayReport:
        """Re-send entries through their (started) sinks; delivered ones are removed."""


class StoredDeadLetter(Protocol):
    """A row of the state store's dead letters (``checkpoints.DeadLetterRow``)."""

    @property
    def id(self) -> int:
        """Row id."""

    @property
    def entry(self) -> str:
        """The entry as a JSON object (the dead-letter file's line)."""


class DeadLetterRows(Protocol):
    """The dead-letter operations of the state store (``checkpoints.StateStore``)."""

    async def add_dead_letters(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert rows."""

    async def list_dead_letters(
        self, *, sink: str | None = None, limit: int | None = None
    ) -> Sequence[StoredDeadLetter]:
        """Rows, oldest first."""

    async def count_dead_letters(self, *, sink: str | None = None) -> int:
        """How many rows."""

    async def claim_dead_letters(
        self, owner: str, ttl: timedelta, *, sinks: Collection[str], sink: str | None = None
    ) -> Sequence[StoredDeadLetter]:
        """Claim the unclaimed rows of ``sinks``."""

    async def finish_dead_letters(
        self, owner: str, *, delivered: Collection[int], retried: Sequence[tuple[int, str, int, str]]
    ) -> None:
        """Delete delivered rows; update and release retried ones."""


class StateDeadLetters:
    """Dead letters in the state store, shared by every replica.

    Args:
        rows: the open state store.
        where: how ``dead-letters list`` names the place (no password).
        owner: who claims rows during a replay (default: host and process id).
    """

    def __init__(self, rows: DeadLetterRows, *, where: str = "the state store", owner: str | None = None) -> None:
        self._rows = rows
        self._where = where
        self._owner = owner or f"replay-{socket.gethostname()}-{os.getpid()}"

    @property
    def where(self) -> str:
        """Where the entries are kept."""
        return self._where

    async def write_many(self, sink: str, rejections: Sequence[Rejection]) -> None:
        """Insert one row per rejection in one transaction.

        Raises:
            DeadLetterStoreUnavailable: the state store did not take them (nothing counts as handled).
        """
        if not rejections:
            return
        now = datetime.now(UTC)
        rows = []
        for rejection in rejections:
            line = encode_entry(sink, rejection.event, rejection.reason, now=now)
            entry = orjson.loads(line)
            rows.append(
                {
                    "at": now,
                    "sink": sink,
                    "tenant": rejection.event.tenant,
                    "stream": rejection.event.stream,
                    "event_id": rejection.event.event_id,
                    "reason": entry["reason"],
                    "attempts": 0,
                    "entry": line.rstrip(b"\n").decode(),
                }
            )
        try:
            await self._rows.add_dead_letters(rows)
        except Exception as exc:
            raise DeadLetterStoreUnavailable(f"the state store did not take the dead letters ({exc})") from exc

    async def read_all(self, *, sink: str | None = None) -> ReadResult:
        """Every stored entry (of ``sink``), oldest first."""
        return _parse(await self._rows.list_dead_letters(sink=sink))

    async def replay(
        self,
        sinks: Mapping[str, Sink],
        *,
        only_sink: str | None = None,
        batch_max_events: Mapping[str, int] | None = None,
        dry_run: bool = False,
    ) -> ReplayReport:
        """Claim the rows of ``sinks`` (or ``only_sink``), re-send them, delete the delivered ones."""
        report = ReplayReport(dry_run=dry_run)
        everything = await self.read_all()
        report.corrupt_lines = everything.corrupt_lines
        for entry in _dedupe(everything.entries):
            if entry.sink not in sinks and (only_sink is None or entry.sink == only_sink):
                report.skipped_unknown_sink[entry.sink] = report.skipped_unknown_sink.get(entry.sink, 0) + 1
        if dry_run:
            for entry in _dedupe(everything.entries):
                if only_sink is not None and entry.sink != only_sink:
                    report.kept += 1
                elif entry.sink in sinks:
                    report.outcomes.setdefault(entry.sink, ReplayOutcome(entry.sink)).attempted += 1
            return report
        claimed = await self._rows.claim_dead_letters(self._owner, CLAIM_TTL, sinks=list(sinks), sink=only_sink)
        ids: dict[tuple[str, str], list[int]] = {}
        by_sink: dict[str, list[DeadLetter]] = {}
        broken: list[int] = []
        for row in claimed:
            try:
                entry = DeadLetter.from_json(orjson.loads(row.entry))
            except (ValueError, TypeError):
                broken.append(row.id)  # left in place (released below) for an operator to look at
                continue
            key = (entry.sink, entry.event_id)
            if key not in ids:
                by_sink.setdefault(entry.sink, []).append(entry)
            ids.setdefault(key, []).append(row.id)
        delivered: list[int] = []
        retried: list[tuple[int, str, int, str]] = []
        for name, entries in by_sink.items():
            size = (batch_max_events or {}).get(name, 500)
            outcome, remaining = await _replay_sink(name, sinks[name], entries, size)
            report.outcomes[name] = outcome
            stay = {(e.sink, e.event_id): e for e in remaining}
            for entry in entries:
                row_ids = ids[(entry.sink, entry.event_id)]
                kept = stay.get((entry.sink, entry.event_id))
                if kept is None:
                    delivered.extend(row_ids)
                    continue
                line = dumps_event_json(kept.to_json()).decode()
                retried.append((row_ids[0], kept.reason, kept.attempts, line))
                delivered.extend(row_ids[1:])  # duplicates of the same event: one row stays
        for row_id in broken:
            row = next(r for r in claimed if r.id == row_id)
            retried.append((row_id, "unreadable entry", 0, row.entry))
        await self._rows.finish_dead_letters(self._owner, delivered=delivered, retried=retried)
        report.kept = await self._rows.count_dead_letters()
        return report


def _parse(rows: Sequence[StoredDeadLetter]) -> ReadResult:
    result = ReadResult()
    for row in rows:
        try:
            result.entries.append(DeadLetter.from_json(orjson.loads(row.entry)))
        except (ValueError, TypeError):
            result.corrupt.append(row.entry.encode())
    return result


def dead_letter_store(settings: Any, state: Any = None) -> DeadLetterStore:
    """The dead-letter store for ``settings``: the state store's table with PostgreSQL state, else the file.

    Args:
        settings: the configuration (``dead_letter_path()``, ``dead_letter.max_bytes``).
        state: the open state store (``checkpoints.StateStore``), if any.
    """
    if state is not None and getattr(state, "backend", "") == "postgresql":
        return StateDeadLetters(state, where=f"the state store ({getattr(state, 'display_url', 'PostgreSQL')})")
    return DeadLetters(settings.dead_letter_path(), settings.dead_letter.max_bytes)


__all__ = [
    "CLAIM_TTL",
    "DeadLetterRows",
    "DeadLetterStore",
    "DeadLetterStoreUnavailable",
    "StateDeadLetters",
    "dead_letter_store",
]
