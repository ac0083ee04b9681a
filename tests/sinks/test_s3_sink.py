"""The s3 sink against moto_server (S3 over HTTP on 127.0.0.1), objects read back and checked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.errors import ConfigError
from mimecast_siem.events import Event
from mimecast_siem.sinks.base import SinkPermanentError
from mimecast_siem.sinks.contract import ContractTarget, SinkContractSuite, build_sink, contract_events
from tests.fixtures.servers import ServerProcess, TcpRelay, moto_s3_server, running
from tests.sinks.s3_helpers import CREDENTIALS, create_bucket, ndjson_records, objects, parquet_records


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running(moto_s3_server(tmp_path_factory.mktemp("moto"))) as server:
        yield server


@pytest.fixture
async def bucket(moto: ServerProcess) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    await create_bucket(moto, name)
    return name


def s3_block(server: ServerProcess, bucket: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "s3",
        "format": "json",
        "bucket": bucket,
        "endpoint_url": f"http://{server.address}",
        "access_key_id": CREDENTIALS["aws_access_key_id"],
        "secret_access_key": CREDENTIALS["aws_secret_access_key"],
        "addressing_style": "path",
        "timeout": "20s",
        "connect_timeout": "2s",
        **extra,
    }


class MotoTarget(ContractTarget):
    deduplicates = True

    def __init__(self, server: ServerProcess, bucket: str, relay: TcpRelay) -> None:
        self.server = server
        self.bucket = bucket
        self.relay = relay  # the outage cuts the network, so moto keeps the bucket

    def sink_block(self) -> dict[str, Any]:
        return {**s3_block(self.server, self.bucket), "endpoint_url": f"http://{self.relay.address}"}

    async def read_back(self) -> list[str]:
        found = await objects(self.server, self.bucket)
        return [r["event"]["id"] for body, _ in found.values() for r in ndjson_records(body)]

    async def outage(self) -> None:
        await self.relay.stop()

    async def recover(self) -> None:
        await self.relay.start()


class TestS3Contract(SinkContractSuite):
    @pytest.fixture
    async def contract_target(self, moto: ServerProcess, bucket: str) -> AsyncIterator[MotoTarget]:
        relay = TcpRelay(moto.port)
        await relay.start()
        yield MotoTarget(moto, bucket, relay)
        await relay.stop()


async def test_layout_gzip_ndjson_checksum_and_retry_without_duplicates(
    moto: ServerProcess, bucket: str, tmp_path: Path
) -> None:
    events = contract_events(10, tenant="acme")
    late = [
        Event(e.event_id + "l", e.tenant, e.stream, e.timestamp + timedelta(hours=1), e.document, e.raw)
        for e in contract_events(3)
    ]
    sink, _ = build_sink(s3_block(moto, bucket, prefix="logs/mimecast"), tmp_path)
    await sink.start()
    try:
        first = await sink.send([*events, *late])
        again = await sink.send([*events, *late])  # a retry after a lost reply: same keys, 412 = delivered
    finally:
        await sink.close()
    assert first.accepted == again.accepted == 13
    stored = await objects(moto, bucket)
    assert len(stored) == 2  # one object per hour of event time
    keys = sorted(stored)
    assert keys[0].startswith("logs/mimecast/acme/ttp-url/dt=2026-11-25/hour=10/")
    assert keys[1].startswith("logs/mimecast/acme/ttp-url/dt=2026-11-25/hour=11/")
    assert all(k.endswith(".ndjson.gz") for k in keys)
    body, head = stored[keys[0]]
    assert head["ContentEncoding"] == "gzip"
    assert head["ContentType"] == "application/x-ndjson"
    assert head.get("ChecksumCRC32")
    assert [r["event"]["id"] for r in ndjson_records(body)] == [e.event_id for e in events]


async def test_size_rollover(moto: ServerProcess, bucket: str, tmp_path: Path) -> None:
    events = contract_events(30)
    sink, _ = build_sink(s3_block(moto, bucket, max_object_bytes=4096), tmp_path)
    await sink.start()
    try:
        assert (await sink.send(events)).accepted == 30
    finally:
        await sink.close()
    stored = await objects(moto, bucket)
    assert len(stored) > 3
    ids = [r["event"]["id"] for body, _ in stored.values() for r in ndjson_records(body)]
    assert sorted(ids) == sorted(e.event_id for e in events)
    assert all(len(__import__("gzip").decompress(body)) <= 4096 for body, _ in stored.values())


async def test_security_lake_parquet_per_ocsf_class(moto: ServerProcess, bucket: str, tmp_path: Path) -> None:
    events = contract_events(6)
    block = s3_block(
        moto,
        bucket,
        format="ocsf",
        mode="security_lake",
        region="eu-west-1",
        account_id="123456789012",
        sources={"2004": "mimecast-findings"},
    )
    sink, _ = build_sink(block, tmp_path)
    await sink.start()
    try:
        result = await sink.send(events)
        assert (await sink.send(events)).accepted == 6  # re-delivery: same keys, nothing duplicated
    finally:
        await sink.close()
    assert result.accepted == 6
    stored = await objects(moto, bucket)
    by_source: dict[str, list[dict[str, Any]]] = {}
    for key, (body, head) in stored.items():
        parts = key.split("/")
        assert parts[0] == "ext"
        assert parts[2:5] == ["region=eu-west-1", "accountId=123456789012", "eventDay=20261125"]
        assert key.endswith(".parquet")
        assert head["ContentType"] == "application/vnd.apache.parquet"
        by_source.setdefault(parts[1], []).extend(parquet_records(body))
    assert set(by_source) == {"mimecast-email-url-activity", "mimecast-findings"}
    activity = by_source["mimecast-email-url-activity"]
    assert {r["class_uid"] for r in activity} == {4012}
    assert sorted(r["metadata"]["uid"] for r in activity) == sorted(e.event_id for e in events)
    assert [r["time"] for r in activity] == sorted(r["time"] for r in activity)
    assert {r["class_uid"] for r in by_source["mimecast-findings"]} == {2004}


async def test_missing_bucket_is_permanent(moto: ServerProcess, tmp_path: Path) -> None:
    sink, _ = build_sink(s3_block(moto, "no-such-bucket-here"), tmp_path)
    await sink.start()
    try:
        with pytest.raises(SinkPermanentError, match="NoSuchBucket"):
            await sink.send(contract_events(1))
        assert not (await sink.healthcheck()).ok
    finally:
        await sink.close()


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ({"bucket": "Bad_Bucket"}, "sink.bucket", "lowercase"),
        ({"prefix": "/x/"}, "sink.prefix", "leading or trailing"),
        ({"access_key_id": "AKIA"}, "sink", "access_key_id together"),
        ({"mode": "security_lake"}, "sink", "account_id"),
        ({"kms_key_id": "k"}, "sink", "aws:kms"),
        ({"source_name": "{bogus}"}, "sink.source_name", "unknown placeholder"),
    ],
)
def test_bad_options_are_clear_config_errors(extra: dict[str, Any], key: str, words: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        build_sink({"type": "s3", "bucket": "logs", **extra}, tmp_path)
    problems = {p.key: p.message for p in caught.value.problems}
    assert key in problems, problems
    assert words in problems[key]


def test_security_lake_needs_the_ocsf_format(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs format ocsf"):
        build_sink({"type": "s3", "bucket": "logs", "mode": "security_lake", "account_id": "1"}, tmp_path)


async def test_conditional_write_never_overwrites(moto: ServerProcess, bucket: str, tmp_path: Path) -> None:
    events = contract_events(3)
    sink, _ = build_sink(s3_block(moto, bucket), tmp_path)
    await sink.start()
    try:
        await sink.send(events)
        (key,) = await objects(moto, bucket)
        from tests.sinks.s3_helpers import s3_client

        async with s3_client(moto) as client:
            await client.put_object(Bucket=bucket, Key=key, Body=b"kept")
        assert (await sink.send(list(events))).accepted == 3  # a fresh retry: If-None-Match -> 412 -> delivered
    finally:
        await sink.close()
    assert (await objects(moto, bucket))[key][0] == b"kept"
