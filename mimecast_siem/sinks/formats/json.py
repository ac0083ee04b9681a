"""The ``json`` format: the normalised ECS-shaped document exactly as the collector produced it.

The collector's normaliser owns the document. This encoder only makes sure the two fields every
downstream consumer relies on are present, without overwriting anything the normaliser set:

* ``event.id`` - the stable :attr:`Event.event_id` (SIEMs dedupe on it);
* ``@timestamp`` - the event time in RFC 3339 UTC with milliseconds.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from mimecast_siem.events import Event
from mimecast_siem.sinks.formats.base import Record


class JsonOptions(BaseModel):
    """The ``json`` format has no options (declared so unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid")


def rfc3339_millis(event: Event) -> str:
    """Return the event time as ``2026-11-25T10:00:00.123Z`` (UTC, milliseconds)."""
    ts = event.timestamp
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


class JsonEncoder:
    """Encode an event as its ECS-shaped document (one JSON object per event)."""

    name = "json"

    def __init__(self, options: JsonOptions | None = None) -> None:
        self.options = options or JsonOptions()

    def encode(self, event: Event) -> list[Record]:
        """Return ``[document]`` with ``event.id`` and ``@timestamp`` filled in when missing."""
        document: dict[str, Any] = dict(event.document)
        # A normaliser may write flat dotted keys; respect them rather than adding a second copy.
        if "event.id" not in document:
            section = document.get("event")
            section = dict(section) if isinstance(section, dict) else {}
            section.setdefault("id", event.event_id)
            document["event"] = section
        if "@timestamp" not in document:  # formatting it only when missing (hot path)
            document["@timestamp"] = rfc3339_millis(event)
        return [document]
