"""The shared pieces of the normalisers (mimecast_siem/streams/normalise.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.streams.normalise import (
    ECS_VERSION,
    NormaliseContext,
    build_event,
    email_address,
    email_addresses,
    finish_event,
    iso,
    related_pruned,
    related_users,
)

OBSERVED = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=8), st.lists(st.text(max_size=4))
)
records = st.dictionaries(st.text(max_size=8), values, max_size=5)
sections = st.dictionaries(
    st.sampled_from(["email", "file", "rule", "related", "source", "url"]),
    st.dictionaries(st.text(min_size=1, max_size=6), st.text(min_size=1, max_size=6), min_size=1, max_size=3),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(
    record=records,
    fields=sections,
    event=st.dictionaries(st.sampled_from(["kind", "action", "outcome"]), st.text(min_size=1, max_size=6)),
    seconds=st.integers(min_value=0, max_value=10**9),
    time_parsed=st.booleans(),
    tenant=st.text(max_size=6),
    own_copy=st.booleans(),
    kind=st.sampled_from(["log", "snapshot", "gauge"]),
    tags=st.lists(st.text(min_size=1, max_size=6), max_size=3),
)
def test_finish_event_closes_a_written_out_document_as_build_event_builds_it(
    record: dict[str, Any],
    fields: dict[str, Any],
    event: dict[str, Any],
    seconds: int,
    time_parsed: bool,
    tenant: str,
    own_copy: bool,
    kind: str,
    tags: list[str],
) -> None:
    """A normaliser that writes its document out and calls finish_event() makes build_event()'s event."""
    ctx = NormaliseContext(tenant=tenant, observed_at=OBSERVED)
    when = datetime.fromtimestamp(seconds, UTC)
    mimecast = {**record, "log_type": "x"} if own_copy else None
    expected = build_event(
        stream="s", dataset="mimecast.s", event_id="e" * 32, record=record, ctx=ctx, when=when,
        time_parsed=time_parsed, event=event, fields=fields, mimecast=mimecast, kind=kind, tags=tags, pruned=True,
    )  # fmt: skip
    head = {"id": "e" * 32, "module": "mimecast", "dataset": "mimecast.s", "provider": "s", "created": iso(OBSERVED)}
    document = {"@timestamp": iso(when), "ecs": {"version": ECS_VERSION}, "event": {**head, **event}, **fields}
    copy = None if mimecast is None else dict(mimecast)
    got = finish_event(document, record, ctx, "s", "e" * 32, when, time_parsed, copy, kind, list(tags))
    assert got == expected
    assert orjson.dumps(got.document) == orjson.dumps(expected.document)  # key order too
    assert got.raw == record
    assert got.raw is not record
    assert got.document["mimecast"] is (got.raw if mimecast is None else copy)


@settings(max_examples=200, deadline=None)
@given(
    sender=st.one_of(st.none(), st.sampled_from(["a@b.example", "c@d.example", "x> <", "<e@f.example>", " "])),
    recipients=st.lists(st.sampled_from(["a@b.example", "c@d.example", "Name <e@f.example>", "", "<>", "x> <"])),
)
def test_related_users_is_what_related_pruned_leaves_of_the_recipients_and_the_sender(
    sender: str | None, recipients: list[str]
) -> None:
    """The written-out related.user equals the generic helper's (recipients from email_addresses())."""
    address = email_address(sender)
    addresses = email_addresses(recipients)
    users = related_users(address, addresses)
    assert users == related_pruned(users=[*addresses, *([address] if address else [])]).get("user", [])
    assert users is not addresses
