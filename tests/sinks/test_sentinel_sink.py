"""The sentinel sink against a strict HTTPS emulation of Entra ID and the Logs Ingestion API."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.errors import ConfigError
from mimecast_siem.events import Event
from mimecast_siem.sinks.base import SinkPermanentError, SinkTransientError
from mimecast_siem.sinks.contract import ContractTarget, SinkContractSuite, build_sink, contract_events
from mimecast_siem.sinks.sentinel import SentinelSink
from tests.fixtures.servers import TcpRelay
from tests.sinks.sentinel_emulator import SentinelEmulator, run_emulator

STREAM = "Custom-MimecastTtpUrl_CL"


@pytest.fixture
async def azure(tls: tuple[ssl.SSLContext, Path]) -> AsyncIterator[SentinelEmulator]:
    async with run_emulator(SentinelEmulator(), tls[0]) as emulator:
        yield emulator


def sentinel_block(emulator: SentinelEmulator, ca_file: Path, url: str | None = None, **extra: Any) -> dict[str, Any]:
    base = url or emulator.url
    return {
        "type": "sentinel",
        "format": "json",
        "endpoint": base,
        "authority": base,
        "dcr_immutable_id": emulator.dcr,
        "tenant_id": emulator.tenant_id,
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "ca_file": str(ca_file),
        "timeout": "20s",
        "connect_timeout": "2s",
        **extra,
    }


class AzureTarget(ContractTarget):
    def __init__(self, emulator: SentinelEmulator, ca_file: Path, relay: TcpRelay) -> None:
        self.emulator = emulator
        self.ca_file = ca_file
        self.relay = relay

    def sink_block(self) -> dict[str, Any]:
        return sentinel_block(self.emulator, self.ca_file, url=f"https://{self.relay.address}")

    async def read_back(self) -> list[str]:
        return [row["EventId"] for row in self.emulator.rows.get(STREAM, [])]

    def refused_event(self, like: Event) -> Event | None:
        document = {**like.document, "padding": "x" * 1_100_000}  # over the API's 1 MB per call
        return Event(like.event_id + "big", like.tenant, like.stream, like.timestamp, document, like.raw)

    async def outage(self) -> None:
        await self.relay.stop()

    async def recover(self) -> None:
        await self.relay.start()


class TestSentinelContract(SinkContractSuite):
    @pytest.fixture
    async def contract_target(
        self, azure: SentinelEmulator, tls: tuple[ssl.SSLContext, Path]
    ) -> AsyncIterator[AzureTarget]:
        relay = TcpRelay(int(azure.url.rsplit(":", 1)[1]))
        await relay.start()
        yield AzureTarget(azure, tls[1], relay)
        await relay.stop()


async def test_rows_split_under_1_mb_gzip_and_token_reuse(
    azure: SentinelEmulator, tls: tuple[ssl.SSLContext, Path], tmp_path: Path
) -> None:
    events = [
        Event(e.event_id, e.tenant, e.stream, e.timestamp, {**e.document, "pad": "y" * 30_000}, e.raw)
        for e in contract_events(70)
    ]
    sink, _ = build_sink(sentinel_block(azure, tls[1]), tmp_path)
    await sink.start()
    try:
        result = await sink.send(events)
        await sink.send(contract_events(3))
    finally:
        await sink.close()
    assert result.accepted == 70
    assert azure.token_requests == 1
    assert len(azure.calls) >= 4  # ~2.1 MB of rows: at least three calls, plus the second batch
    rows = azure.rows[STREAM]
    assert [r["EventId"] for r in rows[:70]] == [e.event_id for e in events]
    first = rows[0]
    assert first["TimeGenerated"] == "2026-11-25T10:00:00Z"
    assert first["Tenant"] == "acme"
    assert first["MimecastStream"] == "ttp-url"
    assert first["Event"]["event"]["id"] == events[0].event_id


async def test_429_waits_for_retry_after_then_transient(
    azure: SentinelEmulator, tls: tuple[ssl.SSLContext, Path], tmp_path: Path
) -> None:
    sink, _ = build_sink(sentinel_block(azure, tls[1], retries_429=1), tmp_path)
    await sink.start()
    try:
        azure.fail_next(429, {"Retry-After": "1"})
        assert (await sink.send(contract_events(2))).accepted == 2
        azure.fail_next(429, {"Retry-After": "0"})
        azure.fail_next(429, {"Retry-After": "0"})
        events = contract_events(2)
        with pytest.raises(SinkTransientError, match="429"):
            await sink.send(events)
        assert (await sink.send(events)).accepted == 2
        azure.fail_next(503)
        with pytest.raises(SinkTransientError, match="503"):
            await sink.send(contract_events(1))
    finally:
        await sink.close()


async def test_expired_token_is_refreshed_once(
    azure: SentinelEmulator, tls: tuple[ssl.SSLContext, Path], tmp_path: Path
) -> None:
    sink, _ = build_sink(sentinel_block(azure, tls[1]), tmp_path)
    await sink.start()
    try:
        await sink.send(contract_events(1))
        azure.expire_tokens()
        assert (await sink.send(contract_events(1))).accepted == 1
    finally:
        await sink.close()
    assert azure.token_requests == 2


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"client_secret": "wrong"}, SinkPermanentError, "AADSTS7000215"),
        ({"dcr_immutable_id": "dcr-ffffffffffffffffffffffffffffffff"}, SinkPermanentError, "404"),
        ({"streams": {"ttp-url": "Custom-Nope_CL"}}, SinkPermanentError, "InvalidStream"),
    ],
)
async def test_configuration_problems_are_permanent(
    azure: SentinelEmulator,
    tls: tuple[ssl.SSLContext, Path],
    tmp_path: Path,
    change: dict[str, Any],
    error: type[Exception],
    words: str,
) -> None:
    sink, _ = build_sink({**sentinel_block(azure, tls[1]), **change}, tmp_path)
    await sink.start()
    try:
        with pytest.raises(error) as caught:
            await sink.send(contract_events(2))
    finally:
        await sink.close()
    assert words in str(caught.value)
    assert "emulator-secret-value" not in str(caught.value)


async def test_missing_role_and_untrusted_certificate(
    azure: SentinelEmulator, tls: tuple[ssl.SSLContext, Path], tmp_path: Path
) -> None:
    azure.has_role = False
    sink, _ = build_sink(sentinel_block(azure, tls[1]), tmp_path)
    await sink.start()
    try:
        with pytest.raises(SinkPermanentError, match="Monitoring Metrics Publisher"):
            await sink.send(contract_events(1))
    finally:
        await sink.close()
    block = sentinel_block(azure, tls[1])
    del block["ca_file"]
    untrusted, _ = build_sink(block, tmp_path)
    await untrusted.start()
    try:
        with pytest.raises(SinkTransientError, match="TLS verification failed"):
            await untrusted.send(contract_events(1))
        assert not (await untrusted.healthcheck()).ok
    finally:
        await untrusted.close()


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ({"endpoint": "http://dce.example.com"}, "sink.endpoint", "https://"),
        ({"dcr_immutable_id": "dcr-xyz"}, "sink.dcr_immutable_id", "dcr-0123"),
        ({"streams": {"ttp-url": "MyTable"}}, "sink.streams", "Custom-"),
        ({"streams": {"nope": "Custom-X_CL"}}, "sink.streams", "unknown stream"),
        ({"client_secret": None}, "sink", "exactly one"),
        ({"max_request_bytes": 2_000_000}, "sink.max_request_bytes", "less than or equal"),
    ],
)
def test_bad_options_are_clear_config_errors(extra: dict[str, Any], key: str, words: str, tmp_path: Path) -> None:
    block: dict[str, Any] = {
        "type": "sentinel",
        "endpoint": "https://dcr.westeurope-1.ingest.monitor.azure.com",
        "dcr_immutable_id": "dcr-0123456789abcdef0123456789abcdef",
        "tenant_id": "t",
        "client_id": "c",
        "client_secret": "s",
    }
    block.update(extra)
    block = {k: v for k, v in block.items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        build_sink(block, tmp_path)
    problems = {p.key: p.message for p in caught.value.problems}
    assert key in problems, problems
    assert words in problems[key]


def test_stream_names(tmp_path: Path) -> None:
    from mimecast_siem.sinks.sentinel import stream_declaration, table_name

    assert table_name("ttp-url") == "MimecastTtpUrl_CL"
    assert stream_declaration("held-messages") == "Custom-MimecastHeldMessages_CL"
    assert SentinelSink.options_model.__name__ == "SentinelSinkOptions"


def test_shipped_dcr_schemas_match_what_the_sink_sends() -> None:
    """docs/sentinel/<stream>.json: one per stream the schema generator knew; each is current."""
    import importlib.util
    import json

    script = Path(__file__).resolve().parents[2] / "scripts" / "gen_sentinel_schemas.py"
    spec = importlib.util.spec_from_file_location("gen_sentinel_schemas", script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    render = module.render
    files = sorted(module.DOCS.glob("*.json"))
    assert {"ttp-url", "audit"} <= {f.stem for f in files}
    for path in files:
        assert path.read_text(encoding="utf-8") == render(path.stem), f"{path} is stale"
        declared = json.loads(path.read_text())["streamDeclarations"]
        (columns,) = declared.values()
        assert [c["name"] for c in columns["columns"]] == [
            "TimeGenerated",
            "EventId",
            "Tenant",
            "MimecastStream",
            "Kind",
            "Event",
        ]


async def test_payload_400_is_bisected_to_the_refused_row(
    azure: SentinelEmulator, tls: tuple[ssl.SSLContext, Path], tmp_path: Path
) -> None:
    events = contract_events(6)
    bad = Event(
        events[0].event_id + "bad",
        "acme",
        "ttp-url",
        events[0].timestamp,
        {**events[0].document, "marker": "REFUSE-ME"},
        events[0].raw,
    )
    azure.refuse_marker = "REFUSE-ME"
    sink, _ = build_sink(sentinel_block(azure, tls[1]), tmp_path)
    await sink.start()
    try:
        result = await sink.send([*events[:4], bad, *events[4:]])
    finally:
        await sink.close()
    assert result.accepted == 6
    assert [r.event.event_id for r in result.rejected] == [bad.event_id]
    assert "InvalidPayload" in result.rejected[0].reason
    assert sorted(r["EventId"] for r in azure.rows[STREAM]) == sorted(e.event_id for e in events)
