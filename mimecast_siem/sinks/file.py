"""The ``file`` sink: NDJSON (or text lines for CEF/LEEF) on local disk, durable before ``send`` returns.

Layout: ``{path}/{file_name}``, where ``file_name`` is a template with ``{tenant}``, ``{stream}``,
``{sink}`` and ``{instance}`` (default ``{tenant}/{stream}.ndjson``, ``.log`` for cef/leef). A template
without ``{stream}`` writes every stream into one file.

Guarantees (docs/sinks.md, "File sink"):

* **Durable.** Each batch is written with one ``write`` loop and ``fsync``'d before ``send`` returns;
  new files and renames also fsync the directory.
* **Crash-safe.** A SIGKILL during a write can leave a partial last line (or a truncated gzip member).
  Such bytes were never acknowledged, so the router re-sends their events. Line-based readers and
  tailers (Filebeat, the Splunk forwarder, ``jq``) only take newline-terminated lines, so they never
  see the fragment as an event; when the sink next opens the file it cuts the fragment off before
  appending, so a fragment never ends up in the middle of the file.
* **Rotation** by size (``rotate_max_bytes``) and/or time (``rotate_interval``, aligned to the UTC
  clock so it survives restarts): the live file is renamed to ``<stem>-<UTC stamp><suffix>``, and only
  the newest ``keep`` rotated files are kept (0 = keep all).
* **Compression:** ``rotated`` gzips files when they rotate (the live file stays plain text, friendly
  to tailers); ``stream`` writes gzip directly, one gzip member per batch (smaller on disk at once,
  but not tail-able, slightly worse ratio for small batches, and the sink scans the file on open to
  cut a truncated member). ``none`` (default) writes plain text.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import re
import string
import threading
import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mimecast_siem.config.models import Duration, SinkSettings
from mimecast_siem.events import Event
from mimecast_siem.sinks.base import Rejection, SendResult, SinkContext, SinkHealth, SinkTransientError
from mimecast_siem.sinks.durable import fsync_dir, write_all
from mimecast_siem.sinks.formats import JSON_FORMATS, Encoder, Record, encode_event, get_encoder, record_json
from mimecast_siem.sinks.registry import format_options, parse_options

log = logging.getLogger("mimecast_siem.sinks")

TEMPLATE_FIELDS = frozenset({"tenant", "stream", "sink", "instance"})
_STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
_STAMP_PATTERN = r"\d{8}T\d{12}Z"


class FileSinkOptions(BaseModel):
    """Type-specific keys of a ``file`` sink."""

    model_config = ConfigDict(extra="forbid")

    path: Path | None = Field(default=None, description="Output directory; default <data_dir>/out.")
    file_name: str | None = Field(
        default=None,
        description="File name template under path with {tenant}, {stream}, {sink}, {instance}; without "
        "{stream} all streams share one file. Default {tenant}/{stream}.ndjson (.log for cef/leef).",
    )
    rotate_max_bytes: int | None = Field(
        default=100 * 1024 * 1024, ge=1024, description="Rotate a file before it grows past this size; null = never."
    )
    rotate_interval: Duration | None = Field(
        default=None, description="Also rotate when this period of the UTC clock ends (e.g. 1h, 1d); null = never."
    )
    keep: int = Field(default=10, ge=0, le=100_000, description="Rotated files kept per file; 0 keeps all.")
    compression: Literal["none", "rotated", "stream"] = Field(
        default="none", description="none | rotated (gzip files as they rotate) | stream (write gzip directly)."
    )
    gzip_level: int = Field(default=6, ge=1, le=9, description="gzip compression level.")
    format_options: dict[str, Any] = Field(default_factory=dict, description="Options of the sink's format.")

    @field_validator("file_name")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None:
            return value
        check_template(value)
        return value

    @field_validator("rotate_interval")
    @classmethod
    def _interval(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(seconds=1):
            raise ValueError("rotate_interval must be at least 1s")
        return value


def check_template(template: str) -> None:
    """Refuse templates with unknown placeholders, absolute paths or ``..`` (ValueError)."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(f"invalid template: {exc}") from None
    unknown = sorted({f for f in fields if f not in TEMPLATE_FIELDS})
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}; allowed: {', '.join(sorted(TEMPLATE_FIELDS))}")
    if template.startswith("/") or ".." in Path(template).parts or not template.strip():
        raise ValueError("must be a relative path inside the sink directory (no leading /, no ..)")


