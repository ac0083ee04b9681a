"""Each endpoint's envelope, record shape and filters (mimecast-api.md sections 2 and 4)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from mimecast_siem.simulator import RunningSimulator
from tests.simulator.conftest import FROZEN
from tests.simulator.helpers import Caller, caller_for

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0000$")
WINDOW = {"from": "2026-11-25T11:46:00+0000", "to": "2026-11-25T11:59:59+0000"}
URL_FIELDS = {
    "userEmailAddress", "fromUserEmailAddress", "url", "ttpDefinition", "subject", "action", "adminOverride",
    "userOverride", "scanResult", "category", "sendingIp", "userAwarenessAction", "date", "actions", "route",
    "creationMethod", "emailPartsDescription", "messageId", "tagMap",
}  # fmt: skip
ATTACHMENT_FIELDS = {
    "senderAddress", "recipientAddress", "fileName", "fileType", "result", "actionTriggered", "date", "details",
    "route", "messageId", "subject", "fileHash", "definition",
}  # fmt: skip
IMPERSONATION_FIELDS = {
    "id", "senderAddress", "recipientAddress", "subject", "definition", "hits", "identifiers", "action",
    "taggedExternal", "taggedMalicious", "senderIpAddress", "eventTime", "impersonationResults", "messageId",
}  # fmt: skip
HOLD_FIELDS = {
    "id", "reason", "reasonId", "reasonCode", "from", "fromHeader", "to", "subject", "route", "hasAttachments",
    "size", "dateReceived", "policyInfo",
}  # fmt: skip


@pytest.fixture
async def frozen(
    session: aiohttp.ClientSession, simulator_factory: Callable[..., Awaitable[RunningSimulator]]
) -> Caller:
    sim = await simulator_factory(
        frozen_at=FROZEN, rates={"ttp-url": 5.0, "ttp-attachment": 3.0, "ttp-impersonation": 2.0, "audit": 1.0}
    )
    caller = caller_for(session, sim)
    await caller.authenticate()
    return caller


def _only_error(reply_body: dict[str, object]) -> dict[str, object]:
    fail = reply_body["fail"]
    assert isinstance(fail, list)
    assert len(fail) == 1
    errors = fail[0]["errors"]
    assert len(errors) == 1
    return errors[0]  # type: ignore[no-any-return]


async def test_ttp_url_envelope_and_record_shape(frozen: Caller) -> None:
    reply = await frozen.post("/api/ttp/url/get-logs", [WINDOW], page_size=50)
    assert reply.status == 200
    assert reply.content_type == "application/json"
    body = reply.body
    assert set(body) == {"meta", "data", "fail"}
    assert body["meta"]["status"] == 200
    assert body["meta"]["pagination"]["pageSize"] == 50
    assert body["fail"] == []
    logs = body["data"][0]["clickLogs"]
    assert len(logs) == 50
    for record in logs:
        assert set(record) == URL_FIELDS
        assert DATE_RE.match(record["date"])
        assert record["route"] in ("inbound", "outbound", "internal")
        assert record["scanResult"] in ("clean", "malicious")
        assert record["url"].startswith("https://")
        assert ".example." in record["userEmailAddress"]
        assert "id" not in record


async def test_ttp_url_filters(frozen: Caller) -> None:
    malicious, _ = await frozen.walk(
        "/api/ttp/url/get-logs", {**WINDOW, "scanResult": "malicious"}, record_key="clickLogs"
    )
    everything, _ = await frozen.walk(
        "/api/ttp/url/get-logs", {**WINDOW, "scanResult": "all", "route": "all"}, record_key="clickLogs"
    )
    outbound, _ = await frozen.walk("/api/ttp/url/get-logs", {**WINDOW, "route": "outbound"}, record_key="clickLogs")
    assert malicious
    assert outbound
    assert all(r["scanResult"] == "malicious" for r in malicious)
    assert all(r["route"] == "outbound" for r in outbound)
    assert [r for r in everything if r["scanResult"] == "malicious"] == malicious
    assert [r for r in everything if r["route"] == "outbound"] == outbound


async def test_ttp_attachment_shape_and_result_filter(frozen: Caller) -> None:
    logs, _ = await frozen.walk("/api/ttp/attachment/get-logs", WINDOW, record_key="attachmentLogs")
    assert logs
    for record in logs:
        assert set(record) == ATTACHMENT_FIELDS
        assert re.fullmatch(r"[0-9a-f]{64}", record["fileHash"])
        assert record["route"] in ("inbound", "outbound", "internal", "external")
    clean, _ = await frozen.walk(
        "/api/ttp/attachment/get-logs", {**WINDOW, "result": "clean"}, record_key="attachmentLogs"
    )
    assert clean == [r for r in logs if r["result"] == "clean"]


async def test_ttp_impersonation_shape_count_and_string_results(frozen: Caller) -> None:
    reply = await frozen.post("/api/ttp/impersonation/get-logs", [WINDOW], page_size=500)
    entry = reply.body["data"][0]
    logs = entry["impersonationLogs"]
    assert entry["resultCount"] == len(logs) > 0
    shapes = {type(r["impersonationResults"][0]).__name__ for r in logs}
    assert shapes == {"dict", "str"}  # quirk 12: both shapes occur
    for record in logs:
        assert set(record) == IMPERSONATION_FIELDS
        assert record["id"].startswith("MTOKEN:")
    assert len({r["id"] for r in logs}) == len(logs)


async def test_ttp_impersonation_filters(frozen: Caller) -> None:
    everything, _ = await frozen.walk("/api/ttp/impersonation/get-logs", WINDOW, record_key="impersonationLogs")
    tagged, _ = await frozen.walk(
        "/api/ttp/impersonation/get-logs", {**WINDOW, "taggedMalicious": True}, record_key="impersonationLogs"
    )
    assert tagged == [r for r in everything if r["taggedMalicious"]]
    held, _ = await frozen.walk(
        "/api/ttp/impersonation/get-logs", {**WINDOW, "actions": ["hold"]}, record_key="impersonationLogs"
    )
    assert held == [r for r in everything if r["action"] == "hold"]
    ident, _ = await frozen.walk(
        "/api/ttp/impersonation/get-logs",
        {**WINDOW, "identifiers": ["internal_user_name"]},
        record_key="impersonationLogs",
    )
    assert ident == [r for r in everything if "internal_user_name" in r["identifiers"]]
    needle = everything[0]["recipientAddress"]
    found, _ = await frozen.walk(
        "/api/ttp/impersonation/get-logs",
        {**WINDOW, "searchField": "recipientAddress", "query": needle},
        record_key="impersonationLogs",
    )
    assert found
    assert all(needle in r["recipientAddress"] for r in found)


async def test_impersonation_search_field_without_query_fails(frozen: Caller) -> None:
    reply = await frozen.post("/api/ttp/impersonation/get-logs", [{**WINDOW, "searchField": "subject"}])
    assert reply.status == 200
    assert _only_error(reply.body)["code"] == "err_validation_blank"
    assert reply.body["data"] == []


async def test_audit_is_flat_and_has_ids(frozen: Caller) -> None:
    item = {"startDateTime": WINDOW["from"], "endDateTime": WINDOW["to"]}
    events, _ = await frozen.walk("/api/audit/get-audit-events", item, record_key=None)
    assert events
    for event in events:
        assert set(event) == {"id", "auditType", "user", "eventTime", "eventInfo", "category"}
        assert DATE_RE.match(event["eventTime"])
    logons, _ = await frozen.walk(
        "/api/audit/get-audit-events", {**item, "categories": ["authentication_logs"]}, record_key=None
    )
    assert logons == [e for e in events if e["category"] == "authentication_logs"]


@pytest.mark.parametrize("missing", ["startDateTime", "endDateTime"])
async def test_audit_without_dates_is_200_with_validation_null(frozen: Caller, missing: str) -> None:
    item = {"startDateTime": WINDOW["from"], "endDateTime": WINDOW["to"]}
    del item[missing]
    reply = await frozen.post("/api/audit/get-audit-events", [item])
    assert reply.status == 200
    assert reply.body["meta"]["status"] == 200
    error = _only_error(reply.body)
    assert error["code"] == "err_validation_null"
    assert missing in str(error["message"])
    assert reply.body["fail"][0]["key"] == item


async def test_audit_older_than_60_days_fails(frozen: Caller) -> None:
    item = {"startDateTime": "2026-09-20T00:00:00+0000", "endDateTime": WINDOW["to"]}
    reply = await frozen.post("/api/audit/get-audit-events", [item])
    assert _only_error(reply.body)["code"] == "err_validation_date_range"
    ok = await frozen.post("/api/audit/get-audit-events", [{**item, "startDateTime": "2026-09-27T00:00:00+0000"}])
    assert ok.body["fail"] == []


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ({"from": "yesterday"}, "err_validation_invalid_date"),
        ({"from": "2026-11-25 11:00:00"}, "err_validation_invalid_date"),
        ({"from": "2026-13-25T11:00:00+0000"}, "err_validation_invalid_date"),
        ({"from": "2026-11-25T11:59:00+0000", "to": "2026-11-25T11:00:00+0000"}, "err_validation_date_range"),
        ({"route": "sideways"}, "err_validation_invalid_value"),
        ({"scanResult": "bad"}, "err_validation_invalid_value"),
        ({"oldestFirst": "yes"}, "err_validation_invalid_value"),
    ],
)
async def test_bad_filters_answer_200_with_fail(frozen: Caller, item: dict[str, object], code: str) -> None:
    reply = await frozen.post("/api/ttp/url/get-logs", [item])
    assert reply.status == 200
    assert _only_error(reply.body)["code"] == code
    assert reply.body["fail"][0]["errors"][0]["retryable"] is False


@pytest.mark.parametrize("size", [0, 501, "100"])
async def test_bad_page_size_fails(frozen: Caller, size: object) -> None:
    reply = await frozen.post(
        "/api/ttp/url/get-logs", body={"meta": {"pagination": {"pageSize": size}}, "data": [WINDOW]}
    )
    assert reply.status == 200
    assert _only_error(reply.body)["code"] == "err_validation_max_value"


async def test_page_size_500_is_accepted(frozen: Caller) -> None:
    reply = await frozen.post("/api/ttp/url/get-logs", [WINDOW], page_size=500)
    assert reply.body["fail"] == []
    assert len(reply.body["data"][0]["clickLogs"]) == 500


@pytest.mark.parametrize("suffix", ["+0000", "+00:00", "Z", ".000Z", "+01:00"])
async def test_date_formats_are_accepted(frozen: Caller, suffix: str) -> None:
    hour = "12" if suffix == "+01:00" else "11"
    item = {"from": f"2026-11-25T{hour}:50:00{suffix}", "to": f"2026-11-25T{hour}:52:00{suffix}"}
    reply = await frozen.post("/api/ttp/url/get-logs", [item], page_size=500)
    assert reply.body["fail"] == []
    dates = [r["date"] for r in reply.body["data"][0]["clickLogs"]]
    assert dates
    assert all("2026-11-25T11:50:00+0000" <= d <= "2026-11-25T11:52:00+0000" for d in dates)


async def test_default_window_is_start_of_day_to_now(frozen: Caller) -> None:
    implicit, _ = await frozen.walk("/api/ttp/url/get-logs", {}, record_key="clickLogs", page_size=500)
    explicit, _ = await frozen.walk(
        "/api/ttp/url/get-logs",
        {"from": "2026-11-25T00:00:00+0000", "to": "2026-11-25T12:00:00+0000"},
        record_key="clickLogs",
        page_size=500,
    )
    assert implicit
    assert implicit == explicit


async def test_hold_message_list_is_flat_with_total(frozen: Caller) -> None:
    reply = await frozen.post("/api/gateway/get-hold-message-list", [{"admin": True}], page_size=500)
    assert reply.body["fail"] == []
    held = reply.body["data"]
    assert held
    assert reply.body["meta"]["pagination"]["totalCount"] == len(held)
    for record in held:
        assert set(record) == HOLD_FIELDS
        assert record["route"] in ("INBOUND", "OUTBOUND", "INTERNAL")
        assert DATE_RE.match(record["dateReceived"])


async def test_hold_summary_shape(frozen: Caller) -> None:
    reply = await frozen.post("/api/gateway/get-hold-summary-list", [])
    assert reply.body["fail"] == []
    assert reply.body["data"]
    for row in reply.body["data"]:
        assert set(row) == {"policyInfo", "numberOfItems"}
        assert row["numberOfItems"] > 0


async def test_email_queues_require_start_and_end(frozen: Caller) -> None:
    reply = await frozen.post("/api/email/get-email-queues", [{"start": WINDOW["from"]}])
    assert _only_error(reply.body)["code"] == "err_validation_null"
    assert "end" in str(_only_error(reply.body)["message"])


async def test_email_queues_numbers_shape(frozen: Caller) -> None:
    reply = await frozen.post("/api/email/get-email-queues", [{"start": WINDOW["from"], "end": WINDOW["to"]}])
    assert reply.body["fail"] == []
    (entry,) = reply.body["data"]
    assert set(entry) == {"inboundEmailQueue", "outboundEmailQueue"}
    assert isinstance(entry["inboundEmailQueue"], int)
    assert isinstance(entry["outboundEmailQueue"], int)


@pytest.mark.parametrize("shape", ["samples", "alternate"])
async def test_email_queues_sample_shapes(
    session: aiohttp.ClientSession, simulator_factory: Callable[..., Awaitable[RunningSimulator]], shape: str
) -> None:
    sim = await simulator_factory(frozen_at=FROZEN, email_queue_shape=shape)
    caller = caller_for(session, sim)
    item = {"start": "2026-11-25T11:00:00+0000", "end": "2026-11-25T11:10:00+0000"}
    first = (await caller.post("/api/email/get-email-queues", [item])).body["data"][0]
    second = (await caller.post("/api/email/get-email-queues", [item])).body["data"][0]
    samples = first if shape == "samples" else second
    assert len(samples["inboundEmailQueue"]) == 11
    assert samples["inboundEmailQueue"][0]["date"] == "2026-11-25T11:00:00+0000"
    assert all(set(s) == {"date", "count"} for s in samples["outboundEmailQueue"])
    if shape == "alternate":
        assert isinstance(first["inboundEmailQueue"], int)
    else:
        assert second == first


async def test_release_logs_shape(frozen: Caller) -> None:
    logs, _ = await frozen.walk(
        "/api/gateway/get-held-release-logs", {"start": "2026-11-25T11:45:00+0000"}, record_key="heldReleaseLogs"
    )
    assert logs
    for record in logs:
        assert record["status"] in ("released", "rejected")
        assert DATE_RE.match(record["released"])
        assert record["operator"]["emailAddress"]
        assert isinstance(record["to"], list)
