"""The TCP/TLS replay buffer is sized from the kernel's largest receive buffer, and a smaller one is said loudly."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.sinks.base import SinkContext, SinkTransientError
from mimecast_siem.sinks.syslog import SyslogSink
from mimecast_siem.sinks.syslog_transport import kernel_max_receive_buffer
from tests.fixtures.receivers import free_port


def _sink(tmp_path: Path, **options: object) -> SyslogSink:
    settings = SinkSettings(
        name="siem", type="syslog", host="127.0.0.1", port=free_port(), connect_timeout="1s", **options
    )
    return SyslogSink(settings, SinkContext(data_dir=tmp_path, instance_id="t", version="0.1.0"))


def test_kernel_limit_is_the_larger_of_autotuning_and_twice_rmem_max(tmp_path: Path) -> None:
    tcp_rmem, rmem_max = tmp_path / "tcp_rmem", tmp_path / "rmem_max"
    tcp_rmem.write_text("4096\t131072\t33554432\n")
    rmem_max.write_text("4194304\n")
    assert kernel_max_receive_buffer(str(tcp_rmem), str(rmem_max)) == 33_554_432
    rmem_max.write_text("25165824\n")  # SO_RCVBUF up to 24 MiB, which the kernel doubles
    assert kernel_max_receive_buffer(str(tcp_rmem), str(rmem_max)) == 50_331_648
    assert kernel_max_receive_buffer(str(tmp_path / "missing"), str(rmem_max)) is None


@pytest.mark.skipif(kernel_max_receive_buffer() is None, reason="needs Linux /proc/sys/net")
def test_default_replay_covers_the_kernels_largest_receive_buffer(tmp_path: Path) -> None:
    limit = kernel_max_receive_buffer()
    assert limit is not None
    for transport in ("tcp", "tls"):
        sink = _sink(tmp_path, transport=transport)
        assert sink.replay_bytes() == min(limit, 256 * 1024 * 1024)
        assert sink._recent.max_bytes == sink.replay_bytes()
    assert _sink(tmp_path, transport="udp")._recent.max_bytes == 0
    assert _sink(tmp_path, transport="relp")._recent.max_bytes == 0  # acknowledged: nothing to replay


@pytest.mark.skipif(kernel_max_receive_buffer() is None, reason="needs Linux /proc/sys/net")
async def test_a_replay_smaller_than_the_kernel_allows_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mimecast_siem.sinks")
    sink = _sink(tmp_path, replay_bytes=1024 * 1024)
    with pytest.raises(SinkTransientError):
        await sink.start()  # nobody listens; the size is announced before connecting
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "replays only" in r.getMessage()]
    assert len(warnings) == 1
    assert "use transport relp" in warnings[0].getMessage()
    caplog.clear()
    sink = _sink(tmp_path)
    with pytest.raises(SinkTransientError):
        await sink.start()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "replay" in r.getMessage()]
    assert any("transport relp closes that gap" in r.getMessage() for r in caplog.records)
