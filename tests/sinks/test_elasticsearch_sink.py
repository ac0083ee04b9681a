"""The elasticsearch sink against osmem-server (a real OpenSearch-compatible ``_bulk``) and strict fakes."""

from __future__ import annotations

import gzip
import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from mimecast_siem.errors import ConfigError
from mimecast_siem.events import Event
from mimecast_siem.observability.metrics import Metrics
from mimecast_siem.sinks.base import SinkContext, SinkPermanentError, SinkTransientError
from mimecast_siem.sinks.contract import ContractTarget, SinkContractSuite, build_sink, contract_events
from mimecast_siem.sinks.elasticsearch import ElasticsearchSink
from tests.fixtures.servers import ServerProcess, osmem_server, running
from tests.sinks.conftest import metric_value

DATA_STREAM = "logs-mimecast.ttp_url-default"


@pytest.fixture(scope="module")
def osmem(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running(osmem_server(tmp_path_factory.mktemp("osmem"))) as server:
        yield server


def search_ids(server: ServerProcess, index: str = DATA_STREAM) -> list[str]:
    url = f"http://{server.address}/{index}/_search?size=10000"
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            body = json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise
    return [hit["_id"] for hit in body["hits"]["hits"]]


def es_block(server: ServerProcess, **extra: Any) -> dict[str, Any]:
    return {"type": "elasticsearch", "format": "json", "url": f"http://{server.address}", **extra}


def mapping_refused(like: Event) -> Event:
    """``url`` is an object in the mapping; a plain string is refused (mapper_parsing_exception)."""
    document = {**like.document, "url": "not-an-object", "event": {**like.document["event"], "id": "bad"}}
    return Event(like.event_id + "bad", like.tenant, like.stream, like.timestamp, document, like.raw)


class OsmemTarget(ContractTarget):
    deduplicates = True

    def __init__(self, server: ServerProcess) -> None:
        self.server = server

    def sink_block(self) -> dict[str, Any]:
        return es_block(self.server, timeout="30s", connect_timeout="2s")

    async def read_back(self) -> list[str]:
        return search_ids(self.server)

    def refused_event(self, like: Event) -> Event | None:
        return mapping_refused(like)

    async def outage(self) -> None:
        self.server.stop()

    async def recover(self) -> None:
        self.server.start()


class TestElasticsearchContract(SinkContractSuite):
    @pytest.fixture
    def contract_target(self, osmem: ServerProcess) -> OsmemTarget:
        return OsmemTarget(osmem)


async def test_mixed_batch_created_duplicate_and_mapping_refusal(osmem: ServerProcess, tmp_path: Path) -> None:
    events = contract_events(5)
    sink, _ = build_sink(es_block(osmem), tmp_path)
    await sink.start()
    try:
        first = await sink.send(events[:2])
        assert first.accepted == 2
        bad = mapping_refused(events[0])
        # events[0:2] are stored already: 409 on create counts as delivered, the bad one is refused.
        result = await sink.send([*events, bad])
    finally:
        await sink.close()
    assert result.accepted == 5
    assert [r.event.event_id for r in result.rejected] == [bad.event_id]
    assert "mapper_parsing_exception" in result.rejected[0].reason
    assert "url" in result.rejected[0].reason
    assert result.bytes_sent > 0
    ids = search_ids(osmem)
    assert sorted(i for i in ids if i in {e.event_id for e in events}) == sorted(e.event_id for e in events)


async def test_index_template_and_ocsf_second_record_ids(osmem: ServerProcess, tmp_path: Path) -> None:
    events = contract_events(3, tenant="Acme")
    block = es_block(osmem, index="mimecast-{tenant}-{stream}-{date}", gzip=False)
    sink, _ = build_sink(block, tmp_path)
    assert isinstance(sink, ElasticsearchSink)
    assert sink.index_for(events[0]) == "mimecast-acme-ttp-url-2026.11.25"
    await sink.start()
    try:
        assert (await sink.send(events)).accepted == 3
    finally:
        await sink.close()
    assert sorted(search_ids(osmem, "mimecast-acme-ttp-url-2026.11.25")) == sorted(e.event_id for e in events)


async def test_elastic_integration_profile_indexes_into_elastics_data_streams(
    osmem: ServerProcess, tmp_path: Path
) -> None:
    events = contract_events(2)
    block = es_block(osmem, namespace="prod", format_options={"ecs_profile": "elastic-integration"})
    sink, _ = build_sink(block, tmp_path)
    assert isinstance(sink, ElasticsearchSink)
    assert sink.index_for(events[0]) == "logs-mimecast.ttp_url_logs-prod"
    (document,) = sink.encoder.encode(events[0])
    assert isinstance(document, dict)
    assert document["data_stream"] == {"type": "logs", "dataset": "mimecast.ttp_url_logs", "namespace": "prod"}
    await sink.start()
    try:
        assert (await sink.send(events)).accepted == 2
    finally:
        await sink.close()
    assert sorted(search_ids(osmem, "logs-mimecast.ttp_url_logs-prod")) == sorted(e.event_id for e in events)


# --- a strict fake for what osmem cannot be made to answer (429 items, 413, auth) -----------------


class FakeBulk:
    """Answers ``_bulk`` like Elasticsearch; ``item_statuses`` scripts per-request item statuses."""

    def __init__(self) -> None:
        self.requests: list[list[dict[str, Any]]] = []
        self.headers: list[dict[str, str]] = []
        self.item_script: list[dict[int, int]] = []  # per request: action index -> status
        self.whole_status: list[int] = []
        self.stored: dict[str, dict[str, Any]] = {}
        self.url = ""

    async def bulk(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.headers.append(dict(request.headers))
        if not body.endswith(b"\n"):
            return web.json_response({"error": {"type": "illegal_argument_exception"}}, status=400)
        if self.whole_status:
            status = self.whole_status.pop(0)
            return web.json_response({"error": {"type": "x", "reason": f"scripted {status}"}}, status=status)
        lines = body.splitlines()
        actions = [orjson.loads(line) for line in lines[0::2]]
        self.requests.append(actions)
        script = self.item_script.pop(0) if self.item_script else {}
        items = []
        for n, (action, source) in enumerate(zip(actions, lines[1::2], strict=True)):
            meta = action["create"]
            status = script.get(n, 409 if meta["_id"] in self.stored else 201)
            if status == 201:
                self.stored[meta["_id"]] = orjson.loads(source)
            item: dict[str, Any] = {"status": status}
            if status >= 300:
                item["error"] = {"type": "es_rejected_execution_exception" if status == 429 else "x", "reason": "r"}
            items.append({"create": item})
        errors = any(i["create"]["status"] >= 300 for i in items)
        return web.json_response({"errors": errors, "items": items} if errors else {"errors": False})


@pytest.fixture
async def fake_bulk() -> AsyncIterator[FakeBulk]:
    fake = FakeBulk()
    app = web.Application()
    app.router.add_post("/_bulk", fake.bulk)
    runner = web.AppRunner(app, access_log=None, auto_decompress=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


async def test_only_429_and_5xx_items_are_retried(fake_bulk: FakeBulk, tmp_path: Path) -> None:
    events = contract_events(4)
    fake_bulk.item_script = [{1: 429, 2: 503, 3: 400}]
    sink, _ = build_sink({"type": "elasticsearch", "url": fake_bulk.url}, tmp_path)
    await sink.start()
    try:
        with pytest.raises(SinkTransientError, match="2 document"):
            await sink.send(events)
        result = await sink.send(events)  # the router's retry of the same batch
    finally:
        await sink.close()
    assert result.accepted == 3
    assert [r.event.event_id for r in result.rejected] == [events[3].event_id]
    retried = [a["create"]["_id"] for a in fake_bulk.requests[1]]
    assert retried == [events[1].event_id, events[2].event_id]
    assert set(fake_bulk.stored) == {e.event_id for e in events[:3]}


async def test_whole_request_statuses(fake_bulk: FakeBulk, tmp_path: Path) -> None:
    events = contract_events(4)
    sink, _ = build_sink(
        {"type": "elasticsearch", "url": fake_bulk.url, "username": "elastic", "password": "s3cret-pw"}, tmp_path
    )
    await sink.start()
    try:
        fake_bulk.whole_status = [429]
        with pytest.raises(SinkTransientError, match="429"):
            await sink.send(events)
        fake_bulk.whole_status = [413]  # split in halves, then stored
        assert (await sink.send(events)).accepted == 4
        fake_bulk.whole_status = [401]
        with pytest.raises(SinkPermanentError, match="credentials") as caught:
            await sink.send(contract_events(1))
        assert "s3cret" not in str(caught.value)
    finally:
        await sink.close()
    assert fake_bulk.headers[-1]["Authorization"].startswith("Basic ")
    assert all(h["Content-Type"] == "application/x-ndjson" for h in fake_bulk.headers)


async def test_api_key_header(fake_bulk: FakeBulk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ES_KEY", "a2V5aWQ6c2VjcmV0")
    sink, _ = build_sink({"type": "elasticsearch", "url": fake_bulk.url, "api_key_env": "ES_KEY"}, tmp_path)
    await sink.start()
    try:
        await sink.send(contract_events(1))
    finally:
        await sink.close()
    assert fake_bulk.headers[0]["Authorization"] == "ApiKey a2V5aWQ6c2VjcmV0"


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ({"url": "ftp://x"}, "sink.url", "http(s) URL"),
        ({"url": "http://es:9200/_bulk"}, "sink.url", "base URL"),
        ({"index": "logs-{nope}"}, "sink.index", "unknown placeholder"),
        ({"namespace": "Prod-1"}, "sink.namespace", "lowercase"),
        ({"username": "u"}, "sink", "password"),
        ({"api_key": "k", "username": "u", "password": "p"}, "sink", "not both"),
        ({"url": "http://es.example:9200", "api_key": "k"}, "sink", "clear text"),
        ({"proxy": "socks5://p:1"}, "sink.proxy", "proxy URL"),
        ({"bogus": 1}, "sink.bogus", "unknown key"),
    ],
)
def test_bad_options_are_clear_config_errors(extra: dict[str, Any], key: str, words: str, tmp_path: Path) -> None:
    block = {"type": "elasticsearch", "url": "http://127.0.0.1:9200", **extra}
    with pytest.raises(ConfigError) as caught:
        build_sink(block, tmp_path)
    problems = {p.key: p.message for p in caught.value.problems}
    assert key in problems, problems
    assert words in problems[key]
    assert "****" not in str(caught.value) or "api_key" not in str(caught.value)


def test_text_formats_are_refused_by_config_check(tmp_path: Path) -> None:
    from mimecast_siem.config.models import Settings
    from mimecast_siem.sinks.registry import validate_sink_settings

    settings = Settings.model_validate(
        {
            "tenants": [{"name": "acme", "client_id": "c", "client_secret": "s"}],
            "sinks": [{"name": "es", "type": "elasticsearch", "format": "cef", "url": "http://127.0.0.1:9"}],
        }
    )
    problems = validate_sink_settings(settings)
    assert [p.key for p in problems] == ["sinks[0].format"]


async def test_healthcheck(osmem: ServerProcess, tmp_path: Path) -> None:
    sink = ElasticsearchSink(
        build_sink(es_block(osmem), tmp_path)[1], SinkContext(data_dir=tmp_path, instance_id="i", version="0")
    )
    health = await sink.healthcheck()
    await sink.close()
    assert health.ok
    assert "3." in health.detail


async def test_mutual_tls_with_a_private_ca(tmp_path: Path) -> None:
    """HTTPS with the cluster's private CA (ca_file) and a client certificate the server requires."""
    import ssl

    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    server_context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_context)
    client = ca.issue_cert("mimecast-siem-client")
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "client.pem", tmp_path / "client.key"
    ca.cert_pem.write_to_path(str(ca_file))
    client.cert_chain_pems[0].write_to_path(str(cert_file))
    client.private_key_pem.write_to_path(str(key_file))
    fake = FakeBulk()
    app = web.Application()
    app.router.add_post("/_bulk", fake.bulk)
    runner = web.AppRunner(app, access_log=None, auto_decompress=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    url = f"https://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    block = {"type": "elasticsearch", "url": url, "api_key": "k", "ca_file": str(ca_file), "timeout": "5s"}
    try:
        sink, _ = build_sink({**block, "client_cert_file": str(cert_file), "client_key_file": str(key_file)}, tmp_path)
        await sink.start()
        try:
            assert (await sink.send(contract_events(3))).accepted == 3
        finally:
            await sink.close()
        without_cert, _ = build_sink(block, tmp_path)
        await without_cert.start()
        try:
            with pytest.raises(SinkTransientError):
                await without_cert.send(contract_events(1))
        finally:
            await without_cert.close()
        untrusted, _ = build_sink({k: v for k, v in block.items() if k != "ca_file"}, tmp_path)
        await untrusted.start()
        try:
            with pytest.raises(SinkTransientError, match="TLS verification failed"):
                await untrusted.send(contract_events(1))
        finally:
            await untrusted.close()
    finally:
        await runner.cleanup()
    assert len(fake.stored) == 3


async def test_standard_sink_metrics_through_the_router(
    osmem: ServerProcess, tmp_path: Path, fresh_metrics: Metrics
) -> None:
    """The router records the standard sink metrics for the new sinks like for the built-in ones."""
    from mimecast_siem.sinks.contract import router_for

    events = contract_events(8)
    bad = mapping_refused(events[0])
    router, _ = router_for(es_block(osmem), tmp_path)
    await router.start()
    try:
        await router.deliver("acme", "ttp-url", [*events, bad])
    finally:
        await router.close()
    labels = {"tenant": "acme", "stream": "ttp-url", "sink": "contract"}
    assert metric_value(fresh_metrics, "mimecast_siem_events_delivered_total", labels) == 8
    assert metric_value(fresh_metrics, "mimecast_siem_events_dead_lettered_total", labels) == 1
    assert metric_value(fresh_metrics, "mimecast_siem_sink_bytes_total", {"sink": "contract"}) > 0
    assert metric_value(fresh_metrics, "mimecast_siem_sink_batch_events_count", {"sink": "contract"}) == 1
