"""Fixtures of the sinks tests: fresh metrics per test, a sink context, a strict HEC receiver."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trustme

from mimecast_siem.observability.metrics import Metrics, reset_metrics
from mimecast_siem.sinks.base import SinkContext
from tests.sinks.hec_receiver import HecReceiver, HecToken, run_hec_receiver

HEC_TOKEN = "8f2b1c9e-3d4a-4b5c-9e6f-0a1b2c3d4e5f"
ACK_TOKEN = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def fresh_metrics() -> Iterator[Metrics]:
    """A fresh process-wide metrics registry for the test."""
    yield reset_metrics()
    reset_metrics()


@pytest.fixture
def context(tmp_path: Path) -> SinkContext:
    return SinkContext(data_dir=tmp_path, instance_id="test-1", version="0.1.0")


@pytest.fixture
async def hec() -> AsyncIterator[HecReceiver]:
    """A strict HEC receiver on a free loopback port: token HEC_TOKEN (no ack) and ACK_TOKEN (ack on)."""
    receiver = HecReceiver(
        [
            HecToken(HEC_TOKEN, indexes=frozenset({"main", "mimecast", "security"})),
            HecToken(ACK_TOKEN, ack=True),
            HecToken("disabled-token", enabled=False),
        ]
    )
    async with run_hec_receiver(receiver) as running:
        yield running


def metric_value(m: Metrics, name: str, labels: dict[str, str]) -> float:
    """Current value of a sample (0 when absent)."""
    value = m.registry.get_sample_value(name, labels)
    return float(value or 0.0)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 signed by a fresh test CA, and that CA's PEM file."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return context, ca_file


@pytest.fixture(autouse=True)
def _no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP sinks honour HTTPS_PROXY/NO_PROXY (trust_env): tests of the sinks run without a machine's proxy."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