_SAFE_PART = re.compile(r"[^A-Za-z0-9._-]")


def render_file_name(template: str, *, tenant: str, stream: str, sink: str, instance: str) -> str:
    """Fill the template; values are made path-safe (no separators, no leading dots)."""

    def safe(value: str) -> str:
        return _SAFE_PART.sub("_", value).lstrip(".") or "_"

    return template.format(tenant=safe(tenant), stream=safe(stream), sink=safe(sink), instance=safe(instance))


def event_lines(encoder: Encoder, event: Event) -> bytes:
    """The newline-terminated line(s) of one event's records (raises what the encoder raises)."""
    records = encode_event(encoder, event)
    # One record per event is the common case; skip the join for it (hot path).
    return record_line(records[0]) if len(records) == 1 else b"".join(record_line(r) for r in records)


def encode_lines(encoder: Encoder, events: Sequence[Event]) -> tuple[list[tuple[Event, bytes]], list[Rejection]]:
    """Encode each event to newline-terminated bytes; events the encoder chokes on are rejected."""
    encoded: list[tuple[Event, bytes]] = []
    rejected: list[Rejection] = []
    for event in events:
        try:
            data = event_lines(encoder, event)
        except Exception as exc:  # one odd event must not block the batch
            rejected.append(Rejection(event, f"{encoder.name} encoding failed: {type(exc).__name__}: {exc}"))
            continue
        encoded.append((event, data))
    return encoded, rejected


def record_line(record: Record) -> bytes:
    """One record as one line: compact JSON for objects, text with CR/LF escaped for strings."""
    if isinstance(record, str):
        # A raw newline would split one record into two lines for every line-based reader. A CEF line
        # never holds one, nor do LEEF's values and header (their encoders escape or replace them): a
        # scan for each (C, no call) and no replacing unless one is there.
        if "\r" in record or "\n" in record:
            record = record.replace("\r", "\\r").replace("\n", "\\n")
        return record.encode("utf-8", "surrogatepass") + b"\n"
    # Not OPT_APPEND_NEWLINE: orjson's result keeps its whole working buffer (4-32 KB whatever the
    # length, ~8 KB of RSS per ~2 KB line), and a batch holds hundreds of lines. The concatenation is
    # an exact-size copy and orjson's buffer is freed at once (peak RSS, issue 16).
    return record_json(record) + b"\n"


