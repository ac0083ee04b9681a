"""The file sink: layout, text formats, rotation by size and time, keep N, gzip, torn-tail repair."""

from __future__ import annotations

import gzip
import logging
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.errors import ConfigError
from mimecast_siem.events import Event
from mimecast_siem.sinks import get_encoder
from mimecast_siem.sinks.base import SinkContext
from mimecast_siem.sinks.file import (
    FileSink,
    FileWriter,
    encode_lines,
    record_line,
    repair_gzip_tail,
    repair_text_tail,
)
from tests.sinks.builders import batch, make_event


def file_sink(context: SinkContext, tmp_path: Path, fmt: str = "json", **options: Any) -> FileSink:
    data = {"name": "archive", "type": "file", "format": fmt, "path": str(tmp_path / "out"), **options}
    return FileSink(SinkSettings.model_validate(data), context)


def json_lines(path: Path) -> list[dict[str, Any]]:
    raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    assert raw == b"" or raw.endswith(b"\n")
    return [orjson.loads(line) for line in raw.splitlines()]


async def test_one_ndjson_file_per_tenant_and_stream(context: SinkContext, tmp_path: Path) -> None:
    sink = file_sink(context, tmp_path)
    await sink.start()
    urls = batch(3)
    audits = batch(2, "audit", tenant="globex")
    result = await sink.send([*urls, *audits])
    await sink.close()
    assert result.accepted == 5
    out = tmp_path / "out"
    assert [d["event"]["id"] for d in json_lines(out / "acme" / "ttp-url.ndjson")] == [e.event_id for e in urls]
    assert [d["event"]["id"] for d in json_lines(out / "globex" / "audit.ndjson")] == [e.event_id for e in audits]
    assert result.bytes_sent == sum(p.stat().st_size for p in out.rglob("*.ndjson"))


async def test_interleaved_tenants_keep_their_order_and_a_bad_event_is_rejected(
    context: SinkContext, tmp_path: Path
) -> None:
    class Fussy:
        name = "fussy"

        def encode(self, event: Event) -> list[dict[str, Any] | str]:
            if event.raw.get("subject") == "message 1":
                raise ValueError("cannot encode this one")
            return [{"id": event.event_id}]

    sink = file_sink(context, tmp_path)
    sink.encoder = Fussy()
    acme, globex = batch(4), batch(4, tenant="globex", start=10)
    mixed = [acme[0], globex[0], acme[1], acme[2], globex[1], globex[2], acme[3], globex[3]]
    result = await sink.send(mixed)
    await sink.close()
    assert result.accepted == 7
    assert [r.event.event_id for r in result.rejected] == [acme[1].event_id]
    out = tmp_path / "out"
    assert [d["id"] for d in json_lines(out / "acme" / "ttp-url.ndjson")] == [acme[i].event_id for i in (0, 2, 3)]
    assert [d["id"] for d in json_lines(out / "globex" / "ttp-url.ndjson")] == [e.event_id for e in globex]


async def test_one_file_for_all_streams_and_appending_across_restarts(context: SinkContext, tmp_path: Path) -> None:
    for start in (0, 3):
        sink = file_sink(context, tmp_path, file_name="{sink}-all.ndjson")
        await sink.send([*batch(2, start=start), *batch(1, "audit", start=start)])
        await sink.close()
    lines = json_lines(tmp_path / "out" / "archive-all.ndjson")
    assert len(lines) == 6
    assert {d["labels"]["stream"] for d in lines} == {"ttp-url", "audit"}


async def test_text_formats_write_one_line_per_event(context: SinkContext, tmp_path: Path) -> None:
    sink = file_sink(context, tmp_path, fmt="cef")
    events = batch(4)
    await sink.send(events)
    await sink.close()
    text = (tmp_path / "out" / "acme" / "ttp-url.log").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) == 4
    assert all(line.startswith("CEF:0|") for line in lines)


async def test_default_directory_is_under_the_data_dir(context: SinkContext) -> None:
    sink = FileSink(SinkSettings.model_validate({"name": "f", "type": "file"}), context)
    await sink.start()
    assert (await sink.healthcheck()).ok
    await sink.send(batch(1))
    await sink.close()
    assert (Path(context.data_dir) / "out" / "acme" / "ttp-url.ndjson").exists()


