"""Dead letters: events a sink refused permanently, kept on disk until an operator replays them.

File format: JSON lines, one entry per event::

    {"ts": "2026-11-25T10:00:00.123456+00:00", "sink": "splunk", "tenant": "acme", "stream": "ttp-url",
     "event_id": "9f2c...", "reason": "HEC code 6: Invalid data format", "event": {<Event as JSON>}}

``event`` is :func:`event_to_json` of the event (id, tenant, stream, timestamp, kind, document, raw,
extra), so a replay sends exactly what the collector produced, in any format.

Durability and safety:

* Every write is appended and fsync'd before :meth:`DeadLetters.write_many` returns, so a dead-lettered
  event counts as handled only once it is on disk.
* Writers (the daemon) and the replay command (another process) coordinate with ``flock`` on
  ``<path>.lock``. A torn last line left by a crash is isolated by a newline before the next append;
  readers skip lines that do not parse and report how many.
* Rotation by size: past ``max_bytes`` the live file is renamed to ``<path>.<UTC stamp>``. Dead letters
  are data, so rotated segments are never deleted automatically; ``list`` and ``replay`` read them all.
* Replay claims segments by renaming them to ``*.replaying`` (one replay at a time, guarded by
  ``<path>.replay.lock``), sends the entries, writes what is left (other sinks' entries and failures) to a
  new segment, then deletes the claimed files. A crash mid-replay leaves the ``.replaying`` files, which
  the next replay picks up: entries may be sent twice (at-least-once), never lost. Entries are
  deduplicated by (sink, event_id) when read for a replay.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from mimecast_siem.errors import MimecastSiemError
from mimecast_siem.events import Event
from mimecast_siem.observability import scrub
from mimecast_siem.sinks.base import Rejection, Sink, SinkPermanentError, SinkTransientError
from mimecast_siem.sinks.durable import fsync_dir, write_all

log = logging.getLogger("mimecast_siem.sinks")

REPLAYING_SUFFIX = ".replaying"


# --- Event <-> JSON --------------------------------------------------------------------------------


def event_to_json(event: Event) -> dict[str, Any]:
    """The event as a JSON-ready dict (round-trips through :func:`event_from_json`)."""
    return {
        "event_id": event.event_id,
        "tenant": event.tenant,
        "stream": event.stream,
        "timestamp": event.timestamp.isoformat(),
        "kind": event.kind,
        "document": event.document,
        "raw": event.raw,
        "extra": event.extra,
    }


def event_from_json(data: Mapping[str, Any]) -> Event:
    """Rebuild an :class:`Event` from :func:`event_to_json` output.

    Raises:
        ValueError: a required key is missing or has the wrong type.
    """
    try:
        timestamp = datetime.fromisoformat(str(data["timestamp"]))
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        document = data.get("document") or {}
        raw = data.get("raw") or {}
        extra = data.get("extra") or {}
        if not isinstance(document, dict) or not isinstance(raw, dict) or not isinstance(extra, dict):
            raise ValueError("document, raw and extra must be JSON objects")
        return Event(
            event_id=str(data["event_id"]),
            tenant=str(data["tenant"]),
            stream=str(data["stream"]),
            timestamp=timestamp,
            document=document,
            raw=raw,
            kind=str(data.get("kind") or "log"),
            extra=extra,
        )
    except KeyError as exc:
        raise ValueError(f"event JSON lacks the key {exc.args[0]!r}") from None


def dumps_event_json(value: Any) -> bytes:
    """Serialise a JSON-ready value; odd leaf types (sets, bytes, Decimals) become strings."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)


# --- entries ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered event as read back from disk."""

    ts: datetime
    sink: str
    tenant: str
    stream: str
    event_id: str
    reason: str
    event: Event
    attempts: int = 0

    def to_json(self) -> dict[str, Any]:
        """The on-disk JSON object of this entry."""
        data: dict[str, Any] = {
            "ts": self.ts.isoformat(),
            "sink": self.sink,
            "tenant": self.tenant,
            "stream": self.stream,
            "event_id": self.event_id,
            "reason": self.reason,
            "event": event_to_json(self.event),
        }
        if self.attempts:
            data["attempts"] = self.attempts
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeadLetter:
        """Parse one line's object; raises ValueError when it is not a dead-letter entry."""
        if not isinstance(data, Mapping) or not isinstance(data.get("event"), Mapping):
            raise ValueError("not a dead-letter entry")
        event = event_from_json(data["event"])
        ts = datetime.fromisoformat(str(data.get("ts") or event.timestamp.isoformat()))
        return cls(
            ts=ts if ts.tzinfo else ts.replace(tzinfo=UTC),
            sink=str(data.get("sink") or ""),
            tenant=str(data.get("tenant") or event.tenant),
            stream=str(data.get("stream") or event.stream),
            event_id=str(data.get("event_id") or event.event_id),
            reason=str(data.get("reason") or ""),
            event=event,
            attempts=int(data.get("attempts") or 0),
        )


