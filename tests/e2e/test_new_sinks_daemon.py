"""End to end: the real daemon process -> Elasticsearch/OpenSearch (osmem-server) and Kafka (Tansu), read back.

The daemon (``python -m mimecast_siem run``) reads two streams from the simulator and sends each event
to both sinks. After its checkpoints pass a target time it is stopped (SIGTERM); then every index and
topic is read back and compared with the simulator's ground truth up to the checkpoint: nothing missing,
nothing fabricated; on OpenSearch nothing twice (``create`` with ``_id`` = event id), on Kafka each event
at least once with the same id.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.simulator import LateArrivals
from tests.collector.helpers import expected_ids
from tests.fixtures.servers import ServerProcess, osmem_server, running, tansu_broker
from tests.sinks.kafka_helpers import consume_all
from tests.sinks.test_elasticsearch_sink import search_ids

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
STREAMS = ("ttp-url", "ttp-attachment")
OVERLAP = timedelta(seconds=20)


@pytest.fixture
def osmem(tmp_path: Path) -> Iterator[ServerProcess]:
    with running(osmem_server(tmp_path / "osmem")) as server:
        yield server


@pytest.fixture
def tansu(tmp_path: Path) -> Iterator[ServerProcess]:
    with running(tansu_broker(tmp_path / "tansu")) as server:
        yield server


def write_config(path: Path, tmp: Path, sim: Any, osmem: ServerProcess, tansu: ServerProcess, start: datetime) -> None:
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
            {"name": "opensearch", "type": "elasticsearch", "url": f"http://{osmem.address}", "batch_max_events": 50},
            {
                "name": "kafka",
                "type": "kafka",
                "bootstrap_servers": [tansu.address],
                "request_timeout": "5s",
                "batch_max_events": 50,
            },
        ],
        "server": {"enabled": False},
        "daemon": {"shutdown_grace": "10s", "stream_backoff_max": "1s"},
        "logging": {"level": "INFO", "format": "json"},
    }
    path.write_text(yaml.safe_dump(config))


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


async def test_daemon_to_opensearch_and_kafka_matches_ground_truth(
    simulator_factory: Any, osmem: ServerProcess, tansu: ServerProcess, tmp_path: Path
) -> None:
    sim = await simulator_factory(rates={"ttp-url": 6.0, "ttp-attachment": 3.0}, late=LateArrivals(fraction=0.0))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    config = tmp_path / "config.yaml"
    log = tmp_path / "daemon.log"
    write_config(config, tmp_path, sim, osmem, tansu, start)
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

    for stream in STREAMS:
        checkpoint = checkpoints[stream]
        assert checkpoint is not None
        expected = expected_ids(stream, sim.ground_truth(stream, start, checkpoint - OVERLAP))
        served = expected_ids(stream, sim.ground_truth(stream, start, checkpoint, include_future_visible=True))
        assert expected, f"the simulator served nothing for {stream}"

        indexed = Counter(search_ids(osmem, f"logs-mimecast.{stream.replace('-', '_')}-default"))
        assert not expected - set(indexed), f"{stream}: {len(expected - set(indexed))} events missing in OpenSearch"
        assert set(indexed) <= served, f"{stream}: OpenSearch holds events the simulator never served"
        assert max(indexed.values()) == 1

        records = await consume_all(tansu.address, f"mimecast.{stream}")
        produced = Counter(r.headers["event_id"].decode() for r in records)
        assert not expected - set(produced), f"{stream}: {len(expected - set(produced))} events missing in Kafka"
        assert set(produced) <= served, f"{stream}: Kafka holds events the simulator never served"
        for record in records:
            document = orjson.loads(record.value)
            assert document["event"]["id"] == record.headers["event_id"].decode()