async def test_size_rotation_keeps_the_newest_files(context: SinkContext, tmp_path: Path) -> None:
    sink = file_sink(context, tmp_path, rotate_max_bytes=4096, keep=3)
    events = batch(40)
    for i in range(0, 40, 2):  # batches well under the cap: a batch larger than it would stand alone
        await sink.send(events[i : i + 2])
    await sink.close()
    folder = tmp_path / "out" / "acme"
    rotated = sorted(p for p in folder.iterdir() if p.name != "ttp-url.ndjson")
    assert len(rotated) == 3
    assert all(p.name.startswith("ttp-url-") and p.name.endswith(".ndjson") for p in rotated)
    files = [*rotated, folder / "ttp-url.ndjson"]
    assert all(p.stat().st_size <= 4096 for p in files)
    ids = [d["event"]["id"] for p in files for d in json_lines(p)]
    # The kept files hold the newest events, in order, none twice.
    assert ids == [e.event_id for e in events][-len(ids) :]


async def test_keep_zero_keeps_everything(context: SinkContext, tmp_path: Path) -> None:
    sink = file_sink(context, tmp_path, rotate_max_bytes=2048, keep=0, compression="rotated")
    events = batch(40)
    for i in range(0, 40, 4):
        await sink.send(events[i : i + 4])
    await sink.close()
    folder = tmp_path / "out" / "acme"
    rotated = sorted(p for p in folder.iterdir() if p.name != "ttp-url.ndjson")
    assert rotated
    assert all(p.name.endswith(".ndjson.gz") for p in rotated)
    ids = [d["event"]["id"] for p in [*rotated, folder / "ttp-url.ndjson"] for d in json_lines(p)]
    assert ids == [e.event_id for e in events]


def test_time_rotation_follows_the_utc_clock(tmp_path: Path) -> None:
    now = [datetime(2026, 11, 25, 10, 59, 0, tzinfo=UTC)]
    path = tmp_path / "t.ndjson"
    writer = FileWriter(path, interval=timedelta(hours=1), keep=0, clock=lambda: now[0])
    writer.append(b'{"n":1}\n')
    now[0] += timedelta(seconds=30)
    writer.append(b'{"n":2}\n')
    now[0] += timedelta(seconds=60)  # 11:00:30: a new hour
    writer.append(b'{"n":3}\n')
    writer.close()
    rotated = writer.rotated_files()
    assert len(rotated) == 1
    assert "20261125T110030" in rotated[0].name
    assert json_lines(rotated[0]) == [{"n": 1}, {"n": 2}]
    assert json_lines(path) == [{"n": 3}]
    # After a restart the file's period comes from its mtime: written "now", so no rotation yet.
    again = FileWriter(path, interval=timedelta(hours=1), keep=0, clock=lambda: now[0])
    again.append(b'{"n":4}\n')
    again.close()
    assert len(again.rotated_files()) == 1


async def test_gzip_stream_writes_one_member_per_batch(context: SinkContext, tmp_path: Path) -> None:
    sink = file_sink(context, tmp_path, compression="stream")
    events = batch(9)
    for i in range(0, 9, 3):
        await sink.send(events[i : i + 3])
    await sink.close()
    path = tmp_path / "out" / "acme" / "ttp-url.ndjson.gz"
    assert [d["event"]["id"] for d in json_lines(path)] == [e.event_id for e in events]


