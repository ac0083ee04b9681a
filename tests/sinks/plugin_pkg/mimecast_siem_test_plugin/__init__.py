"""A third-party sink for tests: writes each batch to ``<spool_dir>/<prefix>-<n>.json``.

It uses only the public API of ``mimecast_siem.sinks`` (the Sink protocol and ``get_encoder``), as a
real plugin would.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from mimecast_siem.events import Event
from mimecast_siem.sinks import SendResult, SinkContext, SinkHealth, get_encoder


class SpoolOptions(BaseModel):
    """Options of the ``spool`` sink."""

    model_config = ConfigDict(extra="forbid")

    spool_dir: Path = Field(description="Directory the batches are written to.")
    prefix: str = Field(default="batch", pattern=r"^[a-z]+$", description="File name prefix.")


class SpoolSink:
    """Write every batch as one JSON array file."""

    options_model: ClassVar[type[BaseModel]] = SpoolOptions
    formats: ClassVar[frozenset[str]] = frozenset({"json", "raw", "ocsf"})

    def __init__(self, settings: Any, context: SinkContext) -> None:
        self.name = settings.name
        options = dict(settings.options())
        options.pop("format_options", None)
        self.options = SpoolOptions.model_validate(options)
        self.encoder = get_encoder(settings.format)
        self.count = 0

    async def start(self) -> None:
        self.options.spool_dir.mkdir(parents=True, exist_ok=True)

    async def healthcheck(self) -> SinkHealth:
        return SinkHealth(self.options.spool_dir.is_dir(), str(self.options.spool_dir))

    async def send(self, events: Sequence[Event]) -> SendResult:
        records = [r for e in events for r in self.encoder.encode(e)]
        self.count += 1
        path = self.options.spool_dir / f"{self.options.prefix}-{os.getpid()}-{self.count}.json"
        data = json.dumps(records).encode()
        await asyncio.to_thread(path.write_bytes, data)
        return SendResult(accepted=len(events), bytes_sent=len(data))

    async def close(self) -> None:
        return None
