"""Hostile Mimecast answers on the wire: odd JSON, huge or endless bodies, slow servers, endless pages.

Each case is one way a broken or malicious API could crash the client, hang it, eat memory or wedge a
stream forever on one bad record. The client must answer with a typed error (retried or not) or keep
every record it can read - never a bare exception, never an unbounded wait or allocation.
"""

from __future__ import annotations

import asyncio
import functools
import json

import orjson
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.errors import ApiError, ResponseFormatError, TransientError
from mimecast_siem.mimecast import PageCursor, PaginationLimitError, paths, readers
from mimecast_siem.mimecast import client as client_module
from mimecast_siem.mimecast.envelope import MAX_JSON_DEPTH, decode_json, envelope_response, page_records
from mimecast_siem.mimecast.ratelimit import MAX_HEADER_PAUSE, retry_after_seconds
from mimecast_siem.observability.metrics import Metrics
from tests.mimecast.wire_server import served

LOGS = "/api/ttp/url/get-logs"
WAIT = 30.0  # every call here is bounded by the client's own timeouts; this only stops a hung test


def page_body(records_json: bytes, next_token: str | None = None) -> bytes:
    """An envelope around already-encoded records (so the records may be invalid JSON on purpose)."""
    meta = {"status": 200, "pagination": {"pageSize": 500, **({"next": next_token} if next_token else {})}}
    return b'{"meta":' + orjson.dumps(meta) + b',"data":[{"clickLogs":' + records_json + b'}],"fail":[]}'


def raw_json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


async def walk(client: client_module.MimecastClient) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    async for page in client.pages(LOGS, item={"from": "a", "to": "b"}, record_key="clickLogs"):
        records.extend(page.records)
    return records


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def downstream_safe(record: dict[str, object]) -> None:
    """What every sink and the dead-letter file do to a record: wrap it a few levels and write it."""
    wrapped: object = record
    for _ in range(10):
        wrapped = {"event": wrapped}
    orjson.dumps(wrapped)


# --- JSON that decodes but breaks everything downstream -------------------------------------------


@pytest.mark.parametrize("depth", [70, 300, 1000])
async def test_deeply_nested_records_are_kept_and_stay_writable(depth: int) -> None:
    deep = b'{"date":"2026-11-25T10:00:00+0000","url":"https://a.example/","x":' + nested(depth) + b"}"
    good = b'{"date":"2026-11-25T10:00:01+0000","url":"https://b.example/"}'

    async def answer(request: web.Request) -> web.Response:
        return raw_json(page_body(b"[" + deep + b"," + good + b"]"))

    async with served({("POST", LOGS): answer}) as (_server, client):
        records = await asyncio.wait_for(walk(client), WAIT)
    assert [r["url"] for r in records] == ["https://a.example/", "https://b.example/"]
    for record in records:
        downstream_safe(record)  # orjson writes at most 254 levels; an unbounded record would raise here
    # Nothing is lost: the part below the depth limit is kept as its JSON text.
    node, levels = records[0]["x"], 0
    while isinstance(node, list):
        (node,) = node
        levels += 1
    assert isinstance(node, str)
    assert node == nested(depth - levels).decode()
    assert 0 < levels < MAX_JSON_DEPTH


async def test_nesting_beyond_what_any_parser_reads_is_a_format_error() -> None:
    async def answer(request: web.Request) -> web.Response:
        return raw_json(page_body(b'[{"x":' + nested(5000) + b"}]"))

    async with served({("POST", LOGS): answer}) as (server, client):
        with pytest.raises(ResponseFormatError) as info:
            await asyncio.wait_for(walk(client), WAIT)
    assert "not valid JSON" in str(info.value)
    assert server.paths().count(LOGS) > 1  # a format error is transient: retried, then raised


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (b'"caf\xc3\xa9 \xff\xfe invoice"', "café \ufffd\ufffd invoice"),  # invalid UTF-8 bytes
        (b'"cut emoji \\ud83d"', "cut emoji \ufffd"),  # a lone surrogate escape (subject cut mid-pair)
        (b'"\\udc00 low first"', "\ufffd low first"),
        (b'"ok \\ud83d\\ude00 pair"', "ok \U0001f600 pair"),  # a valid pair is not touched
        (b'"line\nbreak\ttab"', "line\nbreak\ttab"),  # raw control characters inside a string
    ],
)
async def test_strings_strict_parsers_refuse_are_repaired_not_fatal(subject: bytes, expected: str) -> None:
    body = page_body(b'[{"date":"2026-11-25T10:00:00+0000","subject":' + subject + b'},{"subject":"next"}]')

    async def answer(request: web.Request) -> web.Response:
        return raw_json(body)

    async with served({("POST", LOGS): answer}) as (_server, client):
        records = await asyncio.wait_for(walk(client), WAIT)
    assert [r["subject"] for r in records] == [expected, "next"]
    for record in records:
        downstream_safe(record)


