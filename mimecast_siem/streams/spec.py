"""What a stream is, as data: :class:`StreamSpec`.

A :class:`StreamSpec` says where a stream's records come from and how they become events (the
endpoint, where the records sit in the response, which field holds the event time, the names of the
window filters, static filters, the identifying fields and the normaliser) and what the output
formats say about them (the CEF/LEEF facts reader, the OCSF mapper and class, the HEC sourcetype,
Elastic's dataset and field placements),
plus its documentation line and whether the demo runs it. There are no stream subclasses: the
collector, the formats, the docs generator and the demo read these values. Each stream is declared
once, in its family's module (``streams/ttp.py`` ...); ``streams/registry.py`` lists the families.

Kinds:

* ``log`` - time-windowed event logs (TTP URL, attachment, impersonation, audit).
* ``snapshot`` - a state list diffed against the previous poll (held messages).
* ``gauge`` - a point-in-time sample per poll (hold summary, email queues) that also sets a
  Prometheus gauge.
* ``siem`` - the SIEM (MTA) logs: day-granular batch files behind pre-signed URLs, or the 24 h
  event stream with a cursor (collector/siem.py). No time window: ``path`` is the batch endpoint,
  ``time_field`` the record time, the cursor is kept in the stream's snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal, Protocol

from mimecast_siem.streams.elastic_map import ElasticRewrite
from mimecast_siem.streams.facts import FactsReader
from mimecast_siem.streams.normalise import Normaliser
from mimecast_siem.streams.ocsf_map import OcsfMapper
from mimecast_siem.times import format_mimecast_time

StreamKind = Literal["log", "snapshot", "gauge", "siem"]
GaugeLevels = Callable[[Sequence[Mapping[str, Any]]], dict[str, int]]
EventIdOf = Callable[[Mapping[str, Any]], str]


class TimeRange(Protocol):
    """A ``[start, end)`` range of UTC-aware times (the collector's ``FetchRange``)."""

    @property
    def start(self) -> datetime:
        """Inclusive start."""

    @property
    def end(self) -> datetime:
        """Exclusive end."""


def format_wire_time(when: datetime) -> str:
    """Mimecast's request time format: ``2026-11-25T10:00:00+0000`` (always ``+0000``, quirk 9)."""
    return format_mimecast_time(when)


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """How one stream is fetched and normalised.

    Attributes:
        name: stream name (kebab-case; the config key and the ``stream`` of every event).
        kind: ``log`` | ``snapshot`` | ``gauge`` | ``siem``.
        path: API 2.0 endpoint (POST).
        normalise: record → Event; for gauges the record is ``{"data": [...]}`` of one poll.
        dataset: ECS ``event.dataset``.
        title: one line saying what the stream holds (docs/streams.md, ``--help`` texts).
        sourcetype: Splunk HEC sourcetype (``mimecast:ttp:url``).
        facts: CEF/LEEF facts reader (``streams/facts.py``); ``None`` = the generic reading.
        ocsf: OCSF mapper (``streams/ocsf_map.py``); ``None`` = Base Event (0), activity Other.
        ocsf_class: the OCSF class the mapper gives the stream's activity records (docs; tested).
        elastic_dataset: the dataset of Elastic's Mimecast integration holding the same records (the
            json format's ``elastic-integration`` profile); ``None`` = no counterpart (native dataset kept).
        elastic: that profile's field placements for the stream (``streams/elastic_map.py``); ``None`` =
            only the dataset changes.
        demo: whether ``mimecast-siem demo`` polls the stream.
        enabled_by_default: polled for a tenant that does not list its ``streams``.
        record_key: key under ``data[0]`` holding the records (``clickLogs``), ``None`` = flat ``data[]``.
        time_field: record field with the event time (``date``, ``eventTime``, ``dateReceived``).
        window_fields: names of the request's window start and end filters, ``None`` = no window.
        oldest_first: send ``oldestFirst: true`` (the API's default order is newest first).
        static_filters: filters always sent (``admin: true`` for held messages).
        id_fields: record fields that identify one record (documentation; the normaliser hashes them).
        event_id_of: the ``event.id`` the normaliser gives a record, computed without normalising it
            (the normaliser calls the same function). Lets the pipeline drop an overlap re-read's
            already-delivered records before paying for their normalisation.
        paged: walk ``meta.pagination`` page tokens.
        paging: how a paged log stream walks a window: ``envelope`` (``meta.pagination`` page tokens,
            every stream but the threat-intel feeds) or ``feed-token`` (the threat-intel feed: STIX
            bundles instead of the envelope, the token in the ``X-Mc-Threat-Feed-Next-Token``
            response header, sent back as ``data[0].token``; ``collector/threat_feed.py``).
        max_history: how far back the endpoint serves (audit: 60 days); ``None`` = not known.
        gauge_levels: for gauges, records → ``{label value: level}``.
        gauge_label: for gauges, the Prometheus label those keys go into (``policy``, ``direction``).
    """

    name: str
    kind: StreamKind
    path: str
    normalise: Normaliser
    dataset: str
    title: str
    sourcetype: str
    facts: FactsReader | None = None
    ocsf: OcsfMapper | None = None
    ocsf_class: int = 0
    elastic_dataset: str | None = None
    elastic: ElasticRewrite | None = None
    demo: bool = True
    enabled_by_default: bool = False
    record_key: str | None = None
    time_field: str | None = None
    window_fields: tuple[str, str] | None = None
    oldest_first: bool = False
    static_filters: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    id_fields: tuple[str, ...] = ()
    event_id_of: EventIdOf | None = None
    paged: bool = True
    max_history: timedelta | None = None
    gauge_levels: GaugeLevels | None = None
    gauge_label: str | None = None
    paging: Literal["envelope", "feed-token"] = "envelope"

    def request_item(self, fetch: TimeRange | None, filters: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """The ``data[0]`` item of a request, or ``None`` when the endpoint takes ``{"data": []}``.

        Configured ``filters`` are merged over the static filters; the window fields and
        ``oldestFirst`` are the collector's and cannot be overridden (filters stay frozen per window).
        """
        item: dict[str, Any] = {**self.static_filters, **(filters or {})}
        if self.oldest_first:
            item["oldestFirst"] = True
        if self.window_fields is not None:
            if fetch is None:
                raise ValueError(f"stream {self.name} needs a time range for its request")
            start_key, end_key = self.window_fields
            item[start_key] = format_wire_time(fetch.start)
            item[end_key] = format_wire_time(fetch.end)
        if not item:
            return None
        return item