def test_torn_text_tail_is_cut_on_open(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "x.ndjson"
    path.write_bytes(b'{"n":1}\n{"n":2}\n{"n":3, "trunc')
    caplog.set_level(logging.WARNING, logger="mimecast_siem.sinks")
    writer = FileWriter(path)
    writer.append(b'{"n":4}\n')
    writer.close()
    assert json_lines(path) == [{"n": 1}, {"n": 2}, {"n": 4}]
    assert "interrupted write" in caplog.text
    assert repair_text_tail(path) == 0
    no_newline = tmp_path / "y.ndjson"
    no_newline.write_bytes(b"partial only")
    assert repair_text_tail(no_newline) == len(b"partial only")
    assert no_newline.read_bytes() == b""


def test_truncated_gzip_member_is_cut_on_open(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson.gz"
    good = gzip.compress(b'{"n":1}\n') + gzip.compress(b'{"n":2}\n')
    torn = gzip.compress(b'{"n":3}\n' * 100)
    path.write_bytes(good + torn[: len(torn) // 2])
    assert repair_gzip_tail(path) == len(torn) // 2
    assert path.read_bytes() == good
    writer = FileWriter(path, compression="stream")
    writer.append(b'{"n":5}\n')
    writer.close()
    assert json_lines(path) == [{"n": 1}, {"n": 2}, {"n": 5}]


def test_leftover_rotations_are_compressed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "s.ndjson"
    leftover = tmp_path / "s-20261125T100000000000Z.ndjson"
    leftover.write_bytes(b'{"n":1}\n')
    (tmp_path / "s-20261125T100000000000Z.ndjson.gz.tmp").write_bytes(b"half")
    writer = FileWriter(path, compression="rotated")
    writer.append(b'{"n":2}\n')
    writer.close()
    assert not leftover.exists()
    assert json_lines(tmp_path / "s-20261125T100000000000Z.ndjson.gz") == [{"n": 1}]
    assert not (tmp_path / "s-20261125T100000000000Z.ndjson.gz.tmp").exists()


@pytest.mark.parametrize(
    ("options", "key", "fragment"),
    [
        ({"file_name": "{tenant}/{colour}.ndjson"}, "sink.file_name", "unknown placeholder"),
        ({"file_name": "../escape.ndjson"}, "sink.file_name", "relative path"),
        ({"file_name": "/abs.ndjson"}, "sink.file_name", "relative path"),
        ({"rotate_interval": "100ms"}, "sink.rotate_interval", "at least 1s"),
        ({"compression": "zstd"}, "sink.compression", "'none', 'rotated' or 'stream'"),
        ({"rotate_max_bytes": 10}, "sink.rotate_max_bytes", "greater than or equal to 1024"),
    ],
)
def test_bad_options_are_config_errors(
    context: SinkContext, tmp_path: Path, options: dict[str, Any], key: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        file_sink(context, tmp_path, **options)
    problems = {p.key: p.message for p in caught.value.problems}
    assert key in problems
    assert fragment in problems[key]


def test_values_in_paths_are_made_safe(context: SinkContext, tmp_path: Path) -> None:
    sink = file_sink(context, tmp_path)
    odd = make_event("ttp-url", tenant="../../etc")
    path = sink.path_for(odd)
    assert path.resolve().is_relative_to((tmp_path / "out").resolve())


def test_events_the_encoder_cannot_encode_are_rejected_not_fatal() -> None:
    class Fussy:
        name = "fussy"

        def encode(self, event: Event) -> list[dict[str, Any] | str]:
            if event.raw.get("subject") == "message 1":
                raise ValueError("cannot encode this one")
            return [{"id": event.event_id}]

    encoded, rejected = encode_lines(Fussy(), batch(3))
    assert len(encoded) == 2
    assert [r.event.raw["subject"] for r in rejected] == ["message 1"]
    assert "cannot encode this one" in rejected[0].reason


def test_encoded_lines_hold_their_length_not_orjson_s_working_buffer() -> None:
    """A batch holds hundreds of encoded lines at once: each must cost about its own length.

    orjson's result keeps its whole working buffer (4-32 KB whatever the length); a line built with
    OPT_APPEND_NEWLINE cost ~8 KB of RSS for ~2 KB of JSON, which raised the drain's peak by ~10 MB.
    """
    document = {f"field{i:02d}": f"value {i} " * 3 for i in range(60)}
    events = [make_event(seq=n, document=dict(document)) for n in range(200)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        encoded, rejected = encode_lines(get_encoder("json"), events)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert not rejected
    payload = sum(len(data) for _, data in encoded)
    assert all(data.endswith(b"\n") and data.count(b"\n") == 1 for _, data in encoded)
    assert held < 1.5 * payload, (held, payload)


@settings(max_examples=500, deadline=None)
@given(text=st.text(st.sampled_from(list("ab\r\n\\|=é\U0001f389\ud800")), max_size=30))
def test_a_text_line_escapes_cr_and_lf_as_always(text: str) -> None:
    # The definition: both replaced on every line (now only on a line holding one of them).
    expected = text.replace("\r", "\\r").replace("\n", "\\n").encode("utf-8", "surrogatepass") + b"\n"
    assert record_line(text) == expected
    assert record_line(text).count(b"\n") == 1
