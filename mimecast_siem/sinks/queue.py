"""A durable per-sink queue: append-only, fsync'd segment files with a committed read offset.

Layout (one directory per sink, ``<data_dir>/queues/<sink>/``)::

    00000000000000000001.seg   records, appended only
    00000000000000000002.seg   the next segment once the previous one passed SEGMENT_MAX_BYTES
    cursor                     the committed read position: "<segment> <offset> <crc32>\\n"
    append.lock                flock held while appending (several processes may append)
    drain.lock                 flock held by the one process that drains

Record framing: a 16-byte header ``>IIQ`` (payload length, CRC-32 of the enqueue time and payload,
enqueue time in milliseconds since the epoch), then the payload: one event as JSON
(:func:`~mimecast_siem.sinks.deadletter.event_to_json`).

Guarantees:

* :meth:`SegmentQueue.append` returns only after the records and (for a new segment) the directory
  entry are fsync'd: an appended event survives a SIGKILL or a power loss.
* The cursor is replaced atomically (write, fsync, rename, fsync directory) only after the drained
  events were accepted by the sink: after a crash the drain restarts at the last committed batch,
  so at most the batch in flight is sent twice (same ``event.id``).
* The process holding the drain lock keeps what it appended last in a bounded :class:`TailCache`
  (after the fsync, keyed by the records' exact position), so its drain takes those events without
  reading and decoding them back; everything else, and everything after a restart, is read from the files.
* A torn tail (a record cut by a crash during an append that therefore never returned) and a record
  whose CRC does not match are reported as :class:`Corruption` and skipped (the caller dead-letters
  them with the reason), never re-read in a loop; intact records after them are still read.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import mmap
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from mimecast_siem.events import Event
from mimecast_siem.sinks.deadletter import dumps_event_json, event_from_json, event_to_json
from mimecast_siem.sinks.durable import fsync_dir, write_all

HEADER = struct.Struct(">IIQ")
#: A single record larger than this is refused (a corrupt length field is recognised by it too).
MAX_RECORD_BYTES = 64 * 1024 * 1024
SEGMENT_SUFFIX = ".seg"
CURSOR_NAME = "cursor"
#: Bytes of a corrupt region kept (base64) in its dead-letter entry.
CORRUPT_SAMPLE_BYTES = 4096


class QueueFull(Exception):
    """The append would pass the queue's bounds (``max_bytes`` or ``max_age``)."""


class Position(NamedTuple):
    """A place in the queue: segment number and byte offset within it."""

    segment: int
    offset: int


class Record(NamedTuple):
    """One queued event as read back, with where the next record starts.

    (Named tuples: a drain builds one per event, and a frozen dataclass costs several times more.)
    """

    event: Event
    enqueued_at: float
    size: int
    next: Position


@dataclass(frozen=True, slots=True)
class Corruption:
    """A region of a segment that cannot be read: what, where and why."""

    segment: int
    offset: int
    length: int
    reason: str
    sample: bytes

    def as_event(self, sink: str) -> Event:
        """The region as a placeholder event for the dead letters (its bytes base64, up to a limit)."""
        return Event(
            event_id=f"queue-{sink}-{self.segment}-{self.offset}",
            tenant="-",
            stream="-",
            timestamp=datetime.now(UTC),
            document={},
            raw={
                "queue": sink,
                "segment": self.segment,
                "offset": self.offset,
                "length": self.length,
                "bytes_base64": base64.b64encode(self.sample).decode(),
            },
            kind="corrupt-queue-record",
        )


@dataclass(frozen=True, slots=True)
class ReadBatch:
    """What one :meth:`SegmentQueue.read` found: records in order, corruptions skipped, the end."""

    records: list[Record]
    corruptions: list[Corruption]
    end: Position


_MILLIS = struct.Struct(">Q")


def encode_record(event: Event, enqueued_at: float) -> bytes:
    """Frame one event (header + JSON payload)."""
    return encode_records([event], enqueued_at)


