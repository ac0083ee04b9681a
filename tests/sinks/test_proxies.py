"""Every HTTP sink through a real forward proxy: the per-sink ``proxy`` key and HTTPS_PROXY / NO_PROXY."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mimecast_siem.sinks.contract import build_sink, contract_events
from tests.fixtures.forward_proxy import ForwardProxy, run_forward_proxy
from tests.fixtures.servers import ServerProcess, moto_s3_server, osmem_server, running
from tests.sinks.conftest import HEC_TOKEN
from tests.sinks.hec_receiver import HecReceiver
from tests.sinks.s3_helpers import create_bucket, objects
from tests.sinks.sentinel_emulator import SentinelEmulator, run_emulator
from tests.sinks.test_elasticsearch_sink import es_block, search_ids
from tests.sinks.test_s3_sink import s3_block
from tests.sinks.test_sentinel_sink import sentinel_block


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with run_forward_proxy(ForwardProxy()) as running_proxy:
        yield running_proxy


@pytest.fixture(scope="module")
def osmem(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running(osmem_server(tmp_path_factory.mktemp("osmem"))) as server:
        yield server


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running(moto_s3_server(tmp_path_factory.mktemp("moto"))) as server:
        yield server


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


async def test_elasticsearch_through_the_proxy_key(
    proxy: ForwardProxy, osmem: ServerProcess, tmp_path: Path, no_proxy_env: pytest.MonkeyPatch
) -> None:
    events = contract_events(5)
    sink, _ = build_sink(es_block(osmem, proxy=proxy.url), tmp_path)
    await sink.start()
    try:
        assert (await sink.send(events)).accepted == 5
    finally:
        await sink.close()
    assert any(m == "POST" and t.startswith(f"http://{osmem.address}/_bulk") for m, t in proxy.seen)
    assert {e.event_id for e in events} <= set(search_ids(osmem))


async def test_hec_through_the_proxy_key_with_credentials(
    hec: HecReceiver, tmp_path: Path, no_proxy_env: pytest.MonkeyPatch
) -> None:
    async with run_forward_proxy(ForwardProxy(credentials=("squid", "pr0xy-pw"))) as authed:
        block = {"type": "hec", "url": hec.url, "token": HEC_TOKEN, "proxy": authed.url_with_credentials()}
        sink, _ = build_sink(block, tmp_path)
        await sink.start()
        try:
            assert (await sink.send(contract_events(3))).accepted == 3
        finally:
            await sink.close()
        assert authed.seen
        assert authed.refused == 0


async def test_sentinel_through_https_proxy_env_and_no_proxy_bypass(
    proxy: ForwardProxy,
    tls: tuple[ssl.SSLContext, Path],
    tmp_path: Path,
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    async with run_emulator(SentinelEmulator(), tls[0]) as azure:
        no_proxy_env.setenv("HTTPS_PROXY", proxy.url)
        sink, _ = build_sink(sentinel_block(azure, tls[1]), tmp_path)
        await sink.start()
        try:
            assert (await sink.send(contract_events(2))).accepted == 2
        finally:
            await sink.close()
        host = azure.url.removeprefix("https://")
        assert ("CONNECT", host) in proxy.seen  # token and ingestion both tunnelled
        seen = len(proxy.seen)
        no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
        bypass, _ = build_sink(sentinel_block(azure, tls[1]), tmp_path)
        await bypass.start()
        try:
            assert (await bypass.send(contract_events(2))).accepted == 2
        finally:
            await bypass.close()
        assert len(proxy.seen) == seen
        assert len(azure.rows["Custom-MimecastTtpUrl_CL"]) == 4


async def test_trust_env_false_ignores_https_proxy(
    proxy: ForwardProxy, tls: tuple[ssl.SSLContext, Path], tmp_path: Path, no_proxy_env: pytest.MonkeyPatch
) -> None:
    async with run_emulator(SentinelEmulator(), tls[0]) as azure:
        no_proxy_env.setenv("HTTPS_PROXY", proxy.url)
        sink, _ = build_sink({**sentinel_block(azure, tls[1]), "trust_env": False}, tmp_path)
        await sink.start()
        try:
            assert (await sink.send(contract_events(1))).accepted == 1
        finally:
            await sink.close()
    assert proxy.seen == []


async def test_s3_through_the_proxy_key(
    proxy: ForwardProxy, moto: ServerProcess, tmp_path: Path, no_proxy_env: pytest.MonkeyPatch
) -> None:
    await create_bucket(moto, "proxied")
    sink, _ = build_sink(s3_block(moto, "proxied", proxy=proxy.url), tmp_path)
    await sink.start()
    try:
        assert (await sink.send(contract_events(4))).accepted == 4
    finally:
        await sink.close()
    assert any(m == "PUT" and f"{moto.address}/proxied/" in t for m, t in proxy.seen), proxy.seen
    assert len(await objects(moto, "proxied")) == 1


async def test_s3_through_http_proxy_env_unless_trust_env_is_off(
    proxy: ForwardProxy, moto: ServerProcess, tmp_path: Path, no_proxy_env: pytest.MonkeyPatch
) -> None:
    await create_bucket(moto, "env-proxied")
    no_proxy_env.setenv("HTTP_PROXY", proxy.url)
    for trust_env, expect_proxy in ((True, True), (False, False)):
        seen = len(proxy.seen)
        sink, _ = build_sink(s3_block(moto, "env-proxied", trust_env=trust_env), tmp_path)
        await sink.start()
        try:
            assert (await sink.send(contract_events(2))).accepted == 2
        finally:
            await sink.close()
        assert (len(proxy.seen) > seen) is expect_proxy
