"""Records of the DLP, archive search/view, search and rejection logs (pure: same inputs, same record).

Field names follow mimecast-api.md sections 4.9, 4.11 and 4.13 and the Mimecast 1.0 endpoint
reference pages they cite (``get-archive-message-view-logs``, ``get-search-logs``,
``get-rejection-logs``). None of these records carries an id except the rejections.
"""

from __future__ import annotations

import random
from typing import Any

from mimecast_siem.simulator.records import (
    BUILDERS,
    AccountProfile,
    RecordBuilder,
    _ip,
    _message_id,
    _parties,
    _route,
    _subject,
    opaque_id,
    pick,
)
from mimecast_siem.simulator.wire import format_time

_DLP_POLICIES = (
    "Confidential", "Content Inspection - Watermark", "PCI - Credit Card Numbers", "GDPR - Personal Data",
    "Source Code Leak", "Board Papers",
)  # fmt: skip
#: ``actions[]`` values of the DLP log request (Postman collection; the official page was not retrieved).
DLP_ACTIONS = ("notification", "hold", "bounce", "smtp_bounce", "block", "none")
_SEARCH_SOURCES = ("archive", "admin_console", "mimecast_personal_portal", "outlook", "mobile")
_SEARCH_REASONS = ("", "Legal hold request 4711", "HR investigation", "Data subject access request", "Audit")
_SEARCH_TEXTS = ("invoice", "password reset", "merger", "salary review", "from:ceo", "wire transfer", "contract v2")
_SEARCH_PATHS = ("/archive/search", "/archive/advanced-search", "/case-review/search")
_VIEW_SOURCES = ("Archive", "Case Review", "Mimecast Personal Portal", "Message Tracking")
#: Rejection types seen in the Mimecast console's rejection viewer.
REJECTION_TYPES = (
    "Spam Signature", "Invalid Recipients", "RBL Rejection", "Anti-Spoofing", "Blocked Sender",
    "Virus Detected", "DNS Authentication", "Attachment Management",
)  # fmt: skip
_REJECTION_INFO = {
    "Spam Signature": "Message rejected: spam signature detected",
    "Invalid Recipients": "Recipient address rejected: user unknown",
    "RBL Rejection": "Sender IP listed on a real-time blocklist",
    "Anti-Spoofing": "Anti-spoofing policy: internal domain used by external sender",
    "Blocked Sender": "Sender blocked by policy",
    "Virus Detected": "Message contains a virus",
    "DNS Authentication": "DMARC policy reject",
    "Attachment Management": "Dangerous attachment type blocked",
}


def dlp_record(rng: random.Random, ts: int, date: str, profile: AccountProfile) -> dict[str, Any]:
    """One ``dlpLogs`` record (section 4.9): no id."""
    r = rng.random()
    route = "outbound" if r < 0.7 else "internal" if r < 0.9 else "inbound"
    sender, recipient = _parties(rng, route, profile)
    return {
        "senderAddress": sender,
        "recipientAddress": recipient,
        "subject": _subject(rng),
        "eventTime": date,
        "route": route,
        "policy": pick(rng, _DLP_POLICIES),
        "action": pick(rng, ("notification", "notification", "hold", "bounce", "block")),
        "messageId": _message_id(rng, profile.domain),
    }


def _search_common(rng: random.Random, date: str, profile: AccountProfile) -> dict[str, Any]:
    admin = rng.random() < 0.3
    user = pick(rng, profile.admins) if admin else pick(rng, profile.users)
    return {
        "createTime": date,
        "emailAddr": user,
        "source": pick(rng, _SEARCH_SOURCES),
        "searchText": pick(rng, _SEARCH_TEXTS),
        "searchReason": pick(rng, _SEARCH_REASONS),
        "description": pick(rng, ("", "Saved search", "Ad-hoc search")),
        "isAdmin": admin,
        "searchPath": pick(rng, _SEARCH_PATHS),
    }


def archive_search_record(rng: random.Random, ts: int, date: str, profile: AccountProfile) -> dict[str, Any]:
    """One ``get-archive-search-logs`` record (section 4.11, ``data[0].logs[]``): no id."""
    return _search_common(rng, date, profile)


def search_log_record(rng: random.Random, ts: int, date: str, profile: AccountProfile) -> dict[str, Any]:
    """One ``get-search-logs`` record (``data[0].logs[]``, with ``museQuery``): no id."""
    record = _search_common(rng, date, profile)
    record["museQuery"] = f"(text: {record['searchText']})"
    return record


def archive_view_record(rng: random.Random, ts: int, date: str, profile: AccountProfile) -> dict[str, Any]:
    """One ``get-view-logs`` record (flat ``data[]``): who read which archived message, no id."""
    route = _route(rng)
    sender, recipient = _parties(rng, route, profile)
    viewer = pick(rng, profile.admins) if rng.random() < 0.6 else recipient
    return {
        "viewer": viewer,
        "source": pick(rng, _VIEW_SOURCES),
        "viewed": date,
        "subject": _subject(rng),
        "from": sender,
        "to": recipient,
        "messageDate": format_time(ts - int(rng.random() * 30 * 86400)),
        "discoveryCase": rng.random() < 0.1,
        "contentViewed": rng.random() < 0.7,
    }


def rejection_record(rng: random.Random, ts: int, date: str, profile: AccountProfile) -> dict[str, Any]:
    """One ``get-rejections`` record (flat ``data[]``, with an ``id``)."""
    kind = pick(rng, REJECTION_TYPES)
    sender = pick(rng, profile.external_senders)
    recipient = pick(rng, profile.users)
    ip = _ip(rng)
    host = sender.rsplit("@", 1)[1]
    return {
        "id": opaque_id(f"rej:{profile.client_id}:{ts}:{rng.getrandbits(48)}"),
        "created": date,
        "fromAddress": sender,
        "toAddress": recipient,
        "info": _REJECTION_INFO[kind],
        "type": kind,
        "description": f"{kind}: {_REJECTION_INFO[kind]}",
        "ipAddress": ip,
        "remoteName": f"mail.{host}",
        "remoteEhlo": f"mx{1 + int(rng.random() * 3)}.{host}",
        "spamScore": int(rng.random() * 30),
        "detectionLevel": pick(rng, ("relaxed", "moderate", "aggressive", "not_initiated")),
        "manageRecipient": False,
        "toAddressPreCheck": recipient,
        "toAddressPostCheck": recipient,
    }


#: Record builders of every rated log stream: the TTP/audit ones plus this module's.
ALL_BUILDERS: dict[str, RecordBuilder] = {
    **BUILDERS,
    "dlp": dlp_record,
    "archive-search": archive_search_record,
    "archive-view": archive_view_record,
    "search": search_log_record,
    "rejections": rejection_record,
}
