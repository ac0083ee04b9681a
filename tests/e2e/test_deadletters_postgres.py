"""Dead letters survive a pod in the multi-replica set-up: they live in PostgreSQL, not in a pod's volume.

Daemon A (a real process on one PostgreSQL) routes one stream to a Splunk HEC index its token may not
write: HEC refuses those batches permanently (code 7) and A dead-letters them. A is killed (SIGKILL,
as when a pod goes) and its data directory deleted (an ``emptyDir``). Daemon B - another process,
another data directory, the same PostgreSQL, the index fixed - runs, and ``dead-letters list`` and
``dead-letters replay`` with B's configuration find every entry A refused and deliver it to HEC.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.simulator import LateArrivals
from tests.sinks.hec_receiver import HecReceiver, HecToken, run_hec_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]

TOKEN = "5b0c9d8e-7f6a-4b3c-9d2e-1f0a9b8c7d6e"
ROOT = Path(__file__).resolve().parents[2]
STREAMS = ("ttp-url", "ttp-attachment")


def _config(path: Path, data: Path, sim: Any, hec_url: str, state_url: str, index: str, name: str) -> Path:
    start = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=0)
    stream_settings = {"poll_interval": "1s", "lag": "2s", "overlap": "10s", "max_window": "2m",
                       "start_from": start.isoformat()}  # fmt: skip
    config = {
        "data_dir": str(data),
        "tenants": [
            {
                "name": "acme",
                "base_url": sim.url,
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "streams": list(STREAMS),
            }
        ],
        "streams": dict.fromkeys(STREAMS, stream_settings),
        "sinks": [
            {
                "name": "splunk",
                "type": "hec",
                "format": "json",
                "url": hec_url,
                "token": TOKEN,
                "index": "mimecast",
                "streams": {"ttp-attachment": {"index": index}},
                "batch_max_events": 50,
            }
        ],
        "state": {"url": state_url, "lease_ttl": "3s"},
        "server": {"enabled": False},
        "daemon": {"shutdown_grace": "10s", "stream_backoff_max": "1s", "instance_id": name},
        "logging": {"level": "INFO", "format": "json"},
    }
    path.write_text(yaml.safe_dump(config))
    return path


async def _start(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_SIEM")}
    with open(log, "ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mimecast_siem", "run", "--config", str(config), cwd=ROOT, stdout=out, stderr=out,
            env=env,
        )  # fmt: skip


async def _cli(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_SIEM")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mimecast_siem", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _stop(proc: asyncio.subprocess.Process, sig: int) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        await asyncio.wait_for(proc.wait(), 30)


async def _wait_for_dead_letters(state_url: str, proc: asyncio.subprocess.Process, log: Path) -> int:
    store = await StateStore.open(state_url)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while loop.time() < deadline:
            assert proc.returncode is None, log.read_text()[-3000:]
            count = await store.count_dead_letters(sink="splunk")
            if count >= 20:
                return count
            await asyncio.sleep(0.5)
        raise AssertionError("daemon A dead-lettered nothing within 120 s:\n" + log.read_text()[-3000:])
    finally:
        await store.close()


async def test_one_daemon_dead_letters_and_another_lists_and_replays(
    simulator_factory: Any, postgres_url: str, tmp_path: Path
) -> None:
    sim = await simulator_factory(rates={"ttp-url": 4.0, "ttp-attachment": 4.0}, late=LateArrivals(fraction=0.0))
    receiver = HecReceiver([HecToken(TOKEN, indexes=frozenset({"mimecast", "email"}))])
    async with run_hec_receiver(receiver):
        data_a = tmp_path / "pod-a"
        config_a = _config(tmp_path / "a.yaml", data_a, sim, receiver.url, postgres_url, "forbidden", "pod-a")
        log_a = tmp_path / "a.log"
        daemon_a = await _start(config_a, log_a)
        try:
            await _wait_for_dead_letters(postgres_url, daemon_a, log_a)
        finally:
            await _stop(daemon_a, signal.SIGKILL)  # the pod is gone: no clean shutdown
        assert not list(data_a.rglob("dead-letters*")), "with PostgreSQL state nothing is dead-lettered to the pod"
        shutil.rmtree(data_a, ignore_errors=True)  # and so is its emptyDir

        store = await StateStore.open(postgres_url)
        refused = {row.event_id for row in await store.list_dead_letters()}
        await store.close()
        assert refused
        assert not any(e.index == "forbidden" for e in receiver.events)
        delivered_before = {e.event["event"]["id"] for e in receiver.events}
        assert not refused & delivered_before

        data_b = tmp_path / "pod-b"
        config_b = _config(tmp_path / "b.yaml", data_b, sim, receiver.url, postgres_url, "email", "pod-b")
        log_b = tmp_path / "b.log"
        daemon_b = await _start(config_b, log_b)
        try:
            code, out, err = await _cli("dead-letters", "list", "--config", str(config_b), "-o", "json", "--limit", "0")
            assert code == 0, err
            listed = json.loads(out)
            assert listed["where"].startswith("the state store (postgresql")
            password = make_url(postgres_url).password
            assert not password or password not in out, "no password in the output"
            assert listed["total"] >= len(refused)

            code, out, err = await _cli("dead-letters", "replay", "--config", str(config_b))
            assert code == 0, out + err
            assert "0 dead letter(s) remain" in out
            store = await StateStore.open(postgres_url)
            left = await store.list_dead_letters()
            await store.close()
            assert [row.event_id for row in left if row.event_id in refused] == []
            assert daemon_b.returncode is None, log_b.read_text()[-3000:]
        finally:
            await _stop(daemon_b, signal.SIGTERM)
        assert daemon_b.returncode == 0, log_b.read_text()[-3000:]

    replayed = [e for e in receiver.events if e.event["event"]["id"] in refused]
    assert {e.event["event"]["id"] for e in replayed} == refused, "every refused event reached HEC after the replay"
    assert {e.index for e in replayed} == {"email"}
