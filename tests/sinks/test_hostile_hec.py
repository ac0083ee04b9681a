"""A HEC endpoint that is not what it claims: HTML or garbage on 200, endless bodies, silence, slow answers.

The rule under test: nothing counts as delivered unless Splunk's HEC said so. A 200 from a proxy's
login page or a web server answering any POST used to be taken as success - every event of the
batch acknowledged, the checkpoint moved, the events gone. Now such a sink is refused permanently,
so the router dead-letters the batch (kept on disk, replayable) and marks the sink down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from mimecast_siem.observability.metrics import Metrics
from mimecast_siem.sinks.base import SinkContext, SinkPermanentError, SinkTransientError
from mimecast_siem.sinks.deadletter import DeadLetters
from mimecast_siem.sinks.hec_protocol import NOT_HEC, ReplyKind, classify_health, classify_reply
from mimecast_siem.sinks.registry import build_sinks
from mimecast_siem.sinks.router import RetryPolicy, Router
from tests.sinks.builders import batch, settings
from tests.sinks.conftest import HEC_TOKEN, metric_value
from tests.sinks.hec_helpers import hec_sink

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WAIT = 30.0


@contextlib.asynccontextmanager
async def endpoint(handler: Handler) -> AsyncIterator[str]:
    """A one-handler HTTP server on a free loopback port answering every path; yields its URL."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def answering(body: bytes, status: int = 200, content_type: str = "text/html") -> Handler:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, status=status, content_type=content_type)

    return handler


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body>Please log in to the proxy</body></html>", "text/html"),
        (b"It works!", "text/plain"),
        (b"\x00\xff\xfe garbage", "application/octet-stream"),
        (b'["Success"]', "application/json"),
        (b'"Success"', "application/json"),
        (b'{"text":"Success","code":0', "application/json"),  # cut short
    ],
)
def test_a_2xx_that_is_not_hec_json_is_not_success(body: bytes, content_type: str) -> None:
    reply = classify_reply(200, body)
    assert reply.kind is ReplyKind.PERMANENT
    assert NOT_HEC in reply.describe()
    healthy, detail = classify_health(200, body)
    assert not healthy
    assert "not HEC's JSON" in detail


def test_real_hec_answers_keep_their_meaning() -> None:
    assert classify_reply(200, b'{"text":"Success","code":0}').kind is ReplyKind.SUCCESS
    assert classify_reply(200, b'{"text":"Success","code":0,"ackId":3}').ack_id == 3
    assert classify_reply(200, b"").kind is ReplyKind.SUCCESS  # HEC-compatible receivers with empty 200s
    assert classify_reply(200, b"  \n").kind is ReplyKind.SUCCESS
    assert classify_health(200, b'{"text":"HEC is healthy","code":17}')[0]


async def test_an_html_200_is_refused_and_the_batch_is_dead_lettered_not_lost(
    context: SinkContext, tmp_path: Path, fresh_metrics: Metrics
) -> None:
    page = b"<!doctype html><html><title>Sign in</title></html>"
    async with endpoint(answering(page)) as url:
        cfg = settings([{"name": "splunk", "type": "hec", "url": url, "token": HEC_TOKEN}])
        router = Router(cfg, build_sinks(cfg, context), DeadLetters(tmp_path / "dead.ndjson"), retry=RetryPolicy(0.01))
        await router.start()
        events = batch(7)
        report = await asyncio.wait_for(router.deliver("acme", "ttp-url", events), WAIT)
        await router.close()
    assert report.sinks["splunk"].delivered == 0
    assert report.sinks["splunk"].dead_lettered == 7
    kept = DeadLetters(tmp_path / "dead.ndjson").list()
    assert sorted(d.event_id for d in kept) == sorted(e.event_id for e in events)
    assert all(NOT_HEC in d.reason for d in kept)
    assert HEC_TOKEN not in (tmp_path / "dead.ndjson").read_text()
    labels = {"tenant": "acme", "stream": "ttp-url", "sink": "splunk"}
    assert metric_value(fresh_metrics, "mimecast_siem_events_delivered_total", labels) == 0
    assert metric_value(fresh_metrics, "mimecast_siem_sink_up", {"sink": "splunk"}) == 0