def encode_records(events: Sequence[Event], enqueued_at: float, sizes: list[int] | None = None) -> bytes:
    """Frame events enqueued together: each a header + JSON payload, concatenated.

    The CRC covers the enqueue time (the header's last 8 bytes) and the payload; the time is the same
    for every record of one append, so its part of the CRC is computed once. ``sizes`` (when given)
    receives each record's framed size.
    """
    millis = int(enqueued_at * 1000)
    seed = zlib.crc32(_MILLIS.pack(millis))
    pack = HEADER.pack
    crc32 = zlib.crc32
    parts: list[bytes] = []
    for event in events:
        payload = dumps_event_json(event_to_json(event))
        parts.append(pack(len(payload), crc32(payload, seed), millis))
        parts.append(payload)
        if sizes is not None:
            sizes.append(HEADER.size + len(payload))
    return b"".join(parts)


#: Bytes of records (as framed on disk) the tail cache holds at most (their events take ~4x in memory).
TAIL_CACHE_BYTES = 4 * 1024 * 1024


@dataclass(slots=True)
class _Appended:
    """Events one append of this process wrote, from ``offset`` of ``segment``, with each record's size."""

    events: Sequence[Event]
    sizes: list[int]
    enqueued_at: float
    segment: int
    offset: int


class TailCache:
    """The events this process appended last, kept for its own drain: no read back, no decoding.

    The events are fsync'd in the segment before they are put here, and the entry is keyed by the exact
    position of their records, so taking them gives the same events a read of those bytes would (minus
    the CRC check and the JSON decoding, ~2/3 of a queued event's CPU). Only the process holding the
    drain lock caches; an entry is used only when the drain is exactly at its start (the drain follows
    the tail), and entries behind the committed cursor are dropped. After a crash or a restart the drain
    reads the files as before. Bounded by ``max_bytes`` of records: past it, appends are not cached
    (their events are read from the files when the drain gets there).
    """

    def __init__(self, max_bytes: int = TAIL_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: dict[Position, _Appended] = {}
        #: Segments this process rolled over from, and the size they ended at.
        self._ends: dict[int, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, entry: _Appended) -> None:
        """Keep ``entry`` if it fits the bound."""
        size = sum(entry.sizes)
        with self._lock:
            if self._bytes + size > self.max_bytes:
                return
            self._entries[Position(entry.segment, entry.offset)] = entry
            self._bytes += size

    def rolled(self, segment: int, size: int) -> None:
        """Appends moved past ``segment``, which ends at ``size``: a drain there goes on at the next one."""
        with self._lock:
            self._ends[segment] = size

    def take(self, start: Position, max_events: int, max_bytes: int) -> ReadBatch | None:
        """Up to ``max_events`` events (about ``max_bytes``) appended at ``start`` and after, or None."""
        records: list[Record] = []
        taken = 0
        position = start
        with self._lock:
            while len(records) < max_events and taken < max_bytes:
                entry = self._entries.pop(position, None)
                if entry is None and self._ends.get(position.segment) == position.offset:
                    entry = self._entries.pop(Position(position.segment + 1, 0), None)
                if entry is None:
                    break
                self._bytes -= sum(entry.sizes)
                segment, offset = entry.segment, entry.offset
                count = 0
                for event, size in zip(entry.events, entry.sizes, strict=True):
                    if len(records) >= max_events or taken >= max_bytes:
                        break
                    offset += size
                    taken += size
                    count += 1
                    records.append(Record(event, entry.enqueued_at, size, Position(segment, offset)))
                position = Position(segment, offset)
                if count < len(entry.events):
                    rest = _Appended(entry.events[count:], entry.sizes[count:], entry.enqueued_at, segment, offset)
                    self._entries[position] = rest
                    self._bytes += sum(rest.sizes)
            if self._ends.get(position.segment) == position.offset:
                position = Position(position.segment + 1, 0)  # as a read of the files ends there
        if not records:
            return None
        return ReadBatch(records, [], position)

    def forget_before(self, position: Position) -> None:
        """Drop what lies behind the committed cursor (the drain will never ask for it)."""
        with self._lock:
            for key in [k for k in self._entries if k < position]:
                self._bytes -= sum(self._entries.pop(key).sizes)
            for segment in [n for n in self._ends if n < position.segment]:
                del self._ends[segment]

    def clear(self) -> None:
        """Drop everything (the drain lock was given back)."""
        with self._lock:
            self._entries.clear()
            self._ends.clear()
            self._bytes = 0

    @property
    def bytes(self) -> int:
        """Bytes of records held."""
        return self._bytes


def _segment_name(number: int) -> str:
    return f"{number:020d}{SEGMENT_SUFFIX}"


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class SegmentQueue:
    """The files of one sink's queue (blocking calls: run them in a thread from async code).

    Args:
        directory: the queue's directory (created).
        max_bytes: bound of the queued bytes (records not yet drained) - appends past it raise QueueFull.
        max_age: seconds; while the oldest queued event is older, appends raise QueueFull (None = no bound).
        segment_max_bytes: a new segment is started once the current one is at least this large.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        max_age: float | None = None,
        segment_max_bytes: int | None = None,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.segment_max_bytes = segment_max_bytes or max(64 * 1024, min(16 * 1024 * 1024, max_bytes // 8))
        directory.mkdir(parents=True, exist_ok=True)
        self._append_lock = directory / "append.lock"
        self._drain_fd: int | None = None
        #: What this process appended while it held the drain lock, for its drain (see TailCache).
        self.tail = TailCache()
        #: Oldest enqueue time at the read position (None: unknown or empty), refreshed by reads.
        self.oldest_enqueued: float | None = None

    # -- layout ------------------------------------------------------------------------------------

    def segments(self) -> list[int]:
        """Numbers of the segment files present, in order."""
        numbers = []
        for path in self.directory.glob("*" + SEGMENT_SUFFIX):
            with contextlib.suppress(ValueError):
                numbers.append(int(path.name[: -len(SEGMENT_SUFFIX)]))
        return sorted(numbers)

    def _path(self, number: int) -> Path:
        return self.directory / _segment_name(number)

    def cursor(self) -> Position:
        """The committed read position (the start of the first segment when none was committed)."""
        path = self.directory / CURSOR_NAME
        try:
            text = path.read_text()
            segment_text, offset_text, crc_text = text.split()
            body = f"{segment_text} {offset_text}"
            if zlib.crc32(body.encode()) != int(crc_text):
                raise ValueError("cursor CRC mismatch")
            return Position(int(segment_text), int(offset_text))
        except FileNotFoundError:
            pass
        except ValueError:
            # A cursor is replaced by rename, so it is never torn; a bad one was damaged outside us.
            # Restarting at the first segment still present re-sends, it never loses.
            pass
        segments = self.segments()
        return Position(segments[0] if segments else 1, 0)

    def commit(self, position: Position, *, durable: bool = True) -> None:
        """Move the read position to ``position`` and delete the segments wholly before it.

        The cursor is replaced by rename, so a SIGKILL leaves the old or the new one, never a torn one.
        ``durable=False`` skips the fsyncs: a process crash still loses nothing (the page cache survives
        it); after a power loss the drain may restart at an older cursor - more re-sends, never a loss
        (a damaged cursor restarts at the first segment).
        """
        body = f"{position.segment} {position.offset}"
        data = f"{body} {zlib.crc32(body.encode())}\n".encode()
        tmp = self.directory / (CURSOR_NAME + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.directory / CURSOR_NAME)
        self.tail.forget_before(position)
        for number in self.segments():
            if number < position.segment:
                with contextlib.suppress(FileNotFoundError):
                    self._path(number).unlink()
        if durable:
            fsync_dir(self.directory)

    # -- size --------------------------------------------------------------------------------------

    def depth_bytes(self) -> int:
        """Bytes not yet drained (records after the committed cursor)."""
        cursor = self.cursor()
        total = 0
        for number in self.segments():
            if number < cursor.segment:
                continue
            try:
                size = self._path(number).stat().st_size
            except FileNotFoundError:
                continue
            total += size - cursor.offset if number == cursor.segment else size
        return max(total, 0)

    def count(self) -> tuple[int, int]:
        """(events, bytes) after the cursor, counted by reading the headers (used at start-up)."""
        cursor = self.cursor()
        events = 0
        total = 0
        for number in self.segments():
            if number < cursor.segment:
                continue
            offset = cursor.offset if number == cursor.segment else 0
            try:
                with open(self._path(number), "rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    while offset + HEADER.size <= size:
                        handle.seek(offset)
                        length, _crc, millis = HEADER.unpack(handle.read(HEADER.size))
                        if length > MAX_RECORD_BYTES or offset + HEADER.size + length > size:
                            break
                        if events == 0:
                            self.oldest_enqueued = millis / 1000
                        events += 1
                        total += HEADER.size + length
                        offset += HEADER.size + length
            except FileNotFoundError:
                continue
        if events == 0:
            self.oldest_enqueued = None
        return events, total

    # -- append ------------------------------------------------------------------------------------

    def append(self, events: Sequence[Event], *, now: float | None = None) -> int:
        """Append ``events`` durably (one write, one fsync); return the bytes written.

        Raises:
            QueueFull: the queue is at its bounds; nothing was written.
            OSError: the disk failed; nothing is acknowledged (a partial write is a torn tail).
        """
        if not events:
            return 0
        stamp = time.time() if now is None else now
        sizes: list[int] = []
        data = encode_records(events, stamp, sizes)
        with _flock(self._append_lock):
            depth = self.depth_bytes()
            if depth > 0 and depth + len(data) > self.max_bytes:
                raise QueueFull(f"{depth} bytes queued, the bound is {self.max_bytes}")
            oldest = self.oldest_enqueued
            if self.max_age is not None and depth > 0 and oldest is not None and stamp - oldest > self.max_age:
                raise QueueFull(f"the oldest queued event waits for more than {self.max_age:.0f} s")
            segments = self.segments()
            number = segments[-1] if segments else max(self.cursor().segment, 1)
            path = self._path(number)
            created = not path.exists()
            if not created and (ended := path.stat().st_size) >= self.segment_max_bytes:
                self.tail.rolled(number, ended)
                number += 1
                path = self._path(number)
                created = True
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                before = os.fstat(fd).st_size
                try:
                    write_all(fd, data)
                    os.fsync(fd)
                except OSError:
                    # Not acknowledged: take the partial write back so no torn record stays behind.
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, before)
                    raise
            finally:
                os.close(fd)
            if created:
                fsync_dir(self.directory)
            if self._drain_fd is not None:  # durable now; this process drains: keep them for the drain
                self.tail.put(_Appended(events, sizes, stamp, number, before))
        if self.oldest_enqueued is None:
            self.oldest_enqueued = stamp
        return len(data)

    # -- drain -------------------------------------------------------------------------------------

    def try_drain_lock(self) -> bool:
        """Take the drainer's lock (one process drains a queue); False when another process holds it."""
        if self._drain_fd is not None:
            return True
        fd = os.open(self.directory / "drain.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._drain_fd = fd
        return True

    def release_drain_lock(self) -> None:
        """Give the drainer's lock back (idempotent)."""
        if self._drain_fd is not None:
            self.tail.clear()
            os.close(self._drain_fd)
            self._drain_fd = None

    def read(self, start: Position, max_events: int, max_bytes: int, *, note_oldest: bool = True) -> ReadBatch:
        """Read up to ``max_events`` records (and about ``max_bytes``) from ``start``.

        ``note_oldest`` records the first record's enqueue time as the queue's oldest (a drain reading
        ahead of its cursor passes False and notes it when it takes the batch).

        A damaged region (bad CRC, impossible length, undecodable payload, torn tail) is reported as a
        :class:`Corruption` and skipped: reading resumes at the next intact record of the segment (found
        by its payload's fixed start and checked by its CRC), so records appended after a torn tail are
        never lost. Bytes cut short at the end of the LAST segment may be an append in progress: they
        are judged under the append lock, and left for the next read when an append is still writing.
        """
        cached = self.tail.take(start, max_events, max_bytes)
        if cached is not None:
            if note_oldest:
                self.oldest_enqueued = cached.records[0].enqueued_at
            return cached
        records: list[Record] = []
        corruptions: list[Corruption] = []
        position = start
        taken = 0
        while len(records) < max_events and taken < max_bytes:
            segments = [n for n in self.segments() if n >= position.segment]
            if not segments:
                break
            if segments[0] != position.segment:
                position = Position(segments[0], 0)
            is_last = position.segment == segments[-1]
            try:
                data = _map(self._path(position.segment))
            except FileNotFoundError:
                position = Position(position.segment + 1, 0)
                continue
            offset = position.offset
            while offset < len(data) and len(records) < max_events and taken < max_bytes:
                record, problem = _parse(data, offset, position.segment)
                if record is not None:
                    records.append(record)
                    taken += record.size
                    offset = record.next.offset
                    continue
                resume = _resync(data, offset + 1)
                if resume is None and is_last and not self._damaged_under_lock(position.segment, offset):
                    break  # an append still being written: read it next time
                stop = len(data) if resume is None else resume
                corruptions.append(
                    Corruption(
                        position.segment,
                        offset,
                        stop - offset,
                        f"queue segment {_segment_name(position.segment)} in {self.directory},"
                        f" offset {offset}: {problem}",
                        bytes(data[offset : min(stop, offset + CORRUPT_SAMPLE_BYTES)]),
                    )
                )
                offset = stop
            if offset < len(data) or is_last:
                position = Position(position.segment, offset)
                break
            position = Position(position.segment + 1, 0)
        if records and note_oldest:
            self.oldest_enqueued = records[0].enqueued_at
        return ReadBatch(records, corruptions, position)

    def _damaged_under_lock(self, number: int, offset: int) -> bool:
        """True when the last segment is really damaged at ``offset`` (no append is writing there).

        Holding the append lock, no append is in progress: what is still unreadable now is damaged.
        """
        with _flock(self._append_lock):
            with open(self._path(number), "rb") as handle:
                data = handle.read()
            record, _problem = _parse(data, offset, number)
            return record is None and offset < len(data)


Segment = bytes | mmap.mmap


def _map(path: Path) -> Segment:
    """The segment's bytes, mapped (a read touches only the records it parses, not the whole file)."""
    with open(path, "rb") as handle:
        try:
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            return b""


#: Every payload starts so (``event_to_json`` puts ``event_id`` first): where to look for the next record.
_PAYLOAD_START = b'{"event_id":'


_HEADER_SIZE = HEADER.size
_unpack_header = HEADER.unpack_from
_crc32 = zlib.crc32
_loads = orjson.loads
_fromisoformat = datetime.fromisoformat


def _parse(data: Segment, offset: int, segment: int) -> tuple[Record | None, str]:
    """The record at ``offset`` of a segment's bytes, or None and why it is unreadable."""
    size = len(data)
    if offset + _HEADER_SIZE > size:
        return None, f"torn tail: {size - offset} bytes, less than a record header"
    length, crc, millis = _unpack_header(data, offset)
    if length > MAX_RECORD_BYTES:
        return None, f"record length {length} exceeds {MAX_RECORD_BYTES} (damaged header)"
    end = offset + _HEADER_SIZE + length
    if end > size:
        return None, f"torn tail: a record of {length} bytes cut after {size - offset - _HEADER_SIZE}"
    # The enqueue time (the header's last 8 bytes) and the payload are contiguous: one CRC pass over both.
    # A memoryview slices without copying; orjson decodes from it directly.
    with memoryview(data) as view:
        if _crc32(view[offset + 8 : end]) != crc:
            return None, "bad CRC"
        try:
            event = _decode_event(_loads(view[offset + _HEADER_SIZE : end]))
        except (ValueError, orjson.JSONDecodeError) as exc:
            return None, f"undecodable record: {exc}"
    return Record(event, millis / 1000, end - offset, Position(segment, end)), ""


def _decode_event(data: Any) -> Event:
    """:func:`~mimecast_siem.sinks.deadletter.event_from_json`, with a fast path for what we wrote.

    A record the queue wrote itself has every key with its exact type; anything else takes the
    general (checking, coercing) path, so both give the same event.
    """
    if type(data) is dict:
        event_id = data.get("event_id")
        tenant = data.get("tenant")
        stream = data.get("stream")
        stamp = data.get("timestamp")
        kind = data.get("kind")
        document = data.get("document")
        raw = data.get("raw")
        extra = data.get("extra")
        if (
            type(event_id) is str
            and type(tenant) is str
            and type(stream) is str
            and type(stamp) is str
            and type(kind) is str
            and kind
            and type(document) is dict
            and type(raw) is dict
            and type(extra) is dict
        ):
            timestamp = _fromisoformat(stamp)
            if timestamp.tzinfo is None:
                timestamp = timestamp.replace(tzinfo=UTC)
            return Event(event_id, tenant, stream, timestamp, document, raw, kind, extra)
    return event_from_json(data)


def _resync(data: Segment, start: int) -> int | None:
    """Offset of the next intact record at or after ``start``, or None."""
    find_from = start + HEADER.size
    while True:
        index = data.find(_PAYLOAD_START, find_from)
        if index < 0:
            return None
        candidate = index - HEADER.size
        if candidate >= start and _parse(data, candidate, 0)[0] is not None:
            return candidate
        find_from = index + 1
