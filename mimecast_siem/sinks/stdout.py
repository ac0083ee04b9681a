"""The ``stdout`` sink: one line per record on standard output, for container log collection.

JSON formats give compact JSON lines; cef/leef give their text line. The stream is flushed after
every batch, so a log collector (Kubernetes, Docker, systemd) has the whole batch once ``send``
returns. There is no stronger acknowledgement on a pipe: the collector's own buffering decides what
survives a node crash. Keep the daemon's own logs on stderr (the default) so the two never mix.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Sequence
from typing import BinaryIO, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.events import Event
from mimecast_siem.sinks.base import SendResult, SinkContext, SinkHealth, SinkTransientError
from mimecast_siem.sinks.file import encode_lines
from mimecast_siem.sinks.formats import get_encoder
from mimecast_siem.sinks.registry import format_options, parse_options


class StdoutSinkOptions(BaseModel):
    """Type-specific keys of a ``stdout`` sink."""

    model_config = ConfigDict(extra="forbid")

    target: Literal["stdout", "stderr"] = Field(default="stdout", description="Which standard stream to write.")
    format_options: dict[str, object] = Field(default_factory=dict, description="Options of the sink's format.")


class StdoutSink:
    """Write events as lines to standard output (see the module docstring)."""

    options_model: ClassVar[type[BaseModel]] = StdoutSinkOptions

    def __init__(self, settings: SinkSettings, context: SinkContext, *, output: BinaryIO | None = None) -> None:
        self.name = settings.name
        self.options = parse_options(settings, StdoutSinkOptions, "stdout")
        self.encoder = get_encoder(settings.format, format_options(settings))
        self._output = output
        self._lock = threading.Lock()

    @property
    def output(self) -> BinaryIO:
        """The binary stream written to (standard output unless one was injected)."""
        if self._output is None:
            stream = sys.stdout if self.options.target == "stdout" else sys.stderr
            self._output = stream.buffer
        return self._output

    async def start(self) -> None:
        """Nothing to open."""

    async def healthcheck(self) -> SinkHealth:
        """OK while the stream is open."""
        closed = getattr(self.output, "closed", False)
        return SinkHealth(not closed, "closed" if closed else self.options.target)

    async def send(self, events: Sequence[Event]) -> SendResult:
        """Write the batch and flush."""
        encoded, rejected = encode_lines(self.encoder, events)
        data = b"".join(chunk for _, chunk in encoded)
        try:
            await asyncio.to_thread(self._write, data)
        except (OSError, ValueError) as exc:  # ValueError: I/O on a closed file
            raise SinkTransientError(f"cannot write to {self.options.target}: {exc}") from None
        return SendResult(accepted=len(encoded), rejected=rejected, bytes_sent=len(data))

    def _write(self, data: bytes) -> None:
        with self._lock:
            self.output.write(data)
            self.output.flush()

    async def close(self) -> None:
        """Flush (the process's standard stream is never closed)."""
        with contextlib.suppress(OSError, ValueError):
            await asyncio.to_thread(self.output.flush)
