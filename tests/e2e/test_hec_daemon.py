"""End to end: the real daemon process → Splunk HEC (strict receiver), then dead-letter replay by the CLI.

The daemon (``python -m mimecast_siem run``) reads two streams from the simulator and sends them to
HEC with indexer acknowledgement while HEC is busy (503s) at the start. One stream is routed to an
index the token may not write (code 7): the sink refuses those batches permanently, so they are
dead-lettered and the pipeline keeps going. After the operator fixes the index, ``mimecast-siem
dead-letters replay`` (another process) delivers them. At the end HEC has every event the simulator
served, each once, and the dead-letter file is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.simulator import LateArrivals
from mimecast_siem.sinks import DeadLetters
from tests.collector.helpers import expected_ids
from tests.sinks.hec_receiver import HecReceiver, HecToken, run_hec_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f"
ROOT = Path(__file__).resolve().parents[2]
STREAMS = ("ttp-url", "ttp-attachment")
OVERLAP = timedelta(seconds=20)


def write_config(path: Path, tmp: Path, sim: Any, hec_url: str, start: datetime, attachment_index: str) -> None:
    stream_settings = {
        "poll_interval": "1s",
        "lag": "2s",
        "overlap": "20s",
        "max_window": "2m",
        "start_from": start.isoformat(),
    }
    config = {
        "data_dir": str(tmp / "data"),
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
                "streams": {"ttp-attachment": {"index": attachment_index}},
                "ack": True,
                "ack_poll_interval": "100ms",
                "ack_timeout": "10s",
                "batch_max_events": 50,
            }
        ],
        "server": {"enabled": False},
        "daemon": {"shutdown_grace": "10s", "stream_backoff_max": "1s"},
        "logging": {"level": "INFO", "format": "json"},
    }
    path.write_text(yaml.safe_dump(config))


async def run_cli(*args: str, log: Path, timeout: float = 60) -> int:
    with open(log, "ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mimecast_siem", *args, cwd=ROOT, stdout=out, stderr=out
        )
        try:
            return await asyncio.wait_for(proc.wait(), timeout)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def wait_checkpoints(state_url: str, target: datetime, proc: asyncio.subprocess.Process, timeout: float) -> None:
    store = await StateStore.open(state_url)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            assert proc.returncode is None, "the daemon exited early"
            checkpoints = [await store.get_checkpoint("acme", s) for s in STREAMS]
            if all(cp is not None and cp >= target for cp in checkpoints):
                return
            await asyncio.sleep(0.5)
        raise AssertionError(f"checkpoints did not reach {target.isoformat()} within {timeout:.0f} s")
    finally:
        await store.close()


async def test_daemon_to_hec_with_busy_server_acks_and_dead_letter_replay(
    simulator_factory: Any, tmp_path: Path
) -> None:
    sim = await simulator_factory(rates={"ttp-url": 8.0, "ttp-attachment": 3.0}, late=LateArrivals(fraction=0.0))
    receiver = HecReceiver([HecToken(TOKEN, ack=True, indexes=frozenset({"mimecast", "email"}))], ack_after_polls=1)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    config = tmp_path / "config.yaml"
    log = tmp_path / "daemon.log"
    async with run_hec_receiver(receiver):
        receiver.fail_next(4, status=503, code=9)
        write_config(config, tmp_path, sim, receiver.url, start, attachment_index="forbidden")
        with open(log, "ab") as out:
            daemon = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "mimecast_siem", "run", "--config", str(config), cwd=ROOT, stdout=out, stderr=out
            )
        try:
            target = datetime.now(UTC) + timedelta(seconds=5)
            await wait_checkpoints(f"sqlite:///{tmp_path / 'data' / 'state.db'}", target, daemon, timeout=120)
            daemon.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(daemon.wait(), 30) == 0, log.read_text()[-3000:]
        finally:
            if daemon.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(daemon.pid, signal.SIGKILL)
                await daemon.wait()

        store = await StateStore.open(f"sqlite:///{tmp_path / 'data' / 'state.db'}")
        checkpoints = {s: await store.get_checkpoint("acme", s) for s in STREAMS}
        await store.close()

        dead = DeadLetters(tmp_path / "data" / "dead-letters.ndjson")
        parked = dead.list()
        assert parked, "the forbidden index should have dead-lettered the attachment batches"
        assert {e.stream for e in parked} == {"ttp-attachment"}
        assert all("HEC code 7" in e.reason for e in parked)
        assert all(e.index != "forbidden" for e in receiver.events)

        # The operator fixes the index and replays: a separate process, same HEC.
        write_config(config, tmp_path, sim, receiver.url, start, attachment_index="email")
        assert await run_cli("dead-letters", "replay", "--config", str(config), log=log) == 0, log.read_text()[-3000:]
        assert dead.list() == []

    assert receiver.requests[0].status == 503, "HEC was never busy: the test proves less than it claims"
    received: dict[str, Counter[str]] = {s: Counter() for s in STREAMS}
    for indexed in receiver.events:
        document = indexed.event
        received[document["event"]["provider"]][document["event"]["id"]] += 1
    assert {e.index for e in receiver.events} == {"mimecast", "email"}
    for stream in STREAMS:
        checkpoint = checkpoints[stream]
        assert checkpoint is not None
        expected = expected_ids(stream, sim.ground_truth(stream, start, checkpoint - OVERLAP))
        assert expected, f"the simulator served nothing for {stream}"
        missing = expected - set(received[stream])
        assert not missing, f"{stream}: {len(missing)} of {len(expected)} events never reached HEC"
        twice = {i: n for i, n in received[stream].items() if n > 1}
        assert not twice, f"{stream}: {len(twice)} events indexed more than once"
        served = expected_ids(stream, sim.ground_truth(stream, start, checkpoint, include_future_visible=True))
        assert set(received[stream]) <= served
