"""Property tests of the normalisers: no crash on odd shapes, stable ids, well-formed documents."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.streams import CATALOGUE, TAG_TIME_UNPARSED, NormaliseContext, parse_time
from mimecast_siem.streams.gateway import email_queue_levels, hold_summary_levels, queue_samples
from mimecast_siem.streams.normalise import prune
from mimecast_siem.streams.ttp import impersonation_results

OBSERVED = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = [
    "id", "date", "eventTime", "dateReceived", "url", "messageId", "userEmailAddress", "fromUserEmailAddress",
    "senderAddress", "recipientAddress", "fileHash", "fileName", "fileType", "result", "scanResult", "action",
    "route", "sendingIp", "senderIpAddress", "impersonationResults", "identifiers", "taggedMalicious", "hits",
    "from", "fromHeader", "to", "subject", "policyInfo", "numberOfItems", "inboundEmailQueue",
    "outboundEmailQueue", "data", "eventInfo", "user", "category",
]  # fmt: skip
odd_records = st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=12)


@settings(max_examples=300, deadline=None)
@given(stream=st.sampled_from(list(CATALOGUE)), record=odd_records, transition=st.sampled_from(["entered", "left"]))
def test_normalisers_never_crash_and_produce_serialisable_documents(
    stream: str, record: dict[str, Any], transition: str
) -> None:
    ctx = NormaliseContext(tenant="acme", observed_at=OBSERVED, transition=transition, held_for=timedelta(seconds=5))
    event = CATALOGUE[stream].normalise(record, ctx)
    assert event.stream == stream
    assert event.tenant == "acme"
    assert len(event.event_id) == 32
    assert event.timestamp.tzinfo is not None
    assert event.document["event"]["id"] == event.event_id
    assert event.document["event"]["dataset"] == CATALOGUE[stream].dataset
    # Every document must be encodable by the json format (orjson refuses NaN only as null, never raises).
    orjson.dumps(event.document, option=orjson.OPT_NON_STR_KEYS)
    # The event keeps its own copy of the record (the page's record may change or go away).
    assert event.raw == record
    assert event.raw is not record
    if stream == "ttp-url":  # keeps the record as it is under mimecast.*: one copy serves both
        assert event.document["mimecast"] is event.raw


@settings(max_examples=200, deadline=None)
@given(stream=st.sampled_from(["ttp-url", "ttp-attachment", "ttp-impersonation", "audit"]), record=odd_records)
def test_event_id_is_a_function_of_the_record(stream: str, record: dict[str, Any]) -> None:
    """Same record, same id - whatever the poll time, tenant context, or key order."""
    spec = CATALOGUE[stream]
    first = spec.normalise(record, NormaliseContext(tenant="acme", observed_at=OBSERVED))
    reordered = dict(reversed(list(record.items())))
    later = spec.normalise(reordered, NormaliseContext(tenant="acme", observed_at=OBSERVED + timedelta(hours=3)))
    assert first.event_id == later.event_id


def test_event_id_differs_when_an_identifying_field_differs() -> None:
    base = {"date": "2026-11-25T10:00:00+0000", "url": "https://a.example/x", "userEmailAddress": "u@example.com"}
    ctx = NormaliseContext(tenant="acme", observed_at=OBSERVED)
    spec = CATALOGUE["ttp-url"]
    ids = {
        spec.normalise(base, ctx).event_id,
        spec.normalise({**base, "url": "https://a.example/y"}, ctx).event_id,
        spec.normalise({**base, "userEmailAddress": "v@example.com"}, ctx).event_id,
        spec.normalise({**base, "date": "2026-11-25T10:00:01+0000"}, ctx).event_id,
    }
    assert len(ids) == 4


def test_held_message_enter_and_leave_have_distinct_stable_ids() -> None:
    record = {"id": "abc", "dateReceived": "2026-11-25T09:00:00+0000"}
    spec = CATALOGUE["held-messages"]
    entered = spec.normalise(record, NormaliseContext("acme", OBSERVED, transition="entered"))
    left = spec.normalise(record, NormaliseContext("acme", OBSERVED, transition="left", held_for=timedelta(hours=1)))
    again = spec.normalise(record, NormaliseContext("acme", OBSERVED + timedelta(days=1), transition="entered"))
    assert entered.event_id != left.event_id
    assert entered.event_id == again.event_id
    assert left.document["event"]["duration"] == 3600 * 10**9
    assert left.document["mimecast"]["held_for_seconds"] == 3600


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_parse_time_reads_every_wire_form(moment: datetime) -> None:
    moment = moment.replace(microsecond=(moment.microsecond // 1000) * 1000)
    whole = moment.replace(microsecond=0)
    assert parse_time(whole.strftime("%Y-%m-%dT%H:%M:%S+0000")) == whole
    assert parse_time(whole.strftime("%Y-%m-%dT%H:%M:%SZ")) == whole
    assert parse_time(moment.isoformat()) == moment
    epoch_ms = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert parse_time(epoch_ms) == moment
    assert parse_time(str(epoch_ms)) == moment


def test_parse_time_other_offsets_and_garbage() -> None:
    assert parse_time("2026-11-25T12:00:00+0200") == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert parse_time("2026-11-25T10:00:00") == datetime(2026, 11, 25, 10, tzinfo=UTC)
    bad_values: list[object] = ["", "yesterday", None, True, [], {}, "2026-13-45T00:00:00+0000", float("inf")]
    for bad in bad_values:
        assert parse_time(bad) is None


def test_unparsable_time_falls_back_to_poll_time_and_is_tagged() -> None:
    event = CATALOGUE["ttp-url"].normalise({"date": "not a date"}, NormaliseContext("acme", OBSERVED))
    assert event.timestamp == OBSERVED
    assert TAG_TIME_UNPARSED in event.document["tags"]


def test_impersonation_results_accepts_objects_and_strings() -> None:
    assert impersonation_results([{"checkerResult": "hit"}, "newly_observed_domain", 3, ""]) == [
        {"checkerResult": "hit"},
        {"impersonationDomainSource": "newly_observed_domain"},
    ]
    assert impersonation_results("internal_user_name") == [{"impersonationDomainSource": "internal_user_name"}]
    assert impersonation_results(None) == []


def test_email_queue_levels_accept_numbers_and_sample_lists() -> None:
    assert email_queue_levels([{"inboundEmailQueue": 4, "outboundEmailQueue": "2"}]) == {"inbound": 4, "outbound": 2}
    samples = [
        {"date": "2026-11-25T10:05:00+0000", "count": 9},
        {"date": "2026-11-25T10:00:00+0000", "count": 1},
        {"count": "x"},
    ]
    assert email_queue_levels([{"inboundEmailQueue": samples}]) == {"inbound": 9}
    assert queue_samples(samples)[0]["count"] == 1  # sorted oldest first
    assert email_queue_levels([{"inboundEmailQueue": None}, "junk"]) == {}  # type: ignore[list-item]


def test_hold_summary_levels_sum_by_policy_and_skip_junk() -> None:
    records: list[dict[str, Any]] = [
        {"policyInfo": "Spam", "numberOfItems": 3},
        {"policyInfo": "Spam", "numberOfItems": "2"},
        {"policyInfo": "AV", "numberOfItems": None},
        {"numberOfItems": 1},
    ]
    assert hold_summary_levels(records) == {"Spam": 5, "unknown": 1}


@settings(max_examples=300, deadline=None)
@given(stream=st.sampled_from([s for s, spec in CATALOGUE.items() if spec.event_id_of]), record=odd_records)
def test_event_id_of_is_the_normalisers_id(stream: str, record: dict[str, Any]) -> None:
    """The pipeline drops re-read records by this id before normalising: it must be the very same id."""
    spec = CATALOGUE[stream]
    assert spec.event_id_of is not None
    event = spec.normalise(record, NormaliseContext(tenant="acme", observed_at=OBSERVED))
    assert spec.event_id_of(record) == event.event_id


def test_every_time_windowed_log_stream_has_an_event_id_function() -> None:
    assert {s for s, spec in CATALOGUE.items() if spec.kind in ("log", "siem")} == {
        s for s, spec in CATALOGUE.items() if spec.event_id_of is not None
    }


#: Streams whose normalisers build their fields without empty values (build_event(pruned=True)).
PRUNED_STREAMS = [
    *("ttp-url", "ttp-attachment", "ttp-impersonation", "audit", "dlp", "message-release", "rejections"),
    *("archive-search", "archive-view", "search", "held-messages", "hold-summary", "email-queues"),
]
_GOLDEN = Path(__file__).parent / "golden"
PRUNED_FIELDS = sorted(
    {key for s in PRUNED_STREAMS for r in orjson.loads((_GOLDEN / f"{s}.input.json").read_bytes()) for key in r}
)
golden_shaped_values = st.one_of(
    json_values, st.sampled_from(["a@b.com", "Name <c@d.org>", "10.0.0.1", "released", "housekeeping", "hold", " "])
)


@settings(max_examples=300, deadline=None)
@given(
    stream=st.sampled_from(PRUNED_STREAMS),
    record=st.dictionaries(st.sampled_from(PRUNED_FIELDS), golden_shaped_values, max_size=14),
)
def test_documents_built_without_empty_values_are_what_prune_would_leave(stream: str, record: dict[str, Any]) -> None:
    """build_event(pruned=True) skips the generic pass: the document must already be what it would leave."""
    event = CATALOGUE[stream].normalise(record, NormaliseContext(tenant="acme", observed_at=OBSERVED))
    ecs = {key: value for key, value in event.document.items() if key != "mimecast"}
    assert orjson.dumps(prune(copy.deepcopy(ecs))) == orjson.dumps(ecs)


@settings(max_examples=100, deadline=None)
@given(
    stream=st.sampled_from(["threat-intel-customer", "threat-intel-grid"]),
    golden=st.integers(min_value=0, max_value=1),
    name=st.one_of(st.none(), st.sampled_from(["", " ", "Bad host"])),
    confidence=st.one_of(st.none(), st.integers(min_value=-5, max_value=120), st.just("n/a")),
    dropped=st.sets(st.sampled_from(["id", "description", "valid_from", "created", "modified", "pattern"])),
)
def test_threat_intel_documents_are_what_prune_would_leave(
    stream: str, golden: int, name: str | None, confidence: Any, dropped: set[str]
) -> None:
    """The feed normalisers build without empty values too (their odd records are STIX: a golden one, varied)."""
    records = orjson.loads((_GOLDEN / f"{stream}.input.json").read_bytes())
    record = {k: v for k, v in records[golden % len(records)].items() if k not in dropped}
    record.update(name=name, confidence=confidence)
    event = CATALOGUE[stream].normalise(record, NormaliseContext(tenant="acme", observed_at=OBSERVED))
    ecs = {key: value for key, value in event.document.items() if key != "mimecast"}
    assert orjson.dumps(prune(copy.deepcopy(ecs))) == orjson.dumps(ecs)
