"""What every text format (CEF, LEEF) states about an event: the stream's facts reader, run.

The facts (:class:`~mimecast_siem.streams.EventFacts`) and how each stream reads them live with the
stream (``StreamSpec.facts`` in ``mimecast_siem/streams/``); this module picks the reader of an
event's stream (the generic reading for streams without one, and for unknown streams).
"""

from __future__ import annotations

from mimecast_siem.events import Event
from mimecast_siem.streams import CATALOGUE, EventFacts, Lookup, generic_facts, syslog_severity

__all__ = ["EventFacts", "event_facts", "event_severity", "syslog_severity"]


def event_severity(event: Event) -> int:
    """The event's 0-10 severity: the document's ``event.severity`` when set, else from its facts."""
    doc = event.document
    found = (
        doc.get("event", {}).get("severity") if isinstance(doc, dict) and isinstance(doc.get("event"), dict) else None
    )
    if isinstance(found, int) and not isinstance(found, bool):
        return max(0, min(10, found))
    return event_facts(event).severity


def event_facts(event: Event) -> EventFacts:
    """Read the facts of ``event`` (pure; unknown streams get the generic reading)."""
    spec = CATALOGUE.get(event.stream)
    reader = spec.facts if spec is not None and spec.facts is not None else generic_facts
    return reader(Lookup(event))
