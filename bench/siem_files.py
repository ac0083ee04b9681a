"""Benchmark 8: SIEM batch files - events/s from gzip NDJSON files to the file sink, and flat memory.

Two measurements, each in its own worker process (``python -m bench.siem_files worker ...``) so
the RSS is that of the file path alone:

* **throughput**: gzip NDJSON files of SIEM records (built from the simulator's generator) are read
  through the collector's own path (:func:`mimecast_siem.collector.siem.deliver_file`: stream
  inflate, parse, normalise, collapse duplicates, deliver) into the real file sink (JSON). Reported
  as events/s and as a ratio to the floor measured in the same run: inflate + ``orjson.loads`` of
  the same files and nothing else.
* **memory**: one file of 1 GB uncompressed (generated on the fly into the scratch directory,
  never committed) read the same way into a counting router (so the disk is not the bottleneck),
  next to a file a quarter of that size. Peak RSS (``ru_maxrss``) of each worker. Targets: peak
  <= 100 MB for the 1 GB file, and no growth with file size (1 GB peak within 10% of the 256 MB one).

The downloads are replaced by local file reads (same chunk size); the HTTP part is the client's and
is measured by the other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import resource
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.report import Section, Table, Target, fmt_mb, fmt_pct, fmt_rate, fmt_ratio
from bench.settings import BenchOptions

TARGET_PEAK = 100 * 1024 * 1024
TARGET_GROWTH = 0.10
CHUNK = 64 * 1024


# -- data ------------------------------------------------------------------------------------------------


def _pool(size: int) -> list[dict[str, Any]]:
    """Realistic SIEM records of every type, from the simulator's generator (the bench may import it)."""
    from mimecast_siem.simulator.records import AccountProfile
    from mimecast_siem.simulator.siem_records import minute_records

    profile = AccountProfile.build(7, "client-1")
    out: list[dict[str, Any]] = []
    minute = 29_400_000
    while len(out) < size:
        for records in minute_records(7, profile, minute, 20.0).values():
            out.extend(r for _, r in records)
        minute += 1
    return out[:size]


def write_file(path: Path, *, uncompressed_bytes: int, pool: Sequence[dict[str, Any]], first: int = 0) -> int:
    """Write a gzip NDJSON file of about ``uncompressed_bytes`` (unique records from ``first`` on); return the count."""
    written = 0
    count = first
    with gzip.open(path, "wb", compresslevel=1) as out:
        batch: list[bytes] = []
        while written < uncompressed_bytes:
            record = dict(pool[count % len(pool)])
            record["_offset"] = count
            record["timestamp"] = int(record["timestamp"]) + count
            line = orjson.dumps(record) + b"\n"
            batch.append(line)
            written += len(line)
            count += 1
            if len(batch) == 4096:
                out.write(b"".join(batch))
                batch.clear()
        out.write(b"".join(batch))
    return count - first


# -- the worker ------------------------------------------------------------------------------------------


class _LocalBody:
    def __init__(self, path: Path) -> None:
        self._path = path

    async def iter_chunked(self, size: int) -> AsyncIterator[bytes]:
        with self._path.open("rb") as handle:
            while chunk := handle.read(size):
                yield chunk


class _LocalClient:
    """Stands in for the client: ``open_presigned(url)`` reads the local file the URL names."""

    @asynccontextmanager
    async def open_presigned(self, url: str, **_: Any) -> AsyncIterator[_LocalBody]:
        yield _LocalBody(Path(url.removeprefix("file://")))


class _CountingRouter:
    def __init__(self) -> None:
        self.events = 0

    async def deliver(self, tenant: str, stream: str, events: Sequence[Any]) -> None:
        self.events += len(events)


async def _worker(files: list[Path], out: Path | None) -> dict[str, Any]:
    from mimecast_siem.collector.pipeline import StreamContext
    from mimecast_siem.collector.siem import RecentIds, deliver_file, siem_spec
    from mimecast_siem.config.models import Settings, StreamSettings

    router: Any
    closer = None
    if out is not None:
        from mimecast_siem import __version__
        from mimecast_siem.sinks import DeadLetters, Router, SinkContext, build_sinks

        settings = Settings.model_validate(
            {
                "data_dir": str(out),
                "tenants": [{"name": "acme", "client_id": "x", "client_secret": "not-a-real-secret"}],
                "sinks": [{"name": "file", "type": "file", "format": "json", "path": str(out / "out")}],
            }
        )
        sinks = build_sinks(settings, SinkContext(out, "bench", __version__))
        router = Router(settings, sinks, DeadLetters(out / "dead.ndjson", 10 << 20))
        await router.start()
        closer = router.close
    else:
        router = _CountingRouter()
    ctx = StreamContext("acme", siem_spec("siem-receipt"), StreamSettings(), _LocalClient(), router)  # type: ignore[arg-type]
    baseline = _peak_rss()
    recent = RecentIds()
    delivered = lines = 0

    async def unreadable(event: Any, reason: str) -> None:
        return None

    started = time.perf_counter()
    for path in files:
        result = await deliver_file(
            ctx, f"file://{path}", recent=recent, unreadable=unreadable, clock=lambda: datetime.now(UTC)
        )
        delivered += result.delivered
        lines += result.lines
    elapsed = time.perf_counter() - started
    if closer is not None:
        await closer()
    return {"events": delivered, "lines": lines, "seconds": elapsed, "peak_rss": _peak_rss(), "baseline_rss": baseline}


