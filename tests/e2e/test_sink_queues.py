"""End to end: a HEC outage does not hold the file sink, and HEC catches up from its durable queue.

Real processes: the simulator (``mimecast-siem simulate``) and the daemon (``mimecast-siem run``) with
two sinks - the file sink ``archive`` and Splunk HEC ``splunk`` behind a durable queue - and the strict
HEC test receiver, which is STOPPED for a while (connection refused) and started again on the same
port. During the outage the archive keeps receiving and the checkpoints keep moving; the Mimecast
request rate does not grow (nothing is re-pulled). After HEC returns the daemon is SIGKILLed in the
middle of the drain and restarted: HEC ends with every event, duplicates at most the batches in flight
at the kill (same ``event.id``), and the archive holds every event once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from mimecast_siem.sinks.queue import SegmentQueue
from tests.collector.helpers import daemon_config, delivered_ids, expected_ids
from tests.collector.processes import (
    DaemonProcess,
    checkpoint,
    ground_truth,
    sim_get,
    start_daemon,
    write_config,
)
from tests.sinks.hec_receiver import HecReceiver, HecToken

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c"
STREAMS = ("ttp-url", "ttp-attachment")
OVERLAP = timedelta(seconds=10)
BATCH = 50
OUTAGE_SECONDS = 8.0


@asynccontextmanager
async def serve(receiver: HecReceiver, port: int) -> AsyncIterator[int]:
    """Serve ``receiver`` on 127.0.0.1:``port`` (0 = any) until the block ends (then: connection refused)."""
    runner = web.AppRunner(receiver.app(), auto_decompress=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
    await site.start()
    server = site._server
    assert server is not None
    bound: int = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield bound
    finally:
        await runner.cleanup()


def api_requests(sim_url: str) -> int:
    """Requests the simulator answered on the log endpoints (its control API, not counted itself)."""
    total: int = sim_get(sim_url, "/_sim/stats")["requests_total"]
    return total


def archive_lines(out: Path) -> int:
    return sum(sum(delivered_ids(out, s).values()) for s in STREAMS)


async def until(condition: Any, timeout: float, what: str, daemon: DaemonProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        if daemon is not None and not daemon.alive():
            raise AssertionError(f"the daemon exited while waiting for {what}:\n{daemon.output()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_hec_outage_does_not_hold_the_archive_and_hec_catches_up_across_a_sigkill(
    simulator_process_factory: Any, tmp_path: Path
) -> None:
    sim = simulator_process_factory(
        "--seed", "19", "--history", "10m", "--rate", "ttp-url=20", "--rate", "ttp-attachment=5",
        "--late-fraction", "0", "--latency", "0.01s",
    )  # fmt: skip
    receiver = HecReceiver([HecToken(TOKEN, indexes=frozenset({"mimecast"}))])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    out = tmp_path / "out"
    state_url = f"sqlite:///{tmp_path / 'data' / 'state.db'}"
    async with serve(receiver, 0) as port:
        raw = daemon_config(
            sim.url,
            "client-1",
            "secret-1",
            tmp_path,
            streams=STREAMS,
            stream_overrides={"start_from": start.isoformat(), "overlap": "10s", "max_window": "30s"},
        )
        raw["sinks"] = [
            {"name": "archive", "type": "file", "path": str(out)},
            {
                "name": "splunk",
                "type": "hec",
                "url": f"http://127.0.0.1:{port}",
                "token": TOKEN,
                "index": "mimecast",
                "batch_max_events": BATCH,
                "queue": {"enabled": True, "max_bytes": 256 * 1024 * 1024, "when_full": "block"},
            },
        ]
        config = write_config(tmp_path / "config.yaml", raw)
        daemon = start_daemon(config, tmp_path)
        try:
            # Caught up once with both sinks up.
            caught_up = datetime.now(UTC) - timedelta(seconds=5)
            await until(
                lambda: all((checkpoint(state_url, s) or start) >= caught_up for s in STREAMS), 120, "catch-up", daemon
            )
            await until(lambda: len(receiver.events) > 0, 30, "HEC events", daemon)
        except BaseException:
            daemon.kill()
            raise
    # --- HEC is down (connection refused) ----------------------------------------------------------
    try:
        outage_started = datetime.now(UTC)
        lines_before = archive_lines(out)
        requests_before, t0 = api_requests(sim.url), time.monotonic()
        await asyncio.sleep(OUTAGE_SECONDS)
        requests_during = await asyncio.to_thread(api_requests, sim.url) - requests_before
        outage_seconds = time.monotonic() - t0
        checkpoints_during = {s: await asyncio.to_thread(checkpoint, state_url, s) for s in STREAMS}
        lines_during = archive_lines(out)
        assert daemon.alive(), daemon.output()[-3000:]
    except BaseException:
        daemon.kill()
        raise
    # The archive kept receiving and the checkpoints kept moving while HEC was down.
    assert lines_during > lines_before, "the archive stalled during the HEC outage"
    for stream, cp in checkpoints_during.items():
        assert cp is not None
        assert cp > outage_started - timedelta(seconds=4), (stream, cp, outage_started)
    # Nothing is re-pulled: the request rate stays the polling rate (about one request per stream and
    # poll interval of 1 s, plus token and page requests), not a re-walk of the outage's windows.
    assert requests_during <= len(STREAMS) * (outage_seconds / 1.0 + 2) * 2, requests_during
    queue_dir = tmp_path / "data" / "queues" / "splunk"
    assert SegmentQueue(queue_dir, max_bytes=1 << 40).count()[0] > 0, "nothing queued during the outage"
    hec_before_return = len(receiver.events)
    # --- HEC returns; SIGKILL in the middle of the drain; restart ------------------------------------
    async with serve(receiver, port):
        try:
            await until(lambda: len(receiver.events) > hec_before_return, 60, "the drain to start", daemon)
        finally:
            daemon.kill()
        daemon = start_daemon(config, tmp_path)
        try:
            target = datetime.now(UTC) - timedelta(seconds=3)
            await until(
                lambda: all((checkpoint(state_url, s) or start) >= target for s in STREAMS), 120, "checkpoints", daemon
            )
            await until(
                lambda: SegmentQueue(queue_dir, max_bytes=1 << 40).count()[0] == 0, 120, "the queue to drain", daemon
            )
            assert daemon.terminate() == 0, daemon.output()[-3000:]
        finally:
            if daemon.alive():
                daemon.kill()

    # The canonical line of each committed window says what went to the queue instead of "delivered".
    lines = [orjson.loads(line) for log in tmp_path.glob("daemon-*.log") for line in log.read_bytes().splitlines()]
    queued = sum(line["queued"].get("splunk", 0) for line in lines if "checkpoint" in line and "queued" in line)
    assert queued > 0
    assert all(line["sinks"].get("splunk", 0) == 0 for line in lines if "checkpoint" in line and "sinks" in line)
    hec: dict[str, Counter[str]] = {s: Counter() for s in STREAMS}
    for indexed in receiver.events:
        document = indexed.event
        hec[document["event"]["provider"]][document["event"]["id"]] += 1
    duplicates_total = 0
    for stream in STREAMS:
        final = await asyncio.to_thread(checkpoint, state_url, stream)
        assert final is not None
        expected = expected_ids(stream, ground_truth(sim.url, stream, start, final - OVERLAP))
        assert expected
        missing_hec = expected - set(hec[stream])
        assert not missing_hec, f"{stream}: {len(missing_hec)} of {len(expected)} events never reached HEC"
        archived = delivered_ids(out, stream)
        missing_archive = expected - set(archived)
        assert not missing_archive, f"{stream}: {len(missing_archive)} events never reached the archive"
        duplicates_total += sum(n - 1 for n in hec[stream].values() if n > 1)
    # Documented bound: the batch in flight to HEC at the kill is sent again (same event.id) - one
    # batch of batch_max_events (the HEC sink may split it into several requests).
    assert duplicates_total <= BATCH, duplicates_total