class FileSink:
    """Append events to files on local disk (see the module docstring)."""

    options_model: ClassVar[type[BaseModel]] = FileSinkOptions
    #: The router cuts batches by events only (router.py). A batch is one append; nothing downstream limits its size.
    bounds_own_bytes: ClassVar[bool] = True

    def __init__(self, settings: SinkSettings, context: SinkContext) -> None:
        self.name = settings.name
        self.options = parse_options(settings, FileSinkOptions, "file")
        self.encoder = get_encoder(settings.format, format_options(settings))
        self.directory = Path(self.options.path or Path(context.data_dir) / "out")
        default_suffix = ".ndjson" if settings.format in JSON_FORMATS else ".log"
        self.template = self.options.file_name or f"{{tenant}}/{{stream}}{default_suffix}"
        self.instance = str(context.instance_id)
        self._writers: dict[Path, FileWriter] = {}
        self._paths: dict[tuple[str, str], Path] = {}
        self._writers_lock = threading.Lock()

    async def start(self) -> None:
        """Create the output directory."""
        try:
            await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkTransientError(f"cannot create the output directory {self.directory}: {exc}") from None

    async def healthcheck(self) -> SinkHealth:
        """OK when the output directory exists and is writable."""
        if not self.directory.is_dir():
            return SinkHealth(False, f"{self.directory} does not exist")
        if not os.access(self.directory, os.W_OK):
            return SinkHealth(False, f"{self.directory} is not writable")
        return SinkHealth(True, str(self.directory))

    async def send(self, events: Sequence[Event]) -> SendResult:
        """Append the batch and fsync; return once it is on disk."""
        # One pass: encode each event and put its line with its file's (a batch is one tenant and
        # stream as the router delivers it, so the file is looked up when those change).
        encoder = self.encoder
        rejected: list[Rejection] = []
        by_path: dict[Path, list[bytes]] = {}
        chunks: list[bytes] = []
        tenant: str | None = None
        stream: str | None = None
        accepted = 0
        for event in events:
            try:
                data = event_lines(encoder, event)
            except Exception as exc:  # one odd event must not block the batch
                rejected.append(Rejection(event, f"{encoder.name} encoding failed: {type(exc).__name__}: {exc}"))
                continue
            if event.tenant != tenant or event.stream != stream:
                tenant, stream = event.tenant, event.stream
                chunks = by_path.setdefault(self.path_for(event), [])
            chunks.append(data)
            accepted += 1
        del chunks
        # One buffer per file; the lines are released before the writes are awaited (peak RSS while
        # other windows' batches wait on their fsync, issue 16).
        payloads = [(path, b"".join(chunks)) for path, chunks in by_path.items()]
        del by_path
        written = 0
        for path, payload in payloads:
            writer = self._writer(path)
            try:
                written += await asyncio.to_thread(writer.append, payload)
            except OSError as exc:
                raise SinkTransientError(f"cannot write {path}: {exc}") from None
        return SendResult(accepted=accepted, rejected=rejected, bytes_sent=written)

    async def close(self) -> None:
        """Close every open file (idempotent)."""
        with self._writers_lock:
            writers = list(self._writers.values())
            self._writers.clear()
        for writer in writers:
            await asyncio.to_thread(writer.close)

    def path_for(self, event: Event) -> Path:
        """Where ``event`` is written."""
        key = (event.tenant, event.stream)
        path = self._paths.get(key)
        if path is None:
            name = render_file_name(
                self.template, tenant=event.tenant, stream=event.stream, sink=self.name, instance=self.instance
            )
            if self.options.compression == "stream":
                name += ".gz"
            path = self.directory / name
            # Bounded by the configured tenants x streams; rendering per event showed in the profile.
            self._paths[key] = path
        return path

    def _writer(self, path: Path) -> FileWriter:
        with self._writers_lock:
            writer = self._writers.get(path)
            if writer is None:
                writer = FileWriter(
                    path,
                    max_bytes=self.options.rotate_max_bytes,
                    interval=self.options.rotate_interval,
                    keep=self.options.keep,
                    compression=self.options.compression,
                    gzip_level=self.options.gzip_level,
                )
                self._writers[path] = writer
            return writer


