"""Reading SIEM batch files: gzip NDJSON decompressed and parsed as it streams in, in flat memory.

A file is never held whole, compressed or not: :func:`read_ndjson_gzip` pulls compressed chunks,
inflates them at most :data:`INFLATE_STEP` bytes at a time (a gzip bomb cannot blow up one step),
splits lines and parses each with orjson. It yields lists of :class:`FileLine` - a parsed record or
a :class:`CorruptLine` naming the file and the 1-based line number - and waits while the caller
delivers them, so memory is bounded by ``chunk + INFLATE_STEP + batch`` whatever the file size
(Elastic's integration was OOM-killed expanding whole batches, elastic/integrations#16022).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

#: Most bytes inflated from the compressed stream in one step.
INFLATE_STEP = 1 << 20
#: A line longer than this is reported corrupt and skipped (no record is that large).
MAX_LINE_BYTES = 8 << 20
#: Longest excerpt of a corrupt line kept in the dead letter.
EXCERPT_CHARS = 2000


@dataclass(frozen=True, slots=True)
class CorruptLine:
    """A line that is not a JSON object: where it was, why, and the start of its text."""

    file: str
    line: int
    error: str
    excerpt: str


@dataclass(frozen=True, slots=True)
class FileLine:
    """One line of a file: its 1-based number and its record, or why it could not be read."""

    line: int
    record: dict[str, Any] | None
    corrupt: CorruptLine | None = None


class CorruptFileError(Exception):
    """The compressed stream itself is broken (not gzip, or cut short): the file must be fetched again."""


class NdjsonGzipReader:
    """Incremental gzip → lines → records: feed compressed bytes, take parsed lines (pure, sync).

    Args:
        name: the file's name, for corrupt-line reports.
        max_line_bytes: longer lines are reported corrupt and skipped.
    """

    def __init__(self, name: str, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.name = name
        self.max_line_bytes = max_line_bytes
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._pending = b""
        self._skipping = False
        self._open = False  # inside a gzip member (its end not seen yet)
        self.lines = 0
        self.bytes_in = 0
        self.bytes_out = 0

    def feed(self, chunk: bytes) -> Iterator[list[FileLine]]:
        """Inflate ``chunk`` step by step, yielding the complete lines of each step (a list per step)."""
        self.bytes_in += len(chunk)
        data = chunk
        while data:
            try:
                out = self._inflater.decompress(data, INFLATE_STEP)
            except zlib.error as exc:
                raise CorruptFileError(f"{self.name} is not a valid gzip stream ({exc})") from None
            data = self._inflater.unconsumed_tail
            self._open = not self._inflater.eof
            if self._inflater.eof:
                # Concatenated gzip members are one file (gzip(1) allows it): start the next member.
                rest = self._inflater.unused_data
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                data = rest + data
            if out:
                self.bytes_out += len(out)
                lines = self._split(out)
                if lines:
                    yield lines

    def finish(self) -> list[FileLine]:
        """The last line (one without a trailing newline); raises when the stream was cut short."""
        tail = self._inflater.flush()
        if tail:
            self.bytes_out += len(tail)
        lines = self._split(tail) if tail else []
        if self._pending.strip():
            lines.append(self._parse(self._pending))
        self._pending = b""
        if self._open:
            raise CorruptFileError(f"{self.name} ended before its gzip stream did (truncated download)")
        return lines

    def _split(self, data: bytes) -> list[FileLine]:
        out: list[FileLine] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            if self._skipping:
                self._skipping = False
                self._pending = b""
            else:
                piece = self._pending + data[start:end] if self._pending else data[start:end]
                self._pending = b""
                if piece.strip():
                    out.append(self._parse(piece))
                else:
                    self.lines += 1
            start = end + 1
        rest = data[start:]
        if self._skipping:
            return out
        if len(self._pending) + len(rest) > self.max_line_bytes:
            self.lines += 1
            out.append(self._corrupt(self._pending[:EXCERPT_CHARS] + rest[:EXCERPT_CHARS], "line too long"))
            self._pending = b""
            self._skipping = True
        elif rest:
            self._pending += rest
        return out

    def _parse(self, raw: bytes) -> FileLine:
        self.lines += 1
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return self._corrupt(raw, f"invalid JSON: {exc}")
        if not isinstance(record, dict):
            return self._corrupt(raw, f"a JSON {type(record).__name__}, not an object")
        return FileLine(self.lines, record)

    def _corrupt(self, raw: bytes, error: str) -> FileLine:
        excerpt = raw[:EXCERPT_CHARS].decode("utf-8", errors="replace")
        return FileLine(self.lines, None, CorruptLine(self.name, self.lines, error, excerpt))


async def read_ndjson_gzip(
    chunks: AsyncIterator[bytes], name: str, *, max_line_bytes: int = MAX_LINE_BYTES
) -> AsyncIterator[list[FileLine]]:
    """Lines of a gzip NDJSON file as its compressed ``chunks`` arrive (see :class:`NdjsonGzipReader`).

    Raises:
        CorruptFileError: the gzip stream is broken or ends early.
    """
    reader = NdjsonGzipReader(name, max_line_bytes=max_line_bytes)
    async for chunk in chunks:
        for lines in reader.feed(chunk):
            yield lines
    last = reader.finish()
    if last:
        yield last
