"""HEC sink configuration: token sources, option validation, TLS verification."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme

from mimecast_siem.errors import ConfigError
from mimecast_siem.sinks.base import SinkContext, SinkTransientError
from mimecast_siem.sinks.registry import validate_sink_settings
from tests.sinks.builders import batch, settings
from tests.sinks.conftest import HEC_TOKEN
from tests.sinks.hec_helpers import hec_sink
from tests.sinks.hec_receiver import HecReceiver, HecToken, run_hec_receiver


async def test_token_from_file_and_from_environment(
    hec: HecReceiver, context: SinkContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "hec-token"
    token_file.write_text(HEC_TOKEN + "\n")
    from_file = hec_sink(context, hec.url, token_file=str(token_file))
    await from_file.send(batch(1))
    await from_file.close()
    monkeypatch.setenv("TEST_HEC_TOKEN", HEC_TOKEN)
    from_env = hec_sink(context, hec.url, token_env="TEST_HEC_TOKEN")
    await from_env.send(batch(1, start=1))
    await from_env.close()
    assert len(hec.events) == 2


def test_missing_or_empty_token_is_a_config_error(context: SinkContext, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        hec_sink(context, "https://splunk.example:8088", token_file=str(tmp_path / "absent"))
    assert caught.value.problems[0].key == "token_file"
    with pytest.raises(ConfigError) as caught:
        hec_sink(context, "https://splunk.example:8088", token_env="SURELY_NOT_SET_ANYWHERE")
    assert "empty" in caught.value.problems[0].message


def problems_for(**options: Any) -> dict[str, tuple[str, str | None]]:
    sink: dict[str, Any] = {"name": "splunk", "type": "hec", "url": "https://splunk.example:8088", "token": "t0k3n"}
    sink.update(options)
    found = validate_sink_settings(settings([{k: v for k, v in sink.items() if v is not None}]))
    return {p.key: (p.message, p.value) for p in found}


def test_option_problems_name_the_key_and_mask_the_token() -> None:
    assert problems_for() == {}
    found = problems_for(url="https://splunk.example:8088/services/collector/event", port=1, ack="sometimes")
    assert "base URL only" in found["sinks[0].url"][0]
    assert "unknown key" in found["sinks[0].port"][0]
    assert found["sinks[0].ack"][1] == "'sometimes'"
    cleartext = problems_for(url="http://splunk.example:8088")
    assert "clear text" in cleartext["sinks[0]"][0]
    assert problems_for(url="http://splunk.example:8088", allow_plain_http=True) == {}
    assert problems_for(url="http://127.0.0.1:8088") == {}
    nested = problems_for(fields={"a": {"b": "c"}})
    assert "sinks[0].fields.a" in nested
    both = problems_for(token_env="X")
    assert "exactly one" in both["sinks[0]"][0]
    bad_token = problems_for(token=123)
    assert bad_token["sinks[0].token"][1] == "****"
    assert "unknown stream" in problems_for(streams={"ttp-urls": {}})["sinks[0].streams"][0]
    assert "GUID" in problems_for(channel="abc")["sinks[0].channel"][0]
    assert "placeholder" in problems_for(source="{tenant}-{nope}")["sinks[0].source"][0]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_tls_verified_with_ca_file(ca: trustme.CA, context: SinkContext, tmp_path: Path) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    receiver = HecReceiver([HecToken(HEC_TOKEN)])
    async with run_hec_receiver(receiver, ssl_context=server_context):
        assert receiver.url.startswith("https://")
        trusted = hec_sink(context, receiver.url, ca_file=str(ca_file))
        await trusted.send(batch(1))
        await trusted.close()
        untrusted = hec_sink(context, receiver.url)
        with pytest.raises(SinkTransientError) as caught:
            await untrusted.send(batch(1))
        await untrusted.close()
        assert "TLS verification" in str(caught.value)
        assert "ca_file" in str(caught.value)
    assert len(receiver.events) == 1


async def test_verification_off_works_and_warns(
    ca: trustme.CA, context: SinkContext, caplog: pytest.LogCaptureFixture
) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    receiver = HecReceiver([HecToken(HEC_TOKEN)])
    caplog.set_level(logging.WARNING, logger="mimecast_siem.sinks")
    async with run_hec_receiver(receiver, ssl_context=server_context):
        sink = hec_sink(context, receiver.url, verify_tls=False)
        await sink.send(batch(1))
        await sink.close()
    assert "TLS verification is OFF" in caplog.text
    assert len(receiver.events) == 1


async def test_token_file_from_a_loaded_configuration(hec: HecReceiver, tmp_path: Path) -> None:
    """As the Helm chart configures it: ``token_file`` pointing at a mounted secret."""
    from mimecast_siem.config import load_settings
    from mimecast_siem.sinks import build_sinks

    secret = tmp_path / "hec-token"
    secret.write_text(HEC_TOKEN + "\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"data_dir: {tmp_path}\n"
        "tenants:\n"
        "  - {name: acme, client_id: cid, client_secret: not-a-secret}\n"
        "sinks:\n"
        f"  - {{name: splunk, type: hec, url: '{hec.url}', token_file: {secret}, index: mimecast}}\n"
    )
    loaded = load_settings(config, env={})
    sinks = build_sinks(loaded, SinkContext(data_dir=tmp_path, instance_id="t", version="0"))
    sink = sinks["splunk"]
    await sink.start()
    await sink.send(batch(1))
    await sink.close()
    assert [e.index for e in hec.events] == ["mimecast"]
