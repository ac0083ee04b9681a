"""The durable queue's segment format: round trip, cursor, bounds, and damage of every kind.

Property runs (hypothesis) cut a segment at any byte and flip any byte: reading never raises, never
returns an event that was not appended, and every record the damage did not touch is still read.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mimecast_siem.events import Event
from mimecast_siem.sinks.queue import HEADER, Position, QueueFull, SegmentQueue
from tests.sinks.builders import batch


def drain_all(queue: SegmentQueue, start: Position | None = None) -> tuple[list[Event], list[str], Position]:
    """Every readable event from ``start`` (default: the cursor), the corruption reasons, the end."""
    position = start or queue.cursor()
    events: list[Event] = []
    reasons: list[str] = []
    for _ in range(10_000):
        result = queue.read(position, 7, 1 << 20)
        events += [r.event for r in result.records]
        reasons += [c.reason for c in result.corruptions]
        if result.end == position and not result.records and not result.corruptions:
            break
        position = result.end
    return events, reasons, position


def ids(events: list[Event]) -> list[str]:
    return [e.event_id for e in events]


def test_round_trip_in_order(tmp_path: Path) -> None:
    queue = SegmentQueue(tmp_path / "q", max_bytes=10_000_000, segment_max_bytes=4096)
    sent = batch(40)
    for start in range(0, 40, 10):
        queue.append(sent[start : start + 10])
    assert len(queue.segments()) > 1  # small segments: the read crosses segment boundaries
    events, reasons, _ = drain_all(queue)
    assert events == sent
    assert reasons == []
    assert queue.count()[0] == 40


def test_commit_moves_the_cursor_and_deletes_drained_segments(tmp_path: Path) -> None:
    queue = SegmentQueue(tmp_path / "q", max_bytes=10_000_000, segment_max_bytes=4096)
    sent = batch(30)
    queue.append(sent)
    queue.append(batch(30, start=30))
    result = queue.read(queue.cursor(), 35, 1 << 30)
    assert ids([r.event for r in result.records]) == ids(sent + batch(5, start=30))
    queue.commit(result.end)
    reopened = SegmentQueue(tmp_path / "q", max_bytes=10_000_000, segment_max_bytes=4096)
    assert reopened.cursor() == result.end
    assert min(reopened.segments()) == result.end.segment
    events, _, _ = drain_all(reopened)
    assert ids(events) == ids(batch(25, start=35))
    assert reopened.count()[0] == 25
    assert reopened.depth_bytes() == reopened.count()[1]


def test_full_by_bytes_and_by_age(tmp_path: Path) -> None:
    queue = SegmentQueue(tmp_path / "q", max_bytes=5000)
    queue.append(batch(3), now=1000.0)  # the first append always fits, even past the bound
    with pytest.raises(QueueFull, match="bound is 5000"):
        queue.append(batch(10), now=1001.0)
    aged = SegmentQueue(tmp_path / "a", max_bytes=10_000_000, max_age=60)
    aged.append(batch(1), now=1000.0)
    aged.append(batch(1), now=1059.0)
    with pytest.raises(QueueFull, match="waits for more than 60 s"):
        aged.append(batch(1), now=1061.0)


def test_a_damaged_cursor_restarts_at_the_first_segment(tmp_path: Path) -> None:
    queue = SegmentQueue(tmp_path / "q", max_bytes=10_000_000)
    queue.append(batch(5))
    queue.commit(Position(1, 0))
    (tmp_path / "q" / "cursor").write_text("1 999 12345\n")
    assert queue.cursor() == Position(1, 0)  # re-sends, never skips


def test_bad_crc_is_reported_and_skipped_and_the_next_records_are_read(tmp_path: Path) -> None:
    queue = SegmentQueue(tmp_path / "q", max_bytes=10_000_000)
    sent = batch(5)
    queue.append(sent)
    segment = tmp_path / "q" / "00000000000000000001.seg"
    data = bytearray(segment.read_bytes())
    data[HEADER.size + 30] ^= 0xFF  # inside the first record's payload
    segment.write_bytes(bytes(data))
    events, reasons, _ = drain_all(queue)
    assert ids(events) == ids(sent[1:])
    assert len(reasons) == 1
    assert "bad CRC" in reasons[0]
    assert "offset 0" in reasons[0]


def test_a_torn_tail_is_reported_once_and_appends_after_it_are_read(tmp_path: Path) -> None:
    queue = SegmentQueue(tmp_path / "q", max_bytes=10_000_000)
    queue.append(batch(3))
    segment = tmp_path / "q" / "00000000000000000001.seg"
    whole = segment.read_bytes()
    segment.write_bytes(whole[:-20])  # the last record torn (a crash in the middle of an append)
    queue.append(batch(2, start=3))  # a later process appends after the torn bytes
    events, reasons, end = drain_all(queue)
    assert ids(events) == ids(batch(2) + batch(2, start=3))
    assert len(reasons) == 1
    assert "bad CRC" in reasons[0] or "torn" in reasons[0]
    # Reading again from the end finds nothing more (no loop over the damage).
    again = queue.read(end, 10, 1 << 20)
    assert again.records == []
    assert again.corruptions == []


def _layout(tmp_path: Path, sent: list[Event]) -> tuple[SegmentQueue, Path, bytes, list[tuple[int, int]]]:
    queue = SegmentQueue(tmp_path, max_bytes=10_000_000)
    spans = []
    for event in sent:
        before = queue.depth_bytes()
        queue.append([event])
        spans.append((before, queue.depth_bytes()))
    segment = tmp_path / "00000000000000000001.seg"
    return queue, segment, segment.read_bytes(), spans


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=100_000))
def test_truncation_anywhere_keeps_every_whole_record(tmp_path_factory: pytest.TempPathFactory, cut: int) -> None:
    sent = batch(6)
    queue, segment, whole, spans = _layout(tmp_path_factory.mktemp("q"), sent)
    cut %= len(whole) + 1
    segment.write_bytes(whole[:cut])
    events, reasons, _ = drain_all(queue)
    intact = [e for e, (_start, end) in zip(sent, spans, strict=True) if end <= cut]
    assert ids(events) == ids(intact)
    torn = cut not in {0, *(end for _s, end in spans)}
    assert len(reasons) == (1 if torn else 0)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.integers(min_value=0, max_value=100_000), flip=st.integers(min_value=1, max_value=255))
def test_a_flipped_byte_loses_only_its_record(tmp_path_factory: pytest.TempPathFactory, where: int, flip: int) -> None:
    sent = batch(6)
    queue, segment, whole, spans = _layout(tmp_path_factory.mktemp("q"), sent)
    where %= len(whole)
    damaged = bytearray(whole)
    damaged[where] ^= flip
    segment.write_bytes(bytes(damaged))
    events, reasons, _ = drain_all(queue)
    untouched = [e for e, (start, end) in zip(sent, spans, strict=True) if not start <= where < end]
    # A damaged length may hide the records it claims; the others are all read, none invented.
    assert set(ids(events)) <= set(ids(sent))
    assert ids(events) == [i for i in ids(sent) if i in set(ids(events))]
    assert set(ids(untouched)) <= set(ids(events))
    assert len(reasons) >= 1


def _framed_by_the_first_format(event: Event, millis: int) -> bytes:
    """A record framed exactly as the first release of the queue wrote it (header, CRC over time + payload)."""
    import struct
    import zlib

    from mimecast_siem.sinks.deadletter import dumps_event_json, event_to_json

    payload = dumps_event_json(event_to_json(event))
    crc = zlib.crc32(payload, zlib.crc32(struct.pack(">Q", millis)))
    return HEADER.pack(len(payload), crc, millis) + payload


def test_segments_written_by_the_first_format_are_read_and_new_appends_frame_the_same_bytes(tmp_path: Path) -> None:
    """Queues left by an earlier version drain after an upgrade; the framing did not change."""
    sent = batch(6)
    queue = SegmentQueue(tmp_path / "q", max_bytes=10_000_000)
    (tmp_path / "q" / f"{1:020d}.seg").write_bytes(
        b"".join(_framed_by_the_first_format(e, 1_700_000_000_123) for e in sent)
    )
    events, reasons, _ = drain_all(queue)
    assert events == sent
    assert reasons == []
    other = SegmentQueue(tmp_path / "other", max_bytes=10_000_000)
    other.append(sent, now=1_700_000_000.123)
    written = (tmp_path / "other" / f"{1:020d}.seg").read_bytes()
    assert written == b"".join(_framed_by_the_first_format(e, 1_700_000_000_123) for e in sent)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"kind": ""},
        {"kind": None},
        {"document": None},
        {"raw": None},
        {"extra": None},
        {"timestamp": "2026-11-25T10:00:00"},
        {"tenant": 7},
        {"event_id": 12345},
    ],
    ids=repr,
)
def test_the_fast_decode_gives_the_event_the_general_one_gives(change: dict[str, object]) -> None:
    """What the queue wrote takes a fast path; anything else the checking one: the same event either way."""
    from mimecast_siem.sinks.deadletter import event_from_json, event_to_json
    from mimecast_siem.sinks.queue import _decode_event

    data = {**event_to_json(batch(1)[0]), **change}
    assert _decode_event(data) == event_from_json(data)
    assert _decode_event(data).timestamp.tzinfo is not None


def test_the_fast_decode_refuses_what_the_general_one_refuses() -> None:
    from mimecast_siem.sinks.deadletter import event_to_json
    from mimecast_siem.sinks.queue import _decode_event

    data = event_to_json(batch(1)[0])
    del data["stream"]
    with pytest.raises(ValueError, match="stream"):
        _decode_event(data)
    with pytest.raises(ValueError, match="JSON objects"):
        _decode_event({**event_to_json(batch(1)[0]), "document": [1, 2]})


def test_the_drain_takes_its_own_appends_from_the_tail_cache_at_the_positions_a_read_gives(tmp_path: Path) -> None:
    """The same events, batch ends and cursor as reading the files; no decoding (the very objects appended)."""
    queue = SegmentQueue(tmp_path / "q", max_bytes=10_000_000, segment_max_bytes=4096)
    assert queue.try_drain_lock()
    files = SegmentQueue(tmp_path / "q", max_bytes=10_000_000, segment_max_bytes=4096)  # reads the files only
    sent = batch(40)
    for start in range(0, 40, 8):
        queue.append(sent[start : start + 8])
    assert len(queue.segments()) > 1  # the cache follows the appends across a segment roll
    position = queue.cursor()
    taken: list[Event] = []
    while len(taken) < 40:
        from_cache = queue.read(position, 5, 1 << 20)
        from_files = files.read(position, 5, 1 << 20)
        assert from_cache.end == from_files.end
        assert [r.event for r in from_cache.records] == [r.event for r in from_files.records]
        assert [(r.size, r.next) for r in from_cache.records] == [(r.size, r.next) for r in from_files.records]
        assert all(r.event is s for r, s in zip(from_cache.records, sent[len(taken) :], strict=False))
        taken += [r.event for r in from_cache.records]
        queue.commit(from_cache.end, durable=False)
        position = from_cache.end
    assert taken == sent
    assert queue.tail.bytes == 0
    queue.release_drain_lock()


def test_appends_are_cached_only_by_the_process_that_drains_and_within_the_bound(tmp_path: Path) -> None:
    queue = SegmentQueue(tmp_path / "q", max_bytes=10_000_000)
    queue.append(batch(3))
    assert queue.tail.bytes == 0  # no drain lock: another process drains, nothing to keep
    assert queue.try_drain_lock()
    queue.tail.max_bytes = 1
    queue.append(batch(3, start=3))
    assert queue.tail.bytes == 0  # past the bound: read from the files when the drain gets there
    events, reasons, _ = drain_all(queue)
    assert ids(events) == ids(batch(6))
    assert reasons == []
    queue.release_drain_lock()


def same_place(directory: Path, a: Position, b: Position) -> bool:
    """True when both are one place: equal, or the end of a segment and the start of the next one."""
    if a == b:
        return True
    first, second = sorted([a, b])
    size = (directory / f"{first.segment:020d}.seg").stat().st_size
    return first.offset == size and second == Position(first.segment + 1, 0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(st.tuples(st.booleans(), st.integers(1, 9), st.integers(1, 12)), min_size=1, max_size=14),
)
def test_the_tail_cache_and_another_processes_appends_interleave_without_loss_or_reorder(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[bool, int, int]]
) -> None:
    """Appends of this process (cached) and of a backfill process (not) in any order; reads of any size.

    Every event is taken once, in order, at the place a read of the files gives.
    """
    directory = tmp_path_factory.mktemp("q")
    drainer = SegmentQueue(directory, max_bytes=10_000_000, segment_max_bytes=2048)
    other = SegmentQueue(directory, max_bytes=10_000_000, segment_max_bytes=2048)
    files = SegmentQueue(directory, max_bytes=10_000_000, segment_max_bytes=2048)
    assert drainer.try_drain_lock()
    expected: list[Event] = []
    position = drainer.cursor()
    got: list[Event] = []
    for ours, count, read_size in steps:
        events = batch(count, start=len(expected))
        (drainer if ours else other).append(events)
        expected += events
        from_files = files.read(position, read_size, 1 << 20)
        read = drainer.read(position, read_size, 1 << 20)
        # From the cache a batch may stop early (at another process's records); never differ otherwise.
        assert ids([r.event for r in read.records]) == ids([r.event for r in from_files.records])[: len(read.records)]
        if len(read.records) == len(from_files.records):
            assert same_place(directory, read.end, from_files.end)
        else:
            assert read.end == read.records[-1].next
        got += [r.event for r in read.records]
        drainer.commit(read.end, durable=False)
        position = read.end
    rest, reasons, _ = drain_all(drainer, position)
    assert ids(got + rest) == ids(expected)
    assert reasons == []
    drainer.release_drain_lock()
