"""Pure normalisers: one Mimecast record (plus context) → one ECS-shaped :class:`~mimecast_siem.events.Event`."""

from __future__ import annotations

from mimecast_siem.collector.normalisers.audit import audit_event_id, normalise_audit
from mimecast_siem.collector.normalisers.common import (
    TAG_TIME_UNPARSED,
    NormaliseContext,
    Normaliser,
    iso,
    parse_time,
)
from mimecast_siem.collector.normalisers.gateway import (
    ENTERED,
    LEFT,
    email_queue_levels,
    held_since,
    hold_summary_levels,
    normalise_email_queues,
    normalise_held_message,
    normalise_hold_summary,
)
from mimecast_siem.collector.normalisers.ttp import (
    TTP_ATTACHMENT_ID_FIELDS,
    TTP_IMPERSONATION_FALLBACK_ID_FIELDS,
    TTP_URL_ID_FIELDS,
    normalise_ttp_attachment,
    normalise_ttp_impersonation,
    normalise_ttp_url,
    ttp_attachment_event_id,
    ttp_impersonation_event_id,
    ttp_url_event_id,
)

__all__ = [
    "ENTERED",
    "LEFT",
    "TAG_TIME_UNPARSED",
    "TTP_ATTACHMENT_ID_FIELDS",
    "TTP_IMPERSONATION_FALLBACK_ID_FIELDS",
    "TTP_URL_ID_FIELDS",
    "NormaliseContext",
    "Normaliser",
    "audit_event_id",
    "email_queue_levels",
    "held_since",
    "hold_summary_levels",
    "iso",
    "normalise_audit",
    "normalise_email_queues",
    "normalise_held_message",
    "normalise_hold_summary",
    "normalise_ttp_attachment",
    "normalise_ttp_impersonation",
    "normalise_ttp_url",
    "parse_time",
    "ttp_attachment_event_id",
    "ttp_impersonation_event_id",
    "ttp_url_event_id",
]
