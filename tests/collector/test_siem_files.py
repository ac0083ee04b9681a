"""Streaming gzip NDJSON reading: line numbers, corrupt lines, bounded steps, truncation."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import orjson
import pytest

from mimecast_siem.collector.siem_files import CorruptFileError, FileLine, NdjsonGzipReader, read_ndjson_gzip


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _read(data: bytes, size: int = 7, **kw: int) -> list[FileLine]:
    out: list[FileLine] = []
    async for lines in read_ndjson_gzip(_chunks(data, size), "f.json.gz", **kw):
        out.extend(lines)
    return out


async def test_records_and_corrupt_lines_with_numbers() -> None:
    body = b'{"a": 1}\n{"a": 2, "b\n\n[1, 2]\n{"a": 3}'  # no trailing newline on the last line
    lines = await _read(gzip.compress(body))
    assert [(line.line, line.record) for line in lines if line.record] == [(1, {"a": 1}), (5, {"a": 3})]
    corrupt = [line.corrupt for line in lines if line.corrupt]
    assert [(c.file, c.line) for c in corrupt] == [("f.json.gz", 2), ("f.json.gz", 4)]
    assert "invalid JSON" in corrupt[0].error
    assert "list" in corrupt[1].error


async def test_concatenated_members_and_every_chunk_size() -> None:
    records = [{"n": i, "pad": "x" * (i % 50)} for i in range(500)]
    part = b"".join(orjson.dumps(r) + b"\n" for r in records)
    data = gzip.compress(part) + gzip.compress(part)
    for size in (1, 13, 4096, len(data)):
        lines = await _read(data, size)
        assert [line.record for line in lines] == records + records


async def test_truncated_or_non_gzip_stream_is_an_error() -> None:
    data = gzip.compress(b'{"a": 1}\n' * 1000)
    with pytest.raises(CorruptFileError, match="ended before"):
        await _read(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="not a valid gzip"):
        await _read(b"<Error>AccessDenied</Error>")


async def test_inflation_is_stepwise_and_long_lines_are_skipped() -> None:
    # 64 MB of one highly compressible line must not be inflated in one piece.
    bomb = gzip.compress(b"{" + b" " * (64 << 20) + b"}\n" + b'{"ok": true}\n')
    reader = NdjsonGzipReader("bomb.gz", max_line_bytes=1 << 20)
    steps = 0
    found: list[FileLine] = []
    for lines in reader.feed(bomb):
        steps += 1
        found.extend(lines)
    found.extend(reader.finish())
    assert steps >= 1
    assert [line.record for line in found if line.record] == [{"ok": True}]
    assert [(c.line, c.error) for line in found if (c := line.corrupt)] == [(1, "line too long")]