def _floor(files: list[Path]) -> dict[str, Any]:
    """Inflate + orjson.loads of every line, nothing else (the same chunking)."""
    started = time.perf_counter()
    count = 0
    for path in files:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = b""
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                data = pending + inflater.decompress(chunk)
                *complete, pending = data.split(b"\n")
                for line in complete:
                    if line:
                        orjson.loads(line)
                        count += 1
        if pending.strip():
            orjson.loads(pending)
            count += 1
    return {"events": count, "seconds": time.perf_counter() - started, "peak_rss": _peak_rss()}


def _peak_rss() -> int:
    """Peak RSS of this process: ``VmHWM`` (reset by exec, unlike ``ru_maxrss`` which keeps the parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # KiB on Linux


def _spawn(mode: str, files: list[Path], out: Path | None) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.siem_files", "worker", "--mode", mode, *(str(f) for f in files)]
    if out is not None:
        args += ["--out", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"bench worker {mode} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the benchmark ---------------------------------------------------------------------------------------


def run(options: BenchOptions) -> Section:
    """Both measurements; see the module docstring."""
    section = Section(8, "SIEM batch files: events/s to the file sink, and memory of one 1 GB file")
    workdir = options.workdir / "siem-files"
    workdir.mkdir(parents=True, exist_ok=True)
    pool = _pool(20_000)
    n_files, per_file = (2, 2 << 20) if options.quick else (8, 16 << 20)
    files = [workdir / f"email_receipt_{i}.json.gz" for i in range(n_files)]
    records = 0
    for f in files:
        records += write_file(f, uncompressed_bytes=per_file, pool=pool, first=records)
    floor = _spawn("floor", files, None)
    full = _spawn("deliver", files, workdir / "sink")
    table = Table(
        f"{n_files} gzip NDJSON files, {records:,} SIEM records, {per_file >> 20} MB uncompressed each",
        ["path", "events", "seconds", "events/s", "vs floor", "peak RSS"],
    )
    table.add("floor: inflate + orjson.loads", f"{floor['events']:,}", f"{floor['seconds']:.1f}",
              fmt_rate(floor["events"] / floor["seconds"]), "1.0x", fmt_mb(floor["peak_rss"]))  # fmt: skip
    ratio = (full["seconds"] / full["events"]) / (floor["seconds"] / floor["events"])
    table.add("deliver_file -> file sink (json)", f"{full['events']:,}", f"{full['seconds']:.1f}",
              fmt_rate(full["events"] / full["seconds"]), fmt_ratio(ratio), fmt_mb(full["peak_rss"]))  # fmt: skip
    table.notes.append(
        "Each row is its own process. 'vs floor' is time per event relative to the floor of the same run; "
        "the full path also normalises to ECS, hashes event ids and writes JSON to disk."
    )
    section.tables.append(table)
    big, small = (32 << 20, 8 << 20) if options.quick else (1 << 30, 256 << 20)
    sizes = {}
    for size in (small, big):
        path = workdir / f"email_receipt_{size >> 20}mb.json.gz"
        count = write_file(path, uncompressed_bytes=size, pool=pool)
        measured = _spawn("memory", [path], None)
        sizes[size] = (count, path.stat().st_size, measured)
        path.unlink()
    memory = Table("One file at a time, read to a counting router", ["uncompressed", "gzip", "records", "seconds",
                                                                      "events/s", "RSS after imports", "peak RSS"])  # fmt: skip
    for size, (count, gz, measured) in sizes.items():
        memory.add(fmt_mb(size), fmt_mb(gz), f"{count:,}", f"{measured['seconds']:.1f}",
                   fmt_rate(measured["events"] / measured["seconds"]), fmt_mb(measured["baseline_rss"]),
                   fmt_mb(measured["peak_rss"]))  # fmt: skip
    memory.notes.append(
        "Peak RSS is VmHWM of the worker process, imports included (the package's imports are most of it)."
    )
    section.tables.append(memory)
    peak = sizes[big][2]["peak_rss"]
    growth = peak / sizes[small][2]["peak_rss"] - 1.0
    judged = not options.quick
    section.targets.append(
        Target(
            f"peak RSS, {fmt_mb(big)} file",
            fmt_mb(peak),
            f"<= {fmt_mb(TARGET_PEAK)}",
            peak <= TARGET_PEAK if judged else None,
        )
    )
    section.targets.append(
        Target(
            "RSS growth with file size (x4)",
            fmt_pct(growth),
            f"< {fmt_pct(TARGET_GROWTH)}",
            growth < TARGET_GROWTH if judged else None,
        )
    )
    return section


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.siem_files [--quick]`` or the internal ``worker`` mode."""
    parser = argparse.ArgumentParser(prog="python -m bench.siem_files")
    sub = parser.add_subparsers(dest="command")
    worker = sub.add_parser("worker")
    worker.add_argument("--mode", choices=("floor", "deliver", "memory"), required=True)
    worker.add_argument("--out", type=Path, default=None)
    worker.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mimecast-siem-bench-siem"))
    args = parser.parse_args(argv)
    if args.command == "worker":
        if args.mode == "floor":
            result = _floor(args.files)
        else:
            result = asyncio.run(_worker(args.files, args.out if args.mode == "deliver" else None))
        print(json.dumps(result))
        return 0
    section = run(BenchOptions(quick=args.quick, workdir=args.workdir, repo=Path(__file__).resolve().parent.parent))
    print(section.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
