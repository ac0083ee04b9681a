"""A full disk under the file sink and the dead-letter file, and corrupted dead-letter files on replay.

The disk fills up in a real child process: ``RLIMIT_FSIZE`` makes ``write()`` stop at a byte limit
(``EFBIG``, with ``SIGXFSZ`` ignored) exactly as ``ENOSPC`` stops it mid-batch, and raising the
limit again is the operator freeing space. Nothing may be acknowledged that is not on disk, and
once space is back the retried batch must land as clean lines: a fragment of the failed write glued
to the next line would turn an acknowledged event into garbage for every line reader.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.sinks.base import Rejection, SinkContext
from mimecast_siem.sinks.deadletter import DeadLetters, encode_entry
from mimecast_siem.sinks.file import FileSink
from tests.sinks.builders import batch

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import asyncio, resource, signal, sys
from pathlib import Path

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.sinks.base import Rejection, SinkContext, SinkTransientError
from mimecast_siem.sinks.deadletter import DeadLetters
from mimecast_siem.sinks.file import FileSink
from tests.sinks.builders import make_event, record

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of killing us


def events(first, count):
    pad = "p" * 2000
    return [make_event("ttp-url", record("ttp-url", subject=str(n), tagMap={"pad": pad}), seq=n)
            for n in range(first, first + count)]


def disk_full(limit):
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def space_freed():
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))


async def main(out, what):
    if what == "file":
        settings = SinkSettings.model_validate(
            {"name": "disk", "type": "file", "path": str(out), "file_name": "events.ndjson", "rotate_max_bytes": None})
        sink = FileSink(settings, SinkContext(data_dir=out, instance_id="child", version="test"))
        await sink.start()
        await sink.send(events(0, 10))
        print("acked 0-9", flush=True)
        size = (out / "events.ndjson").stat().st_size
        disk_full(size + 5000)  # room for about two of the next ten lines
        try:
            await sink.send(events(10, 10))
            print("acked 10-19 on a full disk", flush=True)
        except SinkTransientError as exc:
            print("refused:", type(exc).__name__, flush=True)
        space_freed()
        await sink.send(events(10, 10))  # what the router does: the same batch again
        print("acked 10-19", flush=True)
        await sink.close()
    else:
        dead = DeadLetters(out / "dead.ndjson")
        await dead.write_many("s", [Rejection(e, "first") for e in events(0, 5)])
        disk_full((out / "dead.ndjson").stat().st_size + 3000)
        try:
            await dead.write_many("s", [Rejection(e, "second") for e in events(5, 5)])
            print("written on a full disk", flush=True)
        except OSError as exc:
            print("refused:", type(exc).__name__, flush=True)
        space_freed()
        await dead.write_many("s", [Rejection(e, "second") for e in events(5, 5)])
        print("written", flush=True)


asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
"""


def run_child(out: Path, what: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), what], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def test_a_full_disk_acknowledges_nothing_and_leaves_no_glued_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_child(out, "file") == ["acked 0-9", "refused: SinkTransientError", "acked 10-19"]
    data = (out / "events.ndjson").read_bytes()
    assert data.endswith(b"\n")
    subjects = [int(orjson.loads(line)["mimecast"]["subject"]) for line in data.splitlines()]  # every line parses
    assert sorted(set(subjects)) == list(range(20))
    # At-least-once: lines the failed write completed come again with the retried batch; nothing else.
    repeated = [n for n in set(subjects) if subjects.count(n) > 1]
    assert all(10 <= n < 20 and subjects.count(n) == 2 for n in repeated)
    assert subjects[:10] == list(range(10))


def test_a_full_disk_under_the_dead_letter_file_refuses_then_keeps_everything(tmp_path: Path) -> None:
    assert run_child(tmp_path, "dead") == ["refused: OSError", "written"]
    read = DeadLetters(tmp_path / "dead.ndjson").read()
    assert [e.event.raw["subject"] for e in read.entries] == [str(n) for n in range(10)]
    assert read.corrupt_lines <= 1  # the torn piece of the failed write, isolated on its own line


# --- corrupted dead-letter files -------------------------------------------------------------------

CORRUPT = [
    b"garbage that is not json",
    b'{"ts": "2026-11-25T10:00:00+00:00", "sink": "archive", "ev',  # torn
    b'{"sink": "archive", "event": {"event_id": "x"}}',  # an entry without its event's keys
    b'{"sink": "archive", "attempts": "many", "event": {"event_id": "x", "tenant": "t", "stream": "s", '
    b'"timestamp": "2026-11-25T10:00:00+00:00"}}',
    b"\x00\x00\x00\x00",
    b'{"sink": "archive", "event": "\xff\xfe not utf-8"}',
    b"[1, 2, 3]",
    b'{"ts": "not a time", "sink": "archive", "event": {"event_id": "y", "tenant": "t", "stream": "s", '
    b'"timestamp": "also not a time"}}',
]


async def test_replay_delivers_good_entries_and_keeps_corrupt_lines_byte_for_byte(
    tmp_path: Path, context: SinkContext
) -> None:
    dead = DeadLetters(tmp_path / "dl" / "dead-letters.ndjson")
    good = batch(6)
    dead.path.parent.mkdir(parents=True)
    lines = [encode_entry("archive", e, "was refused") for e in good]
    mixed = [lines[0], CORRUPT[0] + b"\n", lines[1], *(c + b"\n" for c in CORRUPT[1:]), *lines[2:]]
    dead.path.write_bytes(b"".join(mixed))
    sink = FileSink(
        SinkSettings.model_validate({"name": "archive", "type": "file", "path": str(tmp_path / "out")}), context
    )
    await sink.start()
    report = await dead.replay({"archive": sink})
    await sink.close()
    assert report.delivered == 6
    assert report.corrupt_lines == len(CORRUPT)
    written = (tmp_path / "out" / "acme" / "ttp-url.ndjson").read_bytes().splitlines()
    assert [orjson.loads(line)["event"]["id"] for line in written] == [e.event_id for e in good]
    # The unreadable lines are still there for an operator (dead letters are data; only people delete them).
    left = b"".join(p.read_bytes() for p in dead.segments())
    assert sorted(left.splitlines()) == sorted(CORRUPT)
    again = await dead.replay({"archive": sink})
    assert again.delivered == 0
    assert again.corrupt_lines == len(CORRUPT)


async def test_listing_a_corrupted_file_reports_instead_of_failing(tmp_path: Path) -> None:
    dead = DeadLetters(tmp_path / "dead-letters.ndjson")
    await dead.write_many("archive", [Rejection(e, "r") for e in batch(2)])
    with dead.path.open("ab") as handle:
        handle.write(b"\n".join(CORRUPT) + b"\n")
    await dead.write_many("archive", [Rejection(e, "r") for e in batch(1, start=5)])
    read = dead.read()
    assert len(read.entries) == 3
    assert read.corrupt_lines == len(CORRUPT)
