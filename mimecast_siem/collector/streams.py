"""The stream catalogue: every stream the collector polls, declared as data.

A :class:`StreamSpec` says where a stream's records come from and how they become events: the
endpoint, where the records sit in the response, which field holds the event time, the names of the
window filters, static filters, the identifying fields and the normaliser. There are no stream
subclasses; the poller reads these values.

Kinds:

* ``log`` - time-windowed event logs (TTP URL, attachment, impersonation, audit).
* ``snapshot`` - a state list diffed against the previous poll (held messages).
* ``gauge`` - a point-in-time sample per poll (hold summary, email queues) that also sets a
  Prometheus gauge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

from mimecast_siem.collector.normalisers import (
    TTP_ATTACHMENT_ID_FIELDS,
    TTP_IMPERSONATION_FALLBACK_ID_FIELDS,
    TTP_URL_ID_FIELDS,
    Normaliser,
    audit_event_id,
    email_queue_levels,
    hold_summary_levels,
    normalise_audit,
    normalise_email_queues,
    normalise_held_message,
    normalise_hold_summary,
    normalise_ttp_attachment,
    normalise_ttp_impersonation,
    normalise_ttp_url,
    ttp_attachment_event_id,
    ttp_impersonation_event_id,
    ttp_url_event_id,
)
from mimecast_siem.collector.windows import FetchRange
from mimecast_siem.config.models import STREAM_NAMES

StreamKind = Literal["log", "snapshot", "gauge"]
GaugeLevels = Callable[[Sequence[Mapping[str, Any]]], dict[str, int]]


def format_wire_time(when: datetime) -> str:
    """Mimecast's request time format: ``2026-11-25T10:00:00+0000`` (always ``+0000``, quirk 9)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """How one stream is fetched and normalised.

    Attributes:
        name: stream name (one of ``config.STREAM_NAMES``).
        kind: ``log`` | ``snapshot`` | ``gauge``.
        path: API 2.0 endpoint (POST).
        normalise: record → Event; for gauges the record is ``{"data": [...]}`` of one poll.
        dataset: ECS ``event.dataset``.
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
        max_history: how far back the endpoint serves (audit: 60 days); ``None`` = not known.
        gauge_levels: for gauges, records → ``{label value: level}``.
        gauge_label: for gauges, the Prometheus label those keys go into (``policy``, ``direction``).
    """

    name: str
    kind: StreamKind
    path: str
    normalise: Normaliser
    dataset: str
    record_key: str | None = None
    time_field: str | None = None
    window_fields: tuple[str, str] | None = None
    oldest_first: bool = False
    static_filters: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    id_fields: tuple[str, ...] = ()
    event_id_of: Callable[[Mapping[str, Any]], str] | None = None
    paged: bool = True
    max_history: timedelta | None = None
    gauge_levels: GaugeLevels | None = None
    gauge_label: str | None = None

    def request_item(self, fetch: FetchRange | None, filters: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
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


CATALOGUE: Mapping[str, StreamSpec] = MappingProxyType(
    {
        "ttp-url": StreamSpec(
            name="ttp-url",
            kind="log",
            path="/api/ttp/url/get-logs",
            normalise=normalise_ttp_url,
            dataset="mimecast.ttp_url",
            record_key="clickLogs",
            time_field="date",
            window_fields=("from", "to"),
            oldest_first=True,
            id_fields=TTP_URL_ID_FIELDS,
            event_id_of=ttp_url_event_id,
        ),
        "ttp-attachment": StreamSpec(
            name="ttp-attachment",
            kind="log",
            path="/api/ttp/attachment/get-logs",
            normalise=normalise_ttp_attachment,
            dataset="mimecast.ttp_attachment",
            record_key="attachmentLogs",
            time_field="date",
            window_fields=("from", "to"),
            oldest_first=True,
            id_fields=TTP_ATTACHMENT_ID_FIELDS,
            event_id_of=ttp_attachment_event_id,
        ),
        "ttp-impersonation": StreamSpec(
            name="ttp-impersonation",
            kind="log",
            path="/api/ttp/impersonation/get-logs",
            normalise=normalise_ttp_impersonation,
            dataset="mimecast.ttp_impersonation",
            record_key="impersonationLogs",
            time_field="eventTime",
            window_fields=("from", "to"),
            oldest_first=True,
            id_fields=("id", *TTP_IMPERSONATION_FALLBACK_ID_FIELDS),
            event_id_of=ttp_impersonation_event_id,
        ),
        "held-messages": StreamSpec(
            name="held-messages",
            kind="snapshot",
            path="/api/gateway/get-hold-message-list",
            normalise=normalise_held_message,
            dataset="mimecast.held_messages",
            record_key=None,
            time_field="dateReceived",
            # admin defaults to false = only the API user's own holds (quirk 11).
            static_filters=MappingProxyType({"admin": True}),
            id_fields=("id",),
        ),
        "hold-summary": StreamSpec(
            name="hold-summary",
            kind="gauge",
            path="/api/gateway/get-hold-summary-list",
            normalise=normalise_hold_summary,
            dataset="mimecast.hold_summary",
            paged=False,
            gauge_levels=hold_summary_levels,
            gauge_label="policy",
        ),
        "email-queues": StreamSpec(
            name="email-queues",
            kind="gauge",
            path="/api/email/get-email-queues",
            normalise=normalise_email_queues,
            dataset="mimecast.email_queues",
            window_fields=("start", "end"),
            paged=False,
            gauge_levels=email_queue_levels,
            gauge_label="direction",
        ),
        "audit": StreamSpec(
            name="audit",
            kind="log",
            path="/api/audit/get-audit-events",
            normalise=normalise_audit,
            dataset="mimecast.audit",
            record_key=None,
            time_field="eventTime",
            window_fields=("startDateTime", "endDateTime"),
            id_fields=("id",),
            event_id_of=audit_event_id,
            max_history=timedelta(days=60),
        ),
    }
)

if tuple(CATALOGUE) != STREAM_NAMES:  # pragma: no cover - guards the contract at import
    raise RuntimeError("collector CATALOGUE must define exactly config.STREAM_NAMES, in order")


def stream_spec(name: str) -> StreamSpec:
    """The spec of stream ``name``; ``KeyError`` naming the allowed streams otherwise."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"unknown stream {name!r}; allowed: {', '.join(CATALOGUE)}") from None