class FileWriter:
    """One output file: append + fsync, torn-tail repair, rotation, pruning. Blocking; thread-safe."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int | None = None,
        interval: timedelta | None = None,
        keep: int = 10,
        compression: str = "none",
        gzip_level: int = 6,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.interval = interval.total_seconds() if interval else None
        self.keep = keep
        self.compression = compression
        self.gzip_level = gzip_level
        self.clock = clock or (lambda: datetime.now(UTC))
        self._fd: int | None = None
        self._size = 0
        self._period: int | None = None
        self._lock = threading.Lock()
        name = path.name[: -len(".gz")] if compression == "stream" and path.name.endswith(".gz") else path.name
        stem, dot, rest = name.partition(".")
        self._stem = stem
        self._suffix = dot + rest + (".gz" if compression == "stream" else "")
        self._rotated = re.compile(rf"^{re.escape(stem)}-{_STAMP_PATTERN}{re.escape(dot + rest)}(\.gz)?$")

    def append(self, data: bytes) -> int:
        """Append ``data`` (whole lines), fsync, rotate first when due; return the bytes written."""
        payload = gzip.compress(data, self.gzip_level, mtime=0) if self.compression == "stream" else data
        with self._lock:
            now = self.clock()
            if self._fd is None:
                self._open(now)
            if self._due(now, len(payload)):
                self._rotate(now)
                self._open(now)
            assert self._fd is not None
            try:
                write_all(self._fd, payload)
                os.fsync(self._fd)
            except OSError:
                # A full disk stops write() mid-batch: part of a line is on disk, unacknowledged.
                # Closing makes the next append reopen the file, which cuts that fragment off -
                # appending after it would glue it to the retried batch's first line.
                os.close(self._fd)
                self._fd = None
                raise
            self._size += len(payload)
            if self._period is None:
                self._period = self._period_of(now)
        return len(payload)

    def close(self) -> None:
        """Close the file descriptor (the data is already fsync'd)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    # -- internals -----------------------------------------------------------------------------

    def _period_of(self, when: datetime) -> int | None:
        if not self.interval:
            return None
        return int(when.timestamp() // self.interval)

    def _open(self, now: datetime) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        if not created:
            removed = repair_gzip_tail(self.path) if self.compression == "stream" else repair_text_tail(self.path)
            if removed:
                log.warning(
                    "Cut %d bytes of an interrupted write from the end of %s; those events were not "
                    "acknowledged and are sent again.",
                    removed,
                    self.path,
                )
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        stat = os.fstat(fd)
        self._fd = fd
        self._size = stat.st_size
        if self._size:
            self._period = self._period_of(datetime.fromtimestamp(stat.st_mtime, UTC))
        else:
            self._period = self._period_of(now)
        if created:
            fsync_dir(self.path.parent)
        if self.compression == "rotated":
            self._compress_leftovers()

    def _due(self, now: datetime, incoming: int) -> bool:
        if self._size == 0:
            return False
        if self.max_bytes is not None and self._size + incoming > self.max_bytes:
            return True
        return self.interval is not None and self._period_of(now) != self._period

    def _rotate(self, now: datetime) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        target = self.path.with_name(f"{self._stem}-{now.strftime(_STAMP_FORMAT)}{self._suffix}")
        os.replace(self.path, target)
        fsync_dir(self.path.parent)
        log.info("Rotated %s to %s.", self.path.name, target.name)
        if self.compression == "rotated":
            gzip_file(target, self.gzip_level)
        self._prune()

    def _compress_leftovers(self) -> None:
        """Finish compressions a crash interrupted (rotated plain files, stale temp files)."""
        for candidate in self.path.parent.iterdir():
            if candidate.name.endswith(".gz.tmp") and candidate.name.startswith(self._stem + "-"):
                candidate.unlink(missing_ok=True)
            elif self._rotated.match(candidate.name) and not candidate.name.endswith(".gz"):
                gzip_file(candidate, self.gzip_level)

    def rotated_files(self) -> list[Path]:
        """Rotated files of this output, oldest first."""
        return sorted(p for p in self.path.parent.iterdir() if self._rotated.match(p.name))

    def _prune(self) -> None:
        if self.keep <= 0:
            return
        rotated = self.rotated_files()
        for old in rotated[: max(0, len(rotated) - self.keep)]:
            old.unlink(missing_ok=True)
            log.info("Removed old rotated file %s (keep %d).", old.name, self.keep)


def gzip_file(path: Path, level: int = 6) -> Path:
    """Compress ``path`` to ``path.gz`` durably (temp file, fsync, rename), then remove ``path``."""
    target = path.with_name(path.name + ".gz")
    tmp = path.with_name(path.name + ".gz.tmp")
    with open(path, "rb") as src, open(tmp, "wb") as raw_out:
        with gzip.GzipFile(filename=path.name, mode="wb", compresslevel=level, fileobj=raw_out, mtime=0) as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        raw_out.flush()
        os.fsync(raw_out.fileno())
    os.replace(tmp, target)
    path.unlink()
    fsync_dir(path.parent)
    return target


def repair_text_tail(path: Path) -> int:
    """Cut bytes after the last newline (a torn line); return how many were removed."""
    with open(path, "r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        keep = 0
        end = size
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            chunk = handle.read(end - start)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                keep = start + idx + 1
                break
            end = start
        if keep < size:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
        return size - keep


def repair_gzip_tail(path: Path) -> int:
    """Cut a truncated or corrupt trailing gzip member; return how many bytes were removed."""
    data = path.read_bytes()
    view = memoryview(data)
    good = 0
    while good < len(data):
        decompressor = zlib.decompressobj(wbits=31)
        try:
            # Decompress in slices so a huge member never sits in memory at once.
            pos = good
            while not decompressor.eof and pos < len(data):
                decompressor.decompress(view[pos : pos + (1 << 20)], 1 << 24)
                while decompressor.unconsumed_tail:
                    decompressor.decompress(decompressor.unconsumed_tail, 1 << 24)
                pos += min(1 << 20, len(data) - pos)
        except zlib.error:
            break
        if not decompressor.eof:
            break
        good = pos - len(decompressor.unused_data)
    if good < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(good)
            handle.flush()
            os.fsync(handle.fileno())
    return len(data) - good