async def test_an_endless_reply_body_is_read_only_to_its_cap(context: SinkContext) -> None:
    streamed: list[int] = []

    async def endless(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        sent = 0
        try:
            await response.write(b'{"text":"Success","code":0,"pad":"')
            while sent < 256 * 1024 * 1024:
                await response.write(b"x" * 65536)
                sent += 65536
        finally:
            streamed.append(sent)
        return response

    async with endpoint(endless) as url:
        sink = hec_sink(context, url, timeout="20s")
        await sink.start()
        try:
            with pytest.raises(SinkPermanentError) as info:
                await asyncio.wait_for(sink.send(batch(2)), WAIT)
        finally:
            await sink.close()
    assert NOT_HEC in str(info.value)  # 64 KiB of an unfinished JSON object is not an answer
    assert streamed
    assert streamed[0] < 64 * 1024 * 1024  # the sink hung up; it did not read 256 MB


async def test_a_receiver_that_never_answers_is_a_transient_error_within_the_timeout(context: SinkContext) -> None:
    async def silent(request: web.Request) -> web.StreamResponse:
        await request.read()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async with endpoint(silent) as url:
        sink = hec_sink(context, url, timeout="1s")
        await sink.start()
        try:
            with pytest.raises(SinkTransientError) as info:
                await asyncio.wait_for(sink.send(batch(3)), WAIT)
        finally:
            await sink.close()
    assert HEC_TOKEN not in str(info.value)


async def test_a_hec_answer_arriving_in_pieces_is_read_whole(context: SinkContext) -> None:
    async def dribble(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for piece in (b'{"text":"Suc', b'cess","co', b'de":0}'):
            await response.write(piece)
            await asyncio.sleep(0.05)
        await response.write_eof()
        return response

    async with endpoint(dribble) as url:
        sink = hec_sink(context, url)
        await sink.start()
        try:
            result = await asyncio.wait_for(sink.send(batch(4)), WAIT)
        finally:
            await sink.close()
    assert result.accepted == 4
    assert result.rejected == []


async def test_a_redirect_never_carries_the_token_elsewhere(context: SinkContext) -> None:
    reached: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        reached.append(request.headers.get("Authorization", ""))
        return web.json_response({"text": "Success", "code": 0})

    async with endpoint(elsewhere) as other:

        async def moved(request: web.Request) -> web.Response:
            raise web.HTTPPermanentRedirect(f"{other}/services/collector/event")

        async with endpoint(moved) as url:
            sink = hec_sink(context, url)
            await sink.start()
            try:
                with pytest.raises(SinkPermanentError) as info:
                    await asyncio.wait_for(sink.send(batch(1)), WAIT)
            finally:
                await sink.close()
    assert "redirects" in str(info.value)
    assert reached == []


async def test_a_receiver_echoing_the_token_leaves_no_trace_of_it_in_the_dead_letters(
    context: SinkContext, tmp_path: Path, fresh_metrics: Metrics
) -> None:
    async def echo_token(request: web.Request) -> web.Response:
        await request.read()
        auth = request.headers.get("Authorization", "")
        return web.json_response({"text": f"Invalid token ({auth})", "code": 4}, status=403)

    async with endpoint(echo_token) as url:
        cfg = settings([{"name": "splunk", "type": "hec", "url": url, "token": HEC_TOKEN}])
        router = Router(cfg, build_sinks(cfg, context), DeadLetters(tmp_path / "dead.ndjson"), retry=RetryPolicy(0.01))
        await router.start()
        report = await asyncio.wait_for(router.deliver("acme", "ttp-url", batch(3)), WAIT)
        await router.close()
    assert report.sinks["splunk"].dead_lettered == 3
    text = (tmp_path / "dead.ndjson").read_text()
    assert "Invalid token" in text  # the reason is kept, masked
    assert HEC_TOKEN not in text
