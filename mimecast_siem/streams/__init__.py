"""The streams: one home per stream (what it fetches, how it normalises, what the formats say).

Below config, the collector and the sinks (it imports only the shared kernel: ``events``,
``times``), so every room may read it. Public names:

* :data:`CATALOGUE` (name → :class:`StreamSpec`), :data:`STREAM_NAMES`, :func:`stream_spec`;
* the SIEM log types (:data:`SIEM_TYPES`, :func:`siem_stream_name`: ``url protect`` → ``siem-url-protect``);
* the normaliser contract: :class:`NormaliseContext`, :data:`Normaliser`, and the helpers the
  collector uses (:func:`parse_time`, :func:`iso`, :func:`record_time`, :func:`held_since`,
  ``TAG_TIME_UNPARSED``, ``ENTERED`` / ``LEFT``);
* the format facts: :class:`EventFacts`, :class:`Lookup`, :func:`generic_facts` (CEF/LEEF),
  :class:`OcsfMapping`, :func:`map_base_event` (OCSF).

Adding a stream: docs/internals.md, "Adding a stream".
"""

from __future__ import annotations

from mimecast_siem.streams.facts import EventFacts, FactsReader, Lookup, generic_facts, syslog_severity
from mimecast_siem.streams.gateway import ENTERED, LEFT, held_since
from mimecast_siem.streams.normalise import (
    TAG_TIME_UNPARSED,
    NormaliseContext,
    Normaliser,
    iso,
    parse_time,
    record_time,
)
from mimecast_siem.streams.ocsf_map import FindingSpec, OcsfMapper, OcsfMapping, map_base_event
from mimecast_siem.streams.registry import CATALOGUE, FAMILIES, STREAM_NAMES, stream_spec
from mimecast_siem.streams.siem import SIEM_TYPES, siem_stream_name
from mimecast_siem.streams.spec import GaugeLevels, StreamKind, StreamSpec, TimeRange, format_wire_time

__all__ = [
    "CATALOGUE",
    "ENTERED",
    "FAMILIES",
    "LEFT",
    "SIEM_TYPES",
    "STREAM_NAMES",
    "TAG_TIME_UNPARSED",
    "EventFacts",
    "FactsReader",
    "FindingSpec",
    "GaugeLevels",
    "Lookup",
    "NormaliseContext",
    "Normaliser",
    "OcsfMapper",
    "OcsfMapping",
    "StreamKind",
    "StreamSpec",
    "TimeRange",
    "format_wire_time",
    "generic_facts",
    "held_since",
    "iso",
    "map_base_event",
    "parse_time",
    "record_time",
    "siem_stream_name",
    "stream_spec",
    "syslog_severity",
]
