"""The operations scenario: a real daemon process through everything its metrics describe.

One run (module-scoped in ``tests/e2e/test_ops_metrics.py``):

* the simulator (in-process, its clock frozen at the start so what it serves stays fixed) with two
  apps: ``acme`` polls five streams with the right secret; ``globex`` has a wrong secret;
* a 429 burst (three scripted 429s on the TTP URL endpoint) and a forced token expiry (one 401
  mid-walk: the client refreshes the token and replays);
* three sinks: the file sink ``archive`` (every stream), Splunk HEC ``splunk`` (the strict test
  receiver: busy for two requests, and refusing the index of TTP attachment events, so those are
  dead-lettered) and syslog ``siem`` (a real rsyslog, with a ceiling that truncates long messages);
  plus syslog over UDP ``siem-udp`` (same rsyslog) for TTP attachment events: sent, never confirmed;
* TTP URL pages of 50 records, so a one-minute window takes several pages and its progress is
  committed inside the window (``redelivery_pages``, oldest-first walk);
* late arrivals: once caught up, the simulator's clock moves on to just before the TTP URL
  checkpoint, so records stamped inside the daemon's last overlap appear after their window was
  read; the next poll's overlap re-read delivers them (``late_arrivals_total{bound="within"}``);
* a backfill job queued before the daemon starts (``backfill --queue``: three one-minute windows of
  the audit stream, which is not polled live), which the daemon runs next to the live streams;
* two response-action calls on the daemon's port (one allowed, one with a wrong token).

Then it waits for a quiet moment and takes, between two identical scrapes of ``/metrics``, a
snapshot of everything the metrics can be checked against: the simulator's request statistics, what
each sink received, the dead-letter file, the daemon's log, the checkpoints and the action audit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

from mimecast_siem.checkpoints import AuditRecord, BackfillJob, BackfillStatus, StateStore
from mimecast_siem.simulator import (
    FaultSettings,
    HeldQueueSettings,
    LateArrivals,
    RunningSimulator,
    ScriptedFault,
    SimulatorConfig,
    SimulatorStats,
    run_simulator,
)
from mimecast_siem.sinks import DeadLetter, DeadLetters
from tests.collector.helpers import read_documents
from tests.fixtures.receivers import Received, SyslogPki, SyslogReceiver, _receiver
from tests.observability.ops_support import Scrape
from tests.sinks.hec_receiver import HecReceiver, HecToken, IndexedEvent, RequestRecord, run_hec_receiver

HEC_TOKEN = "5b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
ACTION_TOKEN = "act-0d9c8b7a6f5e4d3c2b1a"
GLOBEX_SECRET = "globex-wrong-secret-8c1f"
# siem-receipt: one SIEM type (batch files), so the SIEM metrics are exposed too (docs/siem.md).
ACME_STREAMS = ("ttp-url", "ttp-attachment", "held-messages", "hold-summary", "email-queues", "siem-receipt")
BACKFILL_STREAM = "audit"  # not polled live: everything the metrics say of it comes from the backfill
BACKFILL_WINDOWS = 3
LOG_STREAMS = ("ttp-url", "ttp-attachment")
SINKS = ("archive", "splunk", "siem")
#: A fourth sink, with a durable queue, on the TTP URL stream only (not in SINKS: its canonical-line
#: count is "queued", not "delivered").
QUEUED_SINK = "spool"
UDP_SINK = "siem-udp"  # not in SINKS: it counts events as sent, never as delivered
URL_PAGE_SIZE = 50
RATE_LIMIT_BURST = 3
FORCED_401 = 1
HEC_BUSY = 2
SYSLOG_CEILING = 600
ACTION = "get-held-message-list"
WAIT = 90.0


@dataclass
class Snapshot:
    """What the sinks, the simulator and the state store hold at one quiet moment."""

    stats: SimulatorStats
    hec_events: list[IndexedEvent]
    hec_requests: list[RequestRecord]
    syslog: list[Received]  # what the TCP sink ``siem`` sent
    syslog_udp: list[Received]  # what arrived of the UDP sink's datagrams
    archive: dict[str, list[dict[str, Any]]]
    archive_bytes: int
    dead_letters: list[DeadLetter]
    log: list[dict[str, Any]]
    checkpoints: dict[str, datetime]
    audit: list[AuditRecord]
    backfill: list[BackfillJob]
    scraped_at: tuple[float, float]  # wall clock just before the first and after the second scrape


@dataclass
class Observed:
    """Everything the metrics tests assert on."""

    before: Scrape  # the first of the two identical scrapes
    scrape: Scrape  # the second
    snapshot: Snapshot
    started: float
    frozen_at: datetime
    hold_summary: list[dict[str, Any]]  # what the simulator answers now (its clock is frozen)
    email_queues: list[dict[str, Any]]
    action_statuses: dict[str, int]
    exit_code: int
    output: str
    tenants: tuple[str, ...] = ("acme", "globex")
    sinks: tuple[str, ...] = SINKS
    extra: dict[str, Any] = field(default_factory=dict)


def _config(tmp: Path, sim: RunningSimulator, hec: HecReceiver, syslog_ports: dict[str, int]) -> dict[str, Any]:
    stream = {
        "poll_interval": "30s",
        "lag": "2s",
        "overlap": "20s",
        "max_window": "1m",
        "start_from": "3m",
        "concurrency": 2,
    }
    return {
        "data_dir": str(tmp / "data"),
        "tenants": [
            {
                "name": "acme",
                "base_url": sim.url,
                "client_id": "client-1",
                "client_secret": "secret-1",
                "streams": list(ACME_STREAMS),
            },
            {
                "name": "globex",
                "base_url": sim.url,
                "client_id": "client-2",
                "client_secret": GLOBEX_SECRET,
                "streams": ["ttp-url"],
            },
        ],
        "streams": {
            **dict.fromkeys(ACME_STREAMS, stream),
            "ttp-url": {**stream, "page_size": URL_PAGE_SIZE, "redelivery_pages": 2},
        },
        "sinks": [
            {"name": "archive", "type": "file", "path": str(tmp / "out")},
            # A file sink behind a durable queue (its metrics; delivery through a queue: test_sink_queues).
            {"name": QUEUED_SINK, "type": "file", "path": str(tmp / "spool"), "queue": {"enabled": True}},
            {
                "name": "splunk",
                "type": "hec",
                "url": hec.url,
                "token": HEC_TOKEN,
                "index": "mimecast",
                "streams": {"ttp-attachment": {"index": "forbidden"}},
                "batch_max_events": 100,
            },
            {
                "name": "siem",
                "type": "syslog",
                "host": "127.0.0.1",
                "port": syslog_ports["tcp"],
                "transport": "tcp",
                "max_message_bytes": SYSLOG_CEILING,
            },
            {"name": UDP_SINK, "type": "syslog", "host": "127.0.0.1", "port": syslog_ports["udp"], "transport": "udp"},
        ],
        "routes": [
            {"streams": ["ttp-url"], "sinks": ["archive", "splunk", "siem", QUEUED_SINK]},
            {"streams": ["ttp-attachment"], "sinks": ["archive", "splunk", UDP_SINK]},
            {
                "streams": ["held-messages", "hold-summary", "email-queues", "audit", "siem-receipt"],
                "sinks": ["archive"],
            },
        ],
        "server": {"enabled": True, "host": "127.0.0.1", "port": 0},
        "state": {"lease_ttl": "30s"},
        "daemon": {"shutdown_grace": "10s", "stream_backoff_max": "30s"},
        "actions": {"tokens": [{"name": "soc", "token": ACTION_TOKEN, "scopes": ["read"]}]},
        "logging": {"level": "INFO", "format": "json"},
    }


def _read_log(path: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in path.read_bytes().splitlines():
        if raw.startswith(b"{"):
            with contextlib.suppress(orjson.JSONDecodeError):
                lines.append(orjson.loads(raw))
    return lines


def _archive(out: Path) -> tuple[dict[str, list[dict[str, Any]]], int]:
    docs = {s: read_documents(out, "acme", s) for s in (*ACME_STREAMS, BACKFILL_STREAM)}
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) if out.exists() else 0
    return docs, size


async def _store_view(url: str) -> tuple[dict[str, datetime], list[AuditRecord], list[BackfillJob]]:
    store = await StateStore.open(url)
    try:
        checkpoints = {r.stream: r.window_end for r in await store.list_checkpoints() if r.tenant == "acme"}
        return checkpoints, await store.list_audit(limit=100), await store.list_backfill_jobs()
    finally:
        await store.close()


def _quiet_key(scrape: Scrape) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    """Counter and histogram samples outside globex (whose failing logins go on by design).

    The process collector's samples (CPU seconds, memory) are the daemon's own upkeep, not its pipeline:
    serving a scrape moves process_cpu_seconds_total, by a 10 ms tick or more on a slow machine (a run on
    one ~2.4x slower than usual never saw two equal scrapes)."""
    volatile = ("mimecast_siem_checkpoint_lag_seconds", "mimecast_siem_last_poll_timestamp_seconds", "process_")
    return sorted(
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for s in scrape.samples
        if s.labels.get("tenant") != "globex" and not s.name.startswith(volatile)
    )


class _Run:
    def __init__(self, tmp: Path, pki: SyslogPki) -> None:
        self.tmp = tmp
        self.pki = pki
        self.log_path = tmp / "daemon.log"
        self.port_file = tmp / "daemon.port"
        self.state_url = f"sqlite:///{tmp / 'data' / 'state.db'}"

    async def scrape(self, http: aiohttp.ClientSession, base: str) -> Scrape:
        async with http.get(base + "/metrics") as resp:
            assert resp.status == 200
            return Scrape(await resp.text())

    async def snapshot(
        self, sim: RunningSimulator, hec: HecReceiver, syslog: SyslogReceiver, scraped_at: tuple[float, float]
    ) -> Snapshot:
        archive, size = _archive(self.tmp / "out")
        checkpoints, audit, backfill = await _store_view(self.state_url)
        records = syslog.records()
        return Snapshot(
            stats=sim.stats().copy(),
            hec_events=list(hec.events),
            hec_requests=list(hec.requests),
            syslog=[r for r in records if r.listener == "tcp"],
            syslog_udp=[r for r in records if r.listener == "udp"],
            archive=archive,
            archive_bytes=size,
            dead_letters=DeadLetters(self.tmp / "data" / "dead-letters.ndjson").list(),
            log=_read_log(self.log_path),
            checkpoints=checkpoints,
            audit=audit,
            backfill=backfill,
            scraped_at=scraped_at,
        )

    async def run(self) -> Observed:
        frozen_at = datetime.now(UTC).replace(microsecond=0)
        config = SimulatorConfig(
            seed=77,
            apps=[("client-1", "secret-1"), ("client-2", "secret-2")],
            rates={"ttp-url": 6.0, "ttp-attachment": 1.0, "audit": 0.5},
            history=900.0,
            late=LateArrivals(fraction=0.0),
            holds=HeldQueueSettings(arrival_rate=0.3, min_hold=120.0, max_hold=900.0),
            frozen_at=frozen_at,
            faults=FaultSettings(
                force_401=FORCED_401,
                script=[ScriptedFault("/api/ttp/url/get-logs", count=RATE_LIMIT_BURST, status=429)],
            ),
        )
        receiver = HecReceiver([HecToken(HEC_TOKEN, indexes=frozenset({"mimecast"}))])
        syslog_gen: Iterator[SyslogReceiver] = _receiver("rsyslog", self.pki)
        syslog = next(syslog_gen)
        try:
            async with run_simulator(config) as sim, run_hec_receiver(receiver) as hec:
                hec.fail_next(HEC_BUSY, status=503, code=9)
                return await self._with_daemon(sim, hec, syslog, frozen_at)
        finally:
            with contextlib.suppress(StopIteration):
                next(syslog_gen)

    async def _with_daemon(
        self, sim: RunningSimulator, hec: HecReceiver, syslog: SyslogReceiver, frozen_at: datetime
    ) -> Observed:
        config_path = self.tmp / "config.yaml"
        config_path.write_text(yaml.safe_dump(_config(self.tmp, sim, hec, syslog.ports)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_SIEM")}
        since = frozen_at - timedelta(minutes=12)
        until = since + timedelta(minutes=BACKFILL_WINDOWS)
        queued = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mimecast_siem", "backfill", "--config", str(config_path), "--tenant", "acme",
            "--stream", BACKFILL_STREAM, "--since", since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "--until", until.strftime("%Y-%m-%dT%H:%M:%SZ"), "--window", "1m", "--sink", "archive", "--queue",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=self.tmp,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(queued.communicate(), timeout=60)
        assert queued.returncode == 0, out.decode(errors="replace")
        started = time.time()
        with self.log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "mimecast_siem", "run", "--config", str(config_path),
                "--port-file", str(self.port_file), "--log-format", "json",
                stdout=log, stderr=log, env=env, cwd=self.tmp,
            )  # fmt: skip
        try:
            return await self._drive(proc, sim, hec, syslog, frozen_at, started)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    async def _wait(self, proc: asyncio.subprocess.Process, what: str, condition: Any) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise AssertionError(f"the daemon exited with {proc.returncode}:\n{self.output()[-3000:]}")
            if await condition():
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def _drive(
        self,
        proc: asyncio.subprocess.Process,
        sim: RunningSimulator,
        hec: HecReceiver,
        syslog: SyslogReceiver,
        frozen_at: datetime,
        started: float,
    ) -> Observed:
        async def listening() -> bool:
            return self.port_file.exists() and bool(self.port_file.read_text().strip())

        await self._wait(proc, "the daemon to listen", listening)
        base = f"http://127.0.0.1:{int(self.port_file.read_text())}"

        async def caught_up() -> bool:
            checkpoints, _, jobs = await _store_view(self.state_url)
            return (
                bool(jobs)
                and all(job.status is BackfillStatus.DONE for job in jobs)
                and all(checkpoints.get(s, frozen_at - timedelta(days=1)) >= frozen_at for s in LOG_STREAMS)
                and all(s in checkpoints for s in ACME_STREAMS)
                and bool(hec.events)
                and bool(syslog.records())
            )

        await self._wait(proc, "every acme stream to catch up", caught_up)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            await self._late_arrivals(proc, http, base, sim)
            statuses = {}
            for name, token in (("allowed", ACTION_TOKEN), ("wrong_token", "not-the-action-token-123")):
                async with http.post(
                    f"{base}/v1/actions/{ACTION}",
                    json={"tenant": "acme", "params": {}},
                    headers={"Authorization": f"Bearer {token}"},
                ) as resp:
                    statuses[name] = resp.status
            before, scrape, snapshot = await self._quiet_snapshot(proc, http, base, sim, hec, syslog)
            # Asked after the snapshot: these requests must not count in the statistics compared.
            hold_summary, email_queues = await _direct_answers(http, sim)
        proc.terminate()
        exit_code = await asyncio.wait_for(proc.wait(), timeout=30)
        return Observed(
            before=before,
            scrape=scrape,
            snapshot=snapshot,
            started=started,
            frozen_at=frozen_at,
            hold_summary=hold_summary,
            email_queues=email_queues,
            action_statuses=statuses,
            exit_code=exit_code,
            output=self.output(),
        )

    async def _late_arrivals(
        self, proc: asyncio.subprocess.Process, http: aiohttp.ClientSession, base: str, sim: RunningSimulator
    ) -> None:
        """Make TTP URL records appear after their window was read; wait until the overlap re-read caught some.

        The daemon's windows follow the wall clock, the simulator's clock stands at ``frozen_at``: moving
        it on to 5 s before the committed checkpoint makes the records stamped up to there visible now.
        Those within the overlap (20 s) before the checkpoint are re-read by the next poll and delivered.
        """
        checkpoints, _, _ = await _store_view(self.state_url)
        visible_from = sim.world.clock.now()
        gap = (checkpoints["ttp-url"] - visible_from).total_seconds()
        sim.world.clock.advance(gap - 5.0 if gap > 10.0 else gap / 2)

        async def caught() -> bool:
            scrape = await self.scrape(http, base)
            return scrape.value("mimecast_siem_late_arrivals_total", stream="ttp-url", bound="within") > 0

        await self._wait(proc, "the overlap re-read to deliver late TTP URL records", caught)

    async def _quiet_snapshot(
        self,
        proc: asyncio.subprocess.Process,
        http: aiohttp.ClientSession,
        base: str,
        sim: RunningSimulator,
        hec: HecReceiver,
        syslog: SyslogReceiver,
    ) -> tuple[Scrape, Scrape, Snapshot]:
        """Two identical scrapes (outside globex) with the snapshot taken between them."""
        deadline = time.monotonic() + WAIT
        moving: object = None
        while time.monotonic() < deadline:
            assert proc.returncode is None, self.output()[-3000:]
            t0 = time.time()
            first = await self.scrape(http, base)
            snapshot = await self.snapshot(sim, hec, syslog, (t0, 0.0))
            second = await self.scrape(http, base)
            snapshot.scraped_at = (t0, time.time())
            in_flight = second.value("mimecast_siem_windows_in_flight")
            if in_flight == 0 and _quiet_key(first) == _quiet_key(second):
                return first, second, snapshot
            moving = (in_flight, sorted({k[:2] for k in set(_quiet_key(second)) ^ set(_quiet_key(first))}))
            await asyncio.sleep(0.5)
        raise AssertionError(f"the daemon never went quiet between two scrapes; last (in flight, moved): {moving}")


async def _direct_answers(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What the simulator answers acme now (its clock is frozen, so it answered the daemon the same)."""
    async with http.post(
        sim.url + "/oauth/token",
        data={"client_id": "client-1", "client_secret": "secret-1", "grant_type": "client_credentials"},
    ) as resp:
        token = (await resp.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post(sim.url + "/api/gateway/get-hold-summary-list", json={"data": []}, headers=headers) as resp:
        summary = (await resp.json())["data"]
    now = sim.world.clock.now()
    window = {
        "start": (now - timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "end": now.strftime("%Y-%m-%dT%H:%M:%S+0000"),
    }
    async with http.post(sim.url + "/api/email/get-email-queues", json={"data": [window]}, headers=headers) as resp:
        queues = (await resp.json())["data"]
    return summary, queues


def run_scenario(tmp: Path, pki: SyslogPki) -> Observed:
    """Run the scenario (in its own event loop) and return what was observed."""
    return asyncio.run(_Run(tmp, pki).run())