def encode_entry(sink: str, event: Event, reason: str, *, now: datetime | None = None) -> bytes:
    """One dead-letter line (with its trailing newline).

    The reason is masked like a log line: it quotes the receiver's answer, and a receiver may echo
    the token it was sent. The event is data and is kept exactly.
    """
    entry = DeadLetter(
        ts=now or datetime.now(UTC),
        sink=sink,
        tenant=event.tenant,
        stream=event.stream,
        event_id=event.event_id,
        reason=scrub(reason),
        event=event,
    )
    return dumps_event_json(entry.to_json()) + b"\n"


@dataclass(slots=True)
class ReadResult:
    """Entries read from the dead-letter files, plus the lines that could not be parsed."""

    entries: list[DeadLetter] = field(default_factory=list)
    corrupt: list[bytes] = field(default_factory=list)

    @property
    def corrupt_lines(self) -> int:
        """How many lines could not be parsed."""
        return len(self.corrupt)


@dataclass(slots=True)
class ReplayOutcome:
    """What one sink did with its replayed entries."""

    sink: str
    attempted: int = 0
    delivered: int = 0
    rejected: int = 0
    failed: int = 0
    error: str | None = None


@dataclass(slots=True)
class ReplayReport:
    """Result of :meth:`DeadLetters.replay`."""

    outcomes: dict[str, ReplayOutcome] = field(default_factory=dict)
    kept: int = 0
    skipped_unknown_sink: dict[str, int] = field(default_factory=dict)
    corrupt_lines: int = 0
    dry_run: bool = False

    @property
    def delivered(self) -> int:
        """Entries delivered (and removed) across sinks."""
        return sum(o.delivered for o in self.outcomes.values())

    @property
    def failed(self) -> int:
        """Entries that stay because sending failed or was refused again."""
        return sum(o.failed + o.rejected for o in self.outcomes.values())


class ReplayBusy(MimecastSiemError):
    """Another replay of the same dead-letter file is running."""


# --- the store ---------------------------------------------------------------------------------


