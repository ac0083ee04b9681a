"""End to end: syslog over TLS to rsyslog (gtls and ossl drivers) and syslog-ng, verification on.

Covers a verified connection, a refused certificate (unknown CA, wrong name) reported as a clear
permanent error, mutual TLS against listeners that require a client certificate, and verification
turned off (works, and is logged as a warning).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.sinks.base import SinkContext, SinkPermanentError, SinkTransientError
from mimecast_siem.sinks.syslog import SyslogSink
from tests.fixtures.receivers import SyslogPki, SyslogReceiver
from tests.sinks.builders import batch

pytestmark = pytest.mark.e2e


def make_sink(tmp_path: Path, port: int, tls: dict[str, Any], **options: Any) -> SyslogSink:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "transport": "tls",
        "hostname": "fwd1",
        "tls": tls,
        "connect_timeout": "5s",
    }
    base.update(options)
    settings = SinkSettings(name="siem-tls", type="syslog", format="cef", **base)
    return SyslogSink(settings, SinkContext(data_dir=tmp_path, instance_id="t", version="0.1.0"))


LISTENERS = ["rsyslog:gtls", "rsyslog:ossl", "syslog-ng:tls"]


def pick(listener: str, rsyslog: SyslogReceiver, syslog_ng: SyslogReceiver) -> tuple[SyslogReceiver, int]:
    kind, name = listener.split(":")
    receiver = rsyslog if kind == "rsyslog" else syslog_ng
    return receiver, receiver.ports[name]


@pytest.mark.parametrize("listener", LISTENERS)
async def test_verified_tls_delivers_every_event(
    tmp_path: Path,
    syslog_pki: SyslogPki,
    rsyslog_receiver: SyslogReceiver,
    syslog_ng_receiver: SyslogReceiver,
    listener: str,
) -> None:
    receiver, port = pick(listener, rsyslog_receiver, syslog_ng_receiver)
    sink = make_sink(tmp_path, port, {"ca_file": str(syslog_pki.ca_cert), "server_name": "localhost"})
    await sink.start()
    events = batch(20)
    result = await sink.send(events)
    await sink.close()
    assert result.accepted == 20
    records = receiver.wait_for(20)
    assert [r.param("event_id") for r in records] == [e.event_id for e in events]
    assert all(r.msg.removeprefix("\ufeff").startswith("CEF:0|Mimecast|") for r in records)


@pytest.mark.parametrize("listener", LISTENERS)
async def test_unknown_ca_is_a_clear_permanent_error(
    tmp_path: Path,
    syslog_pki: SyslogPki,
    rsyslog_receiver: SyslogReceiver,
    syslog_ng_receiver: SyslogReceiver,
    listener: str,
) -> None:
    receiver, port = pick(listener, rsyslog_receiver, syslog_ng_receiver)
    sink = make_sink(tmp_path, port, {"ca_file": str(syslog_pki.other_ca_cert), "server_name": "localhost"})
    with pytest.raises(
        SinkPermanentError,
        match=r"TLS certificate of 127\.0\.0\.1:\d+ was refused: .*check ca_file and tls_server_name",
    ):
        await sink.send(batch(1))
    await sink.close()
    assert receiver.records() == []


async def test_wrong_server_name_is_refused(
    tmp_path: Path, syslog_pki: SyslogPki, rsyslog_receiver: SyslogReceiver
) -> None:
    sink = make_sink(
        tmp_path, rsyslog_receiver.ports["gtls"], {"ca_file": str(syslog_pki.ca_cert), "server_name": "siem.example"}
    )
    with pytest.raises(SinkPermanentError, match=r"expected name 'siem\.example'"):
        await sink.start()
    await sink.close()


@pytest.mark.parametrize("kind", ["rsyslog", "syslog-ng"])
async def test_mutual_tls_with_a_client_certificate(
    tmp_path: Path,
    syslog_pki: SyslogPki,
    rsyslog_receiver: SyslogReceiver,
    syslog_ng_receiver: SyslogReceiver,
    kind: str,
) -> None:
    receiver = rsyslog_receiver if kind == "rsyslog" else syslog_ng_receiver
    tls = {
        "ca_file": str(syslog_pki.ca_cert),
        "server_name": "localhost",
        "cert_file": str(syslog_pki.client_cert),
        "key_file": str(syslog_pki.client_key),
    }
    sink = make_sink(tmp_path, receiver.ports["mtls"], tls)
    events = batch(5)
    await sink.send(events)
    await sink.close()
    records = receiver.wait_for(5)
    assert [r.param("event_id") for r in records] == [e.event_id for e in events]


@pytest.mark.parametrize("kind", ["rsyslog", "syslog-ng"])
async def test_mutual_tls_without_a_client_certificate_is_never_reported_delivered(
    tmp_path: Path,
    syslog_pki: SyslogPki,
    rsyslog_receiver: SyslogReceiver,
    syslog_ng_receiver: SyslogReceiver,
    kind: str,
) -> None:
    receiver = rsyslog_receiver if kind == "rsyslog" else syslog_ng_receiver
    sink = make_sink(
        tmp_path,
        receiver.ports["mtls"],
        {"ca_file": str(syslog_pki.ca_cert), "server_name": "localhost"},
        reconnect_backoff_initial="100ms",
        reconnect_backoff_max="200ms",
    )
    # With TLS 1.3 the client finishes its handshake before the server checks the client
    # certificate; the sink waits connect_settle for that refusal instead of sending into it.
    # syslog-ng (OpenSSL) sends an alert that names the problem; rsyslog (gnutls) just closes.
    for _ in range(3):  # as the router would retry: never reported delivered
        with pytest.raises((SinkPermanentError, SinkTransientError)) as info:
            await sink.send(batch(3))
        message = str(info.value)
        assert "127.0.0.1" in message
        assert "client certificate" in message
        await asyncio.sleep(0.3)  # past the reconnect backoff
    await sink.close()
    assert receiver.records() == []


async def test_verification_off_works_and_warns(
    tmp_path: Path, rsyslog_receiver: SyslogReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    sink = make_sink(tmp_path, rsyslog_receiver.ports["ossl"], {"verify": False})
    with caplog.at_level(logging.WARNING, logger="mimecast_siem.sinks"):
        await sink.start()
    await sink.send(batch(2))
    await sink.close()
    assert any("TLS certificate verification is OFF" in r.getMessage() for r in caplog.records)
    assert len(rsyslog_receiver.wait_for(2)) == 2


async def test_close_sends_tls_close_notify(
    tmp_path: Path, syslog_pki: SyslogPki, rsyslog_receiver: SyslogReceiver
) -> None:
    # rsyslog's gtls driver logs "non-properly terminated" when a client drops the socket without a
    # TLS close_notify (sinks.md section 2.4). A clean close must not; an abort (the control) does.
    tls = {"ca_file": str(syslog_pki.ca_cert), "server_name": "localhost"}
    marker = "non-properly terminated"

    async def complaints_after(action: str) -> int:
        before = rsyslog_receiver.log_text().count(marker)
        sink = make_sink(tmp_path, rsyslog_receiver.ports["gtls"], tls)
        await sink.send(batch(2))
        if action == "close":
            await sink.close()
        else:
            connection = sink._connection
            assert connection is not None
            connection.abort()
        await asyncio.sleep(0.5)
        return rsyslog_receiver.log_text().count(marker) - before

    await asyncio.sleep(1.0)  # let the complaints about the fixture's readiness probes land first
    assert await complaints_after("close") == 0
    assert await complaints_after("abort") == 1
    assert len(rsyslog_receiver.wait_for(4)) == 4
