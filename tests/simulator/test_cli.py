"""``mimecast-siem simulate`` as a real process: port file, requests, clean stop on SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from mimecast_siem.simulator.commands import config_from_args, parse_duration, register
from tests.fixtures.simulator import SimulatorProcess
from tests.simulator.helpers import TIMEOUT, Caller

pytestmark = pytest.mark.e2e


async def test_process_serves_and_stops_cleanly_on_sigterm(simulator_process: SimulatorProcess) -> None:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        caller = Caller(session, simulator_process.url)
        await caller.authenticate()
        reply = await caller.post("/api/ttp/url/get-logs", [{}], page_size=10)
        assert reply.status == 200
        assert len(reply.body["data"][0]["clickLogs"]) == 10
    output = simulator_process.output()
    assert f"listening on {simulator_process.url}" in output
    assert "client_id=client-1 client_secret=secret-1" in output
    os.kill(simulator_process.pid, signal.SIGTERM)
    assert simulator_process.process.wait(timeout=10) == 0


async def test_process_with_apps_rates_and_faults(simulator_process_factory: Callable[..., SimulatorProcess]) -> None:
    proc = simulator_process_factory(
        "--app", "acme:s3cret", "--rate", "ttp-url=50", "--quota", "2/60s", "--history", "5m"
    )
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        caller = Caller(session, proc.url, "acme", "s3cret")
        await caller.authenticate()
        statuses = [(await caller.post("/api/ttp/url/get-logs", [{}])).status for _ in range(3)]
        assert statuses == [200, 200, 429]
        async with session.get(f"{proc.url}/_sim/stats") as resp:
            stats = await resp.json()
    assert stats["rate_limited"] == {"acme": 1}
    assert proc.stop() == 0


def test_process_stops_on_sigint(simulator_process: SimulatorProcess) -> None:
    os.kill(simulator_process.pid, signal.SIGINT)
    assert simulator_process.process.wait(timeout=10) == 0


def test_bad_flags_exit_2(tmp_path: Path) -> None:
    for flags in (
        ["--rate", "phishing=1"],
        ["--app", "no-secret"],
        ["--history", "soon"],
        ["--hold-duration", "5m:1m"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "mimecast_siem", "simulate", "--port", "0", *flags],
            capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert result.returncode == 2, flags
        assert "allowed" in result.stderr or "invalid" in result.stderr, result.stderr


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["simulate", *argv])


def test_flags_map_onto_the_config() -> None:
    args = _parse(
        "--apps", "3", "--seed", "9", "--rate", "audit=2.5", "--history", "3d", "--token-lifetime", "90s",
        "--error-rate", "503=0.1", "--latency", "0.05", "--quota", "100/1m", "--hold-duration", "1m:10m",
        "--email-queue-shape", "alternate", "--next-on-last-page", "--malformed-rate", "0.3",
    )  # fmt: skip
    config = config_from_args(args)
    assert config.apps == [("client-1", "secret-1"), ("client-2", "secret-2"), ("client-3", "secret-3")]
    assert config.seed == 9
    assert config.rates["audit"] == 2.5
    feeds = config_from_args(_parse("--rate", "threat-intel-grid=3", "--feed-page-size", "7")).threat_feeds
    assert feeds.rates["threat-intel-grid"] == 3.0
    assert feeds.page_size == 7
    assert config.rates["ttp-url"] == 2.0
    assert config.history == 3 * 86400
    assert config.token_lifetime == 90
    assert config.faults.error_rates == {503: 0.1}
    assert config.faults.quota is not None
    assert (config.faults.quota.limit, config.faults.quota.period) == (100, 60)
    assert (config.holds.min_hold, config.holds.max_hold) == (60, 600)
    assert config.email_queue_shape == "alternate"
    assert config.faults.next_on_last_page is True
    assert config.faults.invalid_json_rate == pytest.approx(0.1)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1.5d", 129600)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="allowed"):
        parse_duration("2 weeks")


def test_port_in_use_exits_1(simulator_process: SimulatorProcess, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mimecast_siem", "simulate", "--port", str(simulator_process.port)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{simulator_process.port}" in result.stderr