class DeadLetters:
    """The dead-letter file of one daemon (see the module docstring for the guarantees).

    Args:
        path: the live file, e.g. ``<data_dir>/dead-letters.ndjson``.
        max_bytes: rotate the live file once it grows past this many bytes.
    """

    def __init__(self, path: Path | str, max_bytes: int = 1_073_741_824) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._thread_lock = threading.Lock()

    @property
    def where(self) -> str:
        """Where the entries are kept (shown by ``dead-letters list``)."""
        return str(self.path)

    async def read_all(self, *, sink: str | None = None) -> ReadResult:
        """:meth:`read` off the event loop (the :class:`~mimecast_siem.sinks.deadletter_store.DeadLetterStore` face)."""
        return await asyncio.to_thread(self.read, sink=sink)

    # -- writing -------------------------------------------------------------------------------

    async def write(self, sink: str, event: Event, reason: str) -> None:
        """Append one entry durably (fsync'd before returning)."""
        await self.write_many(sink, [Rejection(event, reason)])

    async def write_many(self, sink: str, rejections: Sequence[Rejection]) -> None:
        """Append entries for ``rejections`` of ``sink`` with one fsync.

        Raises:
            OSError: the file could not be written (disk full, permissions); nothing counts as handled.
        """
        if not rejections:
            return
        now = datetime.now(UTC)
        data = b"".join(encode_entry(sink, r.event, r.reason, now=now) for r in rejections)
        await asyncio.to_thread(self.append_bytes, data)

    def append_bytes(self, data: bytes) -> None:
        """Append already-encoded lines, fsync, rotate past ``max_bytes`` (blocking)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, self._locked():
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and not _ends_with_newline(self.path, size):
                    # A crash tore the last line: isolate it so the next entry parses.
                    data = b"\n" + data
                write_all(fd, data)
                os.fsync(fd)
                size += len(data)
            finally:
                os.close(fd)
            if created:
                fsync_dir(self.path.parent)
            if size >= self.max_bytes:
                self._rotate_locked()

    def _rotate_locked(self) -> None:
        target = self.path.with_name(f"{self.path.name}.{_stamp()}")
        os.replace(self.path, target)
        fsync_dir(self.path.parent)
        log.info("Rotated the dead-letter file to %s.", target.name)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # -- reading -------------------------------------------------------------------------------

    def segments(self) -> list[Path]:
        """Every file holding entries: rotated and claimed segments oldest first, the live file last."""
        if not self.path.parent.exists():
            return []
        prefix = self.path.name + "."
        others = sorted(
            p
            for p in self.path.parent.iterdir()
            if p.name.startswith(prefix) and not p.name.endswith((".lock", ".tmp")) and p.is_file()
        )
        return [*others, self.path] if self.path.exists() else others

    def read(self, *, sink: str | None = None, paths: Sequence[Path] | None = None) -> ReadResult:
        """Read entries (optionally only those of ``sink``) from every segment, oldest first."""
        result = ReadResult()
        for path in paths if paths is not None else self.segments():
            for line in _lines(path):
                try:
                    entry = DeadLetter.from_json(orjson.loads(line))
                except (ValueError, TypeError):
                    result.corrupt.append(line)
                    continue
                if sink is None or entry.sink == sink:
                    result.entries.append(entry)
        return result

    def list(self, *, sink: str | None = None, limit: int | None = None) -> builtins.list[DeadLetter]:
        """Entries, oldest first; ``limit`` keeps the most recent ones."""
        entries = self.read(sink=sink).entries
        if limit is not None and limit >= 0:
            entries = entries[-limit:] if limit else []
        return entries

    # -- replay --------------------------------------------------------------------------------

    async def replay(  # the file store's; deadletter_store.StateDeadLetters has the same signature
        self,
        sinks: Mapping[str, Sink],
        *,
        only_sink: str | None = None,
        batch_max_events: Mapping[str, int] | None = None,
        dry_run: bool = False,
    ) -> ReplayReport:
        """Re-send entries through their sinks; delivered entries are removed, the rest stay.

        Args:
            sinks: started sinks by name. Entries of sinks not in here are kept and counted in
                ``skipped_unknown_sink``.
            only_sink: replay only this sink's entries (others are kept untouched).
            batch_max_events: per-sink batch size (default 500).
            dry_run: count what would be sent; send nothing, change nothing.

        Raises:
            ReplayBusy: another replay holds the replay lock.
        """
        report = ReplayReport(dry_run=dry_run)
        if dry_run:
            read = await asyncio.to_thread(self.read)
            report.corrupt_lines = read.corrupt_lines
            for entry in _dedupe(read.entries):
                if only_sink is not None and entry.sink != only_sink:
                    report.kept += 1
                elif entry.sink in sinks:
                    report.outcomes.setdefault(entry.sink, ReplayOutcome(entry.sink)).attempted += 1
                else:
                    report.skipped_unknown_sink[entry.sink] = report.skipped_unknown_sink.get(entry.sink, 0) + 1
            return report

        lock_fd = self._acquire_replay_lock()
        try:
            claimed = await asyncio.to_thread(self._claim_segments)
            read = await asyncio.to_thread(self.read, paths=claimed)
            report.corrupt_lines = read.corrupt_lines
            keep: list[DeadLetter] = []
            by_sink: dict[str, list[DeadLetter]] = {}
            for entry in _dedupe(read.entries):
                if only_sink is not None and entry.sink != only_sink:
                    keep.append(entry)
                elif entry.sink not in sinks:
                    report.skipped_unknown_sink[entry.sink] = report.skipped_unknown_sink.get(entry.sink, 0) + 1
                    keep.append(entry)
                else:
                    by_sink.setdefault(entry.sink, []).append(entry)
            for name, entries in by_sink.items():
                size = (batch_max_events or {}).get(name, 500)
                outcome, remaining = await _replay_sink(name, sinks[name], entries, size)
                report.outcomes[name] = outcome
                keep.extend(remaining)
            report.kept = len(keep)
            await asyncio.to_thread(self._commit_replay, claimed, keep, read.corrupt)
        finally:
            os.close(lock_fd)  # closing the descriptor releases the flock
        return report

    def _acquire_replay_lock(self) -> int:
        lock_path = self.path.with_name(self.path.name + ".replay.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ReplayBusy(f"another replay of {self.path} is running") from None
        return fd

    def _claim_segments(self) -> builtins.list[Path]:
        """Rename every segment to ``*.replaying`` so writers start a fresh live file meanwhile."""
        claimed: builtins.list[Path] = []
        with self._thread_lock, self._locked():
            for path in self.segments():
                if path.name.endswith(REPLAYING_SUFFIX):
                    claimed.append(path)  # left by a crashed replay (we hold the replay lock)
                    continue
                name = f"{self.path.name}.{_stamp()}" if path == self.path else path.name
                target = path.with_name(name + REPLAYING_SUFFIX)
                os.replace(path, target)
                claimed.append(target)
            if claimed:
                fsync_dir(self.path.parent)
        return claimed

    def _commit_replay(
        self, claimed: Sequence[Path], keep: Sequence[DeadLetter], corrupt: Sequence[bytes] = ()
    ) -> None:
        """Write the entries that stay to a new segment, then drop the claimed ones.

        Lines that could not be parsed stay too, byte for byte: they may be entries of a newer
        version or damaged by hand, and dead letters are data - only an operator deletes them.
        """
        if keep or corrupt:
            target = self.path.with_name(f"{self.path.name}.{_stamp()}")
            tmp = target.with_name(target.name + ".tmp")
            with open(tmp, "wb") as handle:
                for line in corrupt:
                    handle.write(line if line.endswith(b"\n") else line + b"\n")
                for entry in keep:
                    handle.write(dumps_event_json(entry.to_json()) + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            fsync_dir(self.path.parent)
        for path in claimed:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if claimed:
            fsync_dir(self.path.parent)


async def _replay_sink(
    name: str, sink: Sink, entries: list[DeadLetter], batch_size: int
) -> tuple[ReplayOutcome, list[DeadLetter]]:
    outcome = ReplayOutcome(name, attempted=len(entries))
    remaining: list[DeadLetter] = []
    for start in range(0, len(entries), max(1, batch_size)):
        batch = entries[start : start + batch_size]
        if outcome.error is not None:
            # The sink already failed as a whole; keep the rest without hammering it.
            remaining.extend(_retried(e, None) for e in batch)
            outcome.failed += len(batch)
            continue
        try:
            result = await sink.send([e.event for e in batch])
        except (SinkTransientError, SinkPermanentError, OSError, TimeoutError) as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"
            remaining.extend(_retried(e, None) for e in batch)
            outcome.failed += len(batch)
            log.warning("Replay to sink %s failed; its dead letters stay in place: %s", name, exc)
            continue
        refused = {r.event.event_id: r.reason for r in result.rejected}
        for entry in batch:
            reason = refused.get(entry.event_id)
            if reason is None:
                outcome.delivered += 1
            else:
                outcome.rejected += 1
                remaining.append(_retried(entry, reason))
    return outcome, remaining


def _retried(entry: DeadLetter, reason: str | None) -> DeadLetter:
    return DeadLetter(
        ts=entry.ts,
        sink=entry.sink,
        tenant=entry.tenant,
        stream=entry.stream,
        event_id=entry.event_id,
        reason=reason or entry.reason,
        event=entry.event,
        attempts=entry.attempts + 1,
    )


def _dedupe(entries: Sequence[DeadLetter]) -> list[DeadLetter]:
    seen: set[tuple[str, str]] = set()
    unique: list[DeadLetter] = []
    for entry in entries:
        key = (entry.sink, entry.event_id)
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


# --- small file helpers ----------------------------------------------------------------------------


def _lines(path: Path) -> Iterator[bytes]:
    """Non-blank lines of ``path``; nothing when it vanished (claimed or rotated meanwhile)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; open() alone may race a rename
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            if line.strip():
                yield line


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _ends_with_newline(path: Path, size: int) -> bool:
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        return handle.read(1) == b"\n"