async def test_non_finite_and_huge_numbers_are_kept_as_text_or_float() -> None:
    records_json = b'[{"score":NaN,"a":Infinity,"b":-Infinity,"c":1e999,"big":123456789012345678901234567890}]'

    async def answer(request: web.Request) -> web.Response:
        return raw_json(page_body(records_json))

    async with served({("POST", LOGS): answer}) as (_server, client):
        (record,) = await asyncio.wait_for(walk(client), WAIT)
    assert record["score"] == "NaN"
    assert record["a"] == "Infinity"
    assert record["b"] == "-Infinity"
    assert record["c"] == "1e999"
    assert record["big"] == pytest.approx(1.2345678901234568e29)
    downstream_safe(record)


async def test_a_byte_order_mark_and_duplicate_keys_are_read() -> None:
    async def answer(request: web.Request) -> web.Response:
        return raw_json(b"\xef\xbb\xbf" + page_body(b'[{"url":"first","url":"last"}]'))

    async with served({("POST", LOGS): answer}) as (_server, client):
        (record,) = await asyncio.wait_for(walk(client), WAIT)
    assert record == {"url": "last"}  # the last duplicate wins, as in every JSON parser we use


async def test_records_that_are_not_objects_do_not_hold_back_the_good_ones() -> None:
    async def answer(request: web.Request) -> web.Response:
        return raw_json(page_body(b'[null,{"url":"good"},"text",7,[1]]'))

    async with served({("POST", LOGS): answer}) as (_server, client):
        records = await asyncio.wait_for(walk(client), WAIT)
    assert records == [{"value": None}, {"url": "good"}, {"value": "text"}, {"value": 7}, {"value": [1]}]


@pytest.mark.parametrize(
    "body",
    [
        b'{"meta":{},"data":{"clickLogs":[]}}',  # data not a list
        b'{"meta":[],"data":[]}',  # meta not an object
        b'{"meta":{},"data":[{"clickLogs":{"url":"x"}}]}',  # records not a list
        b'{"meta":{},"data":["clickLogs"]}',  # data entry not an object
        b"[]",
        b'"data"',
        b'{"meta":{},"data":[{"clickLogs":[{"url":"x"}]}',  # truncated
        b'{"meta":{},"data":[{"clickLogs":[{"url":"x"},]}]}',  # trailing comma
    ],
)
async def test_wrong_shapes_are_typed_retried_errors_without_the_body(body: bytes) -> None:
    async def answer(request: web.Request) -> web.Response:
        return raw_json(body)

    async with served({("POST", LOGS): answer}) as (server, client):
        with pytest.raises(ResponseFormatError) as info:
            await asyncio.wait_for(walk(client), WAIT)
    assert isinstance(info.value, TransientError)  # the caller retries the window later; nothing moves on
    assert '"url":"x"' not in str(info.value)
    assert LOGS in server.paths()


# --- size, speed and endlessness ------------------------------------------------------------------


async def test_a_declared_huge_body_is_refused_before_reading() -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 100 * 1024 * 1024
        await response.prepare(request)
        await response.write(b'{"meta":{},"data":[')
        await asyncio.sleep(60)  # never sends the rest: the client must not wait for it
        return response

    async with served({("POST", LOGS): answer}) as (_server, client):
        with pytest.raises(ResponseFormatError) as info:
            await asyncio.wait_for(walk(client), WAIT)
    assert "declares 104857600 bytes" in str(info.value)


