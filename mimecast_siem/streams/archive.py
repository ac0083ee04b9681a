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
from mimecast_siem.streams import elastic_map as elastic
from mimecast_siem.streams import facts
from mimecast_siem.streams.normalise import (
    ECS_VERSION,
    NormaliseContext,
    email_address,
    email_addresses,
    finish_event,
    iso,
    parse_time,
    record_time,
    related_users,
    text,
)
from mimecast_siem.streams.spec import StreamSpec

#: Fields whose values identify one search log line.
SEARCH_ID_FIELDS = ("createTime", "emailAddr", "source", "searchText", "searchPath", "searchReason", "description")
#: Fields whose values identify one view log line.
VIEW_ID_FIELDS = ("viewed", "viewer", "source", "from", "to", "subject", "messageDate")


def archive_search_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of an archive-search log line."""
    return stable_event_id("archive-search", *map(record.get, SEARCH_ID_FIELDS))


def search_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of a search log line (``museQuery`` included)."""
    return stable_event_id("search", *map(record.get, SEARCH_ID_FIELDS), record.get("museQuery"))


def archive_view_event_id(record: Mapping[str, Any]) -> str:
    """The ``event.id`` of an archive view log line."""
    return stable_event_id("archive-view", *map(record.get, VIEW_ID_FIELDS))


def _user(value: Any) -> dict[str, Any]:
    """ECS ``user.*`` without empty values: the address when the value is one, and a name."""
    raw = text(value)
    if raw is None:
        return {}
    address = email_address(raw) if "@" in raw else None
    if address is None:
        return {"name": raw}
    return {"email": address, "name": address.split("@", 1)[0]}


