"""The ``raw`` format: the original Mimecast record, as received.

Decision (documented in docs/sinks.md): by default the record gets one extra top-level key,
``mimecast_siem``, holding ``event_id``, ``tenant`` and ``stream``. Mimecast records never use that
key, so nothing of the original is hidden or changed, and a SIEM can still dedupe on the stable id
(the delivery guarantee is at-least-once). ``metadata: false`` emits the record byte-for-byte as
Mimecast sent it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mimecast_siem.events import Event
from mimecast_siem.sinks.formats.base import Record

METADATA_KEY = "mimecast_siem"


class RawOptions(BaseModel):
    """Options of the ``raw`` format."""

    model_config = ConfigDict(extra="forbid")

    metadata: bool = Field(
        default=True,
        description="Add a 'mimecast_siem' key with event_id, tenant and stream (false = the record only).",
    )


class RawEncoder:
    """Encode an event as the original Mimecast record."""

    name = "raw"

    def __init__(self, options: RawOptions | None = None) -> None:
        self.options = options or RawOptions()

    def encode(self, event: Event) -> list[Record]:
        """Return ``[record]``, with the metadata key added unless turned off."""
        record: dict[str, Any] = dict(event.raw)
        if self.options.metadata:
            record[METADATA_KEY] = {"event_id": event.event_id, "tenant": event.tenant, "stream": event.stream}
        return [record]