async def test_an_endless_chunked_body_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    cap = 256 * 1024
    monkeypatch.setattr(readers, "MAX_JSON_BYTES", cap)
    sent: list[int] = []
    ended_by: list[type[BaseException] | None] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)  # chunked: no length to refuse up front
        await response.write(b'{"meta":{},"data":[{"clickLogs":[')
        total = 0
        try:
            while total < 64 * cap:
                await response.write(b'{"url":"' + b"a" * 4000 + b'"},')
                total += 4010
        except BaseException as exc:
            ended_by.append(type(exc))
            raise
        else:
            ended_by.append(None)
        finally:
            sent.append(total)
        return response

    async with served({("POST", LOGS): answer}) as (_server, client):
        with pytest.raises(ResponseFormatError) as info:
            await asyncio.wait_for(walk(client), WAIT)
    assert f"larger than the {cap} bytes accepted" in str(info.value)
    # The client hung up instead of reading the 16 MB the server wanted to send: every answer's
    # writes ended on the closed connection (not on the test's teardown cancelling a blocked write),
    # before the end. What the server got written is not a measure of what the client read: the
    # kernel's socket buffers take megabytes first (tcp_rmem's ceiling is 32 MB on some kernels; a
    # run on a loaded machine saw 4.3 MB written for a client that read 256 KB).
    assert sent
    assert ended_by
    assert all(end is not None and issubclass(end, ConnectionError) for end in ended_by), ended_by
    assert max(sent) < 64 * cap


async def test_a_slow_drip_body_is_cut_by_the_request_timeout() -> None:
    dripped: list[int] = []

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        body = page_body(b'[{"url":"x"}]')
        for i, byte in enumerate(body):
            await response.write(bytes([byte]))
            dripped.append(i)
            await asyncio.sleep(0.1)  # each byte well inside any read timeout; the whole far outside
        return response

    async with served({("POST", LOGS): drip}, timeout=0.5) as (server, client):
        with pytest.raises(TransientError) as info:
            await asyncio.wait_for(walk(client), WAIT)
    assert "did not answer" in str(info.value)
    assert len(dripped) < len(page_body(b'[{"url":"x"}]'))  # the timeout covers the body, not each read
    assert server.paths().count(LOGS) == client.retry.max_attempts


async def test_a_server_that_never_finishes_its_answer_times_out() -> None:
    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b'{"meta":')
        await asyncio.sleep(3600)
        return response

    async with served({("POST", LOGS): stall}, timeout=0.5) as (_server, client):
        with pytest.raises(TransientError):
            await asyncio.wait_for(walk(client), WAIT)


async def test_endless_distinct_page_tokens_stop_at_the_page_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    cap = 300
    monkeypatch.setattr(client_module, "PageCursor", functools.partial(PageCursor, max_pages=cap))

    async def endless(request: web.Request) -> web.Response:
        token = orjson.loads(await request.read()).get("meta", {}).get("pagination", {}).get("pageToken") or "p0"
        following = f"p{int(token[1:]) + 1}"
        return raw_json(page_body(b'[{"url":"' + token.encode() + b'"}]', following))

    async with served({("POST", LOGS): endless}) as (server, client):
        pages: list[int] = []

        async def follow() -> None:
            async for page in client.pages(LOGS, item={}, record_key="clickLogs"):
                pages.append(page.number)

        with pytest.raises(PaginationLimitError) as info:
            await asyncio.wait_for(follow(), WAIT)
    # No request beyond the cap; the page whose next token breaks it is not handed over (the walk
    # is abandoned, so its caller retries the whole range and commits nothing).
    assert server.paths().count(LOGS) == cap
    assert pages == list(range(1, cap))
    assert f"past {cap} pages" in str(info.value)
    assert isinstance(info.value, ApiError)


async def test_the_default_page_cap_is_finite_and_generous() -> None:
    cursor = PageCursor("/api/x")
    assert 1_000 <= cursor.max_pages <= 100_000


# --- rate-limit headers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "1e12"}, MAX_HEADER_PAUSE),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # an HTTP date in the past
        ({"Retry-After": "Fri, 01 Jan 9999 00:00:00 GMT"}, MAX_HEADER_PAUSE),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"X-RateLimit-Reset": "1e15"}, MAX_HEADER_PAUSE),
        ({"X-RateLimit-Reset": "-1"}, 0.0),
        ({"X-RateLimit-Reset": "0x10"}, None),
        ({"X-RateLimit-Reset": "\x00\xff"}, None),
        ({"Retry-After": "garbage", "X-RateLimit-Reset": "2500"}, 2.5),
    ],
)
def test_absurd_rate_limit_headers_are_bounded(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


async def test_a_server_that_keeps_saying_retry_now_is_not_hammered() -> None:
    async def always_429(request: web.Request) -> web.Response:
        return web.json_response({"fail": []}, status=429, headers={"Retry-After": "0"})

    async with served({("POST", LOGS): always_429}) as (server, client):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.request(LOGS, [{}]), 2.0)
    # Without a floor the spacing doubled from zero and stayed zero: thousands of requests a second.
    assert 2 <= server.paths().count(LOGS) <= 20