def _search(stream: str, dataset: str, event_id: str, record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    # Written out field by field, without empty values, in build_event()'s order (finish_event() adds
    # the fixed tail): no generic helpers per record (issue 16).
    when, parsed = record_time(record, "createTime", ctx)
    user = _user(record.get("emailAddr"))
    event: dict[str, Any] = {
        "id": event_id,
        "module": "mimecast",
        "dataset": dataset,
        "provider": stream,
        "created": iso(ctx.observed_at),
        "kind": "event",
        "category": ["email"],
        "type": ["info"],
        "action": "archive-search",
        "outcome": "success",
    }
    reason = text(record.get("searchReason"))
    if reason is not None:
        event["reason"] = reason
    event["severity"] = 2 if record.get("isAdmin") is True else 1
    document: dict[str, Any] = {"@timestamp": iso(when), "ecs": {"version": ECS_VERSION}, "event": event}
    if user:
        document["user"] = user
    message = text(record.get("searchText"))
    if message is not None:
        document["message"] = message
    address = user.get("email")
    if address:
        document["related"] = {"user": [address]}
    return finish_event(document, record, ctx, stream, event_id, when, parsed)


def normalise_archive_search(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """An archive-search log line (``get-archive-search-logs`` ``logs[]``) → ECS event."""
    return _search("archive-search", "mimecast.archive_search", archive_search_event_id(record), record, ctx)


def normalise_search(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """A search log line (``get-search-logs`` ``logs[]``) → ECS event."""
    return _search("search", "mimecast.search", search_event_id(record), record, ctx)


def normalise_archive_view(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
    """An archive view log line (``get-view-logs`` ``data[]``) → ECS event: who read which message."""
    # Written out field by field, without empty values, in build_event()'s order (finish_event() adds
    # the fixed tail): no generic helpers per record (issue 16).
    stream = "archive-view"
    when, parsed = record_time(record, "viewed", ctx)
    event_id = archive_view_event_id(record)
    user = _user(record.get("viewer"))
    sender = email_address(record.get("from"))
    recipients = email_addresses(record.get("to"))
    content = record.get("contentViewed")
    event = {
        "id": event_id,
        "module": "mimecast",
        "dataset": "mimecast.archive_view",
        "provider": stream,
        "created": iso(ctx.observed_at),
        "kind": "event",
        "category": ["email"],
        "type": ["info"],
        "action": "archive-message-viewed" if content is not False else "archive-message-listed",
        "outcome": "success",
        "severity": 2 if content is True and record.get("discoveryCase") is not True else 1,
    }
    document: dict[str, Any] = {"@timestamp": iso(when), "ecs": {"version": ECS_VERSION}, "event": event}
    if user:
        document["user"] = user
    email: dict[str, Any] = {}
    if sender:
        email["from"] = {"address": [sender]}
    if recipients:
        email["to"] = {"address": recipients}
    subject = text(record.get("subject"))
    if subject is not None:
        email["subject"] = subject
    received = parse_time(record.get("messageDate"))
    if received is not None:
        email["delivery_timestamp"] = iso(received)
    if email:
        document["email"] = email
    # related.user: the viewer first, then the recipients and the sender (each once).
    users = related_users(sender, recipients)
    viewer = user.get("email")
    if viewer:
        if viewer in users:
            users.remove(viewer)
        users.insert(0, viewer)
    if users:
        document["related"] = {"user": users}
    return finish_event(document, record, ctx, stream, event_id, when, parsed)


# --- CEF/LEEF facts -------------------------------------------------------------------------------


def _search_facts(look: facts.Lookup, title: str) -> facts.EventFacts:
    admin = look.value(raw=("isAdmin",))
    return facts.EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        title,
        event_class=f"{look.event.stream}:{'admin' if admin is True else 'user'}",
        action="search",
        severity=facts.doc_severity(look, default=1),
        user=look.text(raw=("emailAddr",), doc=("user.email", "user.name")),
        reason=look.text(raw=("searchReason",), doc=("event.reason",)),
        extras=facts.extras(
            ("searchText", look.text(raw=("searchText",))),
            ("source", look.text(raw=("source",))),
            ("searchPath", look.text(raw=("searchPath",))),
            ("museQuery", look.text(raw=("museQuery",))),
        ),
    )


def archive_search_facts(look: facts.Lookup) -> facts.EventFacts:
    """CEF/LEEF facts of an archive search."""
    return _search_facts(look, "Archive search")


def search_facts(look: facts.Lookup) -> facts.EventFacts:
    """CEF/LEEF facts of a search log entry."""
    return _search_facts(look, "Search")


def archive_view_facts(look: facts.Lookup) -> facts.EventFacts:
    """CEF/LEEF facts of an archived message view."""
    content = look.value(raw=("contentViewed",))
    return facts.EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        "Archived message viewed",
        event_class=f"archive-view:{'content' if content is not False else 'metadata'}",
        action=look.text(doc=facts.ACTION) or "view",
        severity=facts.doc_severity(look, default=1),
        user=look.text(raw=("viewer",), doc=("user.email", "user.name")),
        sender=look.first_text(doc=facts.SENDER, raw=("from",)),
        recipient=look.text(doc=facts.RECIPIENT, raw=("to",)),
        subject=look.text(doc=facts.SUBJECT, raw=("subject",)),
        extras=facts.extras(
            ("source", look.text(raw=("source",))),
            ("discoveryCase", look.text(raw=("discoveryCase",))),
            ("messageDate", look.text(raw=("messageDate",))),
        ),
    )


# --- Elastic's integration (the json format's elastic-integration profile; docs/elastic-compat.md) --


def elastic_archive_search(document: dict[str, Any]) -> None:
    """Elastic's ``archive_search_logs`` placements: ``mimecast.search_details``, the user split."""
    record = elastic.mimecast_record(document)
    details = {
        target: record.get(source)
        for source, target in (
            ("searchText", "text"),
            ("description", "description"),
            ("source", "source"),
            ("searchPath", "path"),
            ("searchReason", "reason"),
        )
        if record.get(source) not in (None, "")
    }
    mimecast = elastic.section(document, "mimecast")
    if details:
        mimecast["search_details"] = details
    event = elastic.section(document, "event")
    event["category"] = ["api"]
    event["type"] = ["admin"]
    email = record.get("emailAddr")
    if isinstance(email, str):
        elastic.split_user(elastic.section(document, "user"), email)


# --- the declarations -----------------------------------------------------------------------------
# OCSF: no class for "a user searched / read an archive" in OCSF 1.4's email classes; Datastore
# Activity (6005) would be the nearest, but is not mapped yet: these streams are Base Events (0).

#: The streams of this family, in registry order (``streams/registry.py``).
STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec(
        name="archive-search",
        kind="log",
        path="/api/archive/get-archive-search-logs",
        normalise=normalise_archive_search,
        dataset="mimecast.archive_search",
        title="Archive searches: who searched the e-mail archive, for what and why (insider investigations).",
        sourcetype="mimecast:archive:search",
        facts=archive_search_facts,
        elastic_dataset="mimecast.archive_search_logs",
        elastic=elastic_archive_search,
        record_key="logs",
        time_field="createTime",
        window_fields=("start", "end"),
        id_fields=SEARCH_ID_FIELDS,
        event_id_of=archive_search_event_id,
    ),
    StreamSpec(
        name="archive-view",
        kind="log",
        path="/api/archive/get-view-logs",
        normalise=normalise_archive_view,
        dataset="mimecast.archive_view",
        title="Archive message views: who opened which archived message, and from where.",
        sourcetype="mimecast:archive:view",
        facts=archive_view_facts,
        record_key=None,
        time_field="viewed",
        window_fields=("start", "end"),
        id_fields=VIEW_ID_FIELDS,
        event_id_of=archive_view_event_id,
    ),
    StreamSpec(
        name="search",
        kind="log",
        path="/api/archive/get-search-logs",
        normalise=normalise_search,
        dataset="mimecast.search",
        title="Search logs: every search run in Mimecast (console, portal, add-ins), with the query.",
        sourcetype="mimecast:search",
        facts=search_facts,
        record_key="logs",
        time_field="createTime",
        window_fields=("start", "end"),
        id_fields=(*SEARCH_ID_FIELDS, "museQuery"),
        event_id_of=search_event_id,
    ),
)
