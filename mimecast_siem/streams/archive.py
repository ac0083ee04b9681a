"""Normalisers of the archive access logs: who searched the archive and who read archived messages.

* ``archive-search`` (``/api/archive/get-archive-search-logs``, ``data[0].logs[]``) and ``search``
  (``/api/archive/get-search-logs``, ``data[0].logs[]`` with ``museQuery``): one search each.
* ``archive-view`` (``/api/archive/get-view-logs``, flat ``data[]``): one archived message viewed.

None of these records has an id: ``event.id`` hashes the fields that identify one log line.
Insider investigations are the use: ``user.email`` is the person who searched or viewed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mimecast_siem.events import Event, stable_event_id
from mimecast_siem.streams.normalise import (
    NormaliseContext,
    build_event,
    email_address,
    email_addresses,
    iso,
    parse_time,
    record_time,
    related,
    text,
)

#: Fields whose values identify one search log line.
SEARCH_ID_FIELDS = ("createTime", "emailAddr", "source", "searchText", "searchPath", "searchReason", "description")
#: Fields whose values identify one view log line.
VIEW_ID_FIELDS = ("viewed", "viewer", "source", "from", "to", "subject", "messageDate")


def archive_search_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of an archive-search log line."""
    return stable_event_id("archive-search", *(record.get(f) for f in SEARCH_ID_FIELDS))


def search_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of a search log line (``museQuery`` included)."""
    return stable_event_id("search", *(record.get(f) for f in SEARCH_ID_FIELDS), record.get("museQuery"))


def archive_view_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of an archive view log line."""
    return stable_event_id("archive-view", *(record.get(f) for f in VIEW_ID_FIELDS))


def _user(value: Any) -> dict[str, Any]:
    raw = text(value)
    address = email_address(raw) if raw and "@" in raw else None
    return {"email": address, "name": raw if address is None else address.split("@", 1)[0], "domain": None}


def _search(stream: str, dataset: str, event_id: str, record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    when, parsed = record_time(record, "createTime", ctx)
    user = _user(record.get("emailAddr"))
    admin = record.get("isAdmin")
    return build_event(
        stream=stream,
        dataset=dataset,
        event_id=event_id,
        record=record,
        ctx=ctx,
        when=when,
        time_parsed=parsed,
        event={
            "kind": "event",
            "category": ["email"],
            "type": ["info"],
            "action": "archive-search",
            "outcome": "success",
            "reason": text(record.get("searchReason")),
            "severity": 2 if admin is True else 1,
        },
        fields={
            "user": user,
            "message": text(record.get("searchText")),
            "related": related(users=[user["email"]] if user["email"] else []),
        },
    )


def normalise_archive_search(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """An archive-search log line (``get-archive-search-logs`` ``logs[]``) → ECS event."""
    return _search("archive-search", "mimecast.archive_search", archive_search_event_id(record), record, ctx)


def normalise_search(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """A search log line (``get-search-logs`` ``logs[]``) → ECS event."""
    return _search("search", "mimecast.search", search_event_id(record), record, ctx)


def normalise_archive_view(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """An archive view log line (``get-view-logs`` ``data[]``) → ECS event: who read which message."""
    when, parsed = record_time(record, "viewed", ctx)
    user = _user(record.get("viewer"))
    sender = email_address(record.get("from"))
    recipients = email_addresses(record.get("to"))
    received = parse_time(record.get("messageDate"))
    content = record.get("contentViewed")
    discovery = record.get("discoveryCase")
    return build_event(
        stream="archive-view",
        dataset="mimecast.archive_view",
        event_id=archive_view_event_id(record),
        record=record,
        ctx=ctx,
        when=when,
        time_parsed=parsed,
        event={
            "kind": "event",
            "category": ["email"],
            "type": ["info"],
            "action": "archive-message-viewed" if content is not False else "archive-message-listed",
            "outcome": "success",
            "severity": 2 if content is True and discovery is not True else 1,
        },
        fields={
            "user": user,
            "email": {
                "from": {"address": [sender] if sender else []},
                "to": {"address": recipients},
                "subject": text(record.get("subject")),
                "delivery_timestamp": iso(received) if received is not None else None,
            },
            "related": related(
                users=[*([user["email"]] if user["email"] else []), *recipients, *([sender] if sender else [])]
            ),
        },
    )