# --- every decodable answer gives records every sink can write --------------------------------------

_json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
_json = st.recursive(
    _json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3), max_leaves=30
)


@settings(deadline=None, max_examples=200)
@given(
    record=_json,
    depth=st.integers(1, 400),
    junk=st.sampled_from([b"", b"\xff\xfe", b"\\ud800", b"\\udfff x", b"\x01\n", b"\xed\xa0\x80"]),
)
def test_any_structurally_sound_page_gives_records_every_sink_can_write(
    record: object, depth: int, junk: bytes
) -> None:
    # json.dumps writes NaN and Infinity for float("nan") and float("inf"): strict parsers refuse those.
    second = b'{"subject":"a' + junk + b'b","deep":' + nested(depth) + b"}"
    body = page_body(b"[" + json.dumps(record).encode() + b"," + second + b"]")
    document = decode_json(LOGS, 200, "application/json", body)  # never a format error: all repairable
    got = page_records(LOGS, envelope_response(LOGS, 200, document), "clickLogs")
    assert len(got) == 2
    assert str(got[1]["subject"]).startswith("a")
    for item in got:
        downstream_safe(item)


# --- redirects and tokens -------------------------------------------------------------------------


async def test_a_redirect_to_another_host_sends_it_nothing() -> None:
    async def trap(request: web.Request) -> web.Response:
        return web.json_response({"meta": {}, "data": []})

    async with served({("POST", LOGS): trap, ("GET", LOGS): trap}) as (evil, _evil_client):

        async def moved(request: web.Request) -> web.Response:
            raise web.HTTPTemporaryRedirect(f"{evil.url}{LOGS}")

        async with served({("POST", LOGS): moved}) as (_server, client):
            with pytest.raises(ApiError) as info:
                await asyncio.wait_for(walk(client), WAIT)
        assert info.value.status == 307
        assert evil.paths() == []  # neither the request nor the bearer token reached the other host


@pytest.mark.parametrize(
    "token",
    ["tok\r\nX-Injected: yes", "tok\x00en-abcdefghijklmnop", "tok en", "tökén-abcdefghijklmnop", "\t\n"],
)
async def test_a_token_unfit_for_a_header_is_a_typed_error_and_never_sent(token: str) -> None:
    async def hostile_token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": 1799})

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"meta": {}, "data": []})

    async with served({("POST", "/oauth/token"): hostile_token, ("POST", LOGS): ok}) as (server, client):
        with pytest.raises(ResponseFormatError) as info:
            await asyncio.wait_for(client.request(LOGS, [{}]), WAIT)
    assert LOGS not in server.paths()
    assert "X-Injected" not in str(info.value)
    assert token.strip() not in str(info.value) or not token.strip()


async def test_a_token_type_with_control_characters_falls_back_to_bearer() -> None:
    async def odd_type(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "abcdefghijklmnop", "token_type": "Bearer\r\nX: 1"})

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"meta": {}, "data": []})

    async with served({("POST", "/oauth/token"): odd_type, ("POST", LOGS): ok}) as (server, client):
        await asyncio.wait_for(client.request(LOGS, [{}]), WAIT)
    (call,) = [s for s in server.seen if s.path == LOGS]
    assert call.headers["Authorization"] == "Bearer abcdefghijklmnop"
    assert "X" not in call.headers


# --- caller-chosen paths and metric labels -----------------------------------------------------------


async def test_caller_chosen_paths_cannot_grow_the_metric_labels_without_bound(
    monkeypatch: pytest.MonkeyPatch, fresh_shared_state: Metrics
) -> None:
    monkeypatch.setattr(paths, "_labels", set())
    monkeypatch.setattr(paths, "MAX_ENDPOINT_LABELS", 5)

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"meta": {}, "data": []})

    async with served({("POST", "/api/{tail:.*}"): ok}) as (_server, client):
        await client.request(LOGS, [{}])  # a real endpoint, labelled first
        for i in range(40):  # what a generic-action caller could send
            await client.request(f"/api/probe/p{i}", [{}])
    families = {m.name: m for m in fresh_shared_state.registry.collect()}
    endpoints = {s.labels["endpoint"] for s in families["mimecast_siem_api_requests"].samples if "endpoint" in s.labels}
    assert LOGS in endpoints
    assert paths.OTHER_ENDPOINT in endpoints
    assert len(endpoints) <= 5 + 1
