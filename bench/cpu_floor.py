"""Benchmark 1: per-event CPU of our data path against the floor, same pages, same process.

* **Floor**: ``orjson.loads`` of each captured page, then ``orjson.dumps`` of each record - the least
  any forwarder that parses and re-serialises records can do.
* **Ours**: what the daemon does to a page between the socket and the sink's ``write``: decode and
  validate the envelope (``decode_json`` + ``envelope_response`` + ``page_records``, the client's
  reader), normalise every record (``normalise_records``, the collector), encode each event with the
  sink's format and turn the records into bytes (``encode_lines``, the file sink's encoder step).

Both are timed as CPU time of this process (``time.process_time``), best of several repeats, so
other load on the machine does not inflate either side. Target: ours at most 3x the floor.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from bench.capture import LOG_STREAMS, CapturedStream, capture_pages
from bench.report import Section, Table, Target, fmt_rate, fmt_ratio, fmt_us
from bench.settings import BenchOptions
from mimecast_siem.cli import tune_gc
from mimecast_siem.collector import CATALOGUE, NormaliseContext, normalise_records
from mimecast_siem.mimecast.envelope import decode_json, envelope_response, page_records
from mimecast_siem.sinks import get_encoder
from mimecast_siem.sinks.file import encode_lines

FORMATS: tuple[str, ...] = ("json", "cef", "ocsf")
TARGET_RATIO = 3.0


def floor_pass(pages: list[bytes], record_key: str | None) -> int:
    """The floor: parse each page, serialise each record; returns the bytes produced."""
    produced = 0
    for page in pages:
        document = orjson.loads(page)
        data = document["data"]
        records = data if record_key is None else [r for entry in data for r in entry.get(record_key, ())]
        for record in records:
            produced += len(orjson.dumps(record))
    return produced


def make_our_pass(stream: str, fmt: str) -> Callable[[list[bytes]], int]:
    """Our data path for ``stream`` encoded as ``fmt``; the callable returns the bytes produced."""
    spec = CATALOGUE[stream]
    encoder = get_encoder(fmt)
    ctx = NormaliseContext(tenant="bench", observed_at=datetime.now(UTC))
    label = spec.path

    def our_pass(pages: list[bytes]) -> int:
        produced = 0
        for page in pages:
            document = decode_json(label, 200, "application/json", page)
            response = envelope_response(label, 200, document)
            records = page_records(label, response, spec.record_key)
            events = normalise_records(spec, records, ctx)
            encoded, rejected = encode_lines(encoder, events)
            if rejected:
                raise RuntimeError(f"{fmt} rejected {len(rejected)} {stream} events: {rejected[0].reason}")
            produced += sum(len(data) for _, data in encoded)
        return produced

    return our_pass


def make_stage_passes(stream: str) -> dict[str, Callable[[list[bytes]], int]]:
    """Our path cut into stages, each including the ones before (for the breakdown table)."""
    spec = CATALOGUE[stream]
    ctx = NormaliseContext(tenant="bench", observed_at=datetime.now(UTC))
    label = spec.path

    def decode(pages: list[bytes]) -> int:
        n = 0
        for page in pages:
            response = envelope_response(label, 200, decode_json(label, 200, "application/json", page))
            n += len(page_records(label, response, spec.record_key))
        return n

    def normalise(pages: list[bytes]) -> int:
        n = 0
        for page in pages:
            response = envelope_response(label, 200, decode_json(label, 200, "application/json", page))
            n += len(normalise_records(spec, page_records(label, response, spec.record_key), ctx))
        return n

    return {"decode": decode, "decode+normalise": normalise}


def cpu_time(fn: Callable[[list[bytes]], int], pages: list[bytes], repeats: int) -> float:
    """Best CPU time of ``repeats`` calls of ``fn(pages)`` (a full GC before each)."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        started = time.process_time()
        fn(pages)
        best = min(best, time.process_time() - started)
    return best


def run(options: BenchOptions) -> Section:
    """Capture pages of every log stream and time the floor against our path per format."""
    # The daemon and the backfill run with the GC tuned (cli.tune_gc); measure both sides the same way.
    tune_gc()
    section = Section(1, "Per-event CPU: normalise + encode vs the orjson floor")
    per_stream = 1_000 if options.quick else 10_000
    repeats = 1 if options.quick else 5
    captured: dict[str, CapturedStream] = asyncio.run(capture_pages(per_stream, LOG_STREAMS))
    table = Table(
        f"CPU per event (best of {repeats}, CPU time of this process)",
        ["stream", "format", "events", "floor / event", "ours / event", "ratio", "ours events/s", "bytes out / event"],
    )
    stages = Table(
        "Where our time goes (cumulative stages, per event)",
        ["stream", "decode", "+ normalise", "+ encode json", "+ encode cef", "+ encode ocsf"],
    )
    worst = 0.0
    for stream, cap in captured.items():
        if cap.records == 0:
            raise RuntimeError(f"no {stream} records were captured")
        record_key = CATALOGUE[stream].record_key
        floor = cpu_time(functools.partial(floor_pass, record_key=record_key), cap.pages, repeats)
        per_format: dict[str, float] = {}
        for fmt in FORMATS:
            our_pass = make_our_pass(stream, fmt)
            produced = our_pass(cap.pages)
            ours = cpu_time(our_pass, cap.pages, repeats)
            per_format[fmt] = ours
            ratio = ours / floor
            worst = max(worst, ratio)
            table.add(
                stream,
                fmt,
                cap.records,
                fmt_us(floor / cap.records),
                fmt_us(ours / cap.records),
                fmt_ratio(ratio),
                fmt_rate(cap.records / ours),
                f"{produced / cap.records:.0f}",
            )
            section.targets.append(
                Target(
                    f"{stream}/{fmt}: ours vs floor",
                    fmt_ratio(ratio),
                    f"<= {TARGET_RATIO:.1f}x",
                    None if options.quick else ratio <= TARGET_RATIO,
                )
            )
        stage_times = {name: cpu_time(fn, cap.pages, repeats) for name, fn in make_stage_passes(stream).items()}
        stages.add(
            stream,
            fmt_us(stage_times["decode"] / cap.records),
            fmt_us(stage_times["decode+normalise"] / cap.records),
            *(fmt_us(per_format[f] / cap.records) for f in FORMATS),
        )
    table.notes.append(
        "Floor: orjson.loads(page) + orjson.dumps(record) for each record. Ours: envelope decode and "
        "validation, normalise_records, the format's encoder and the file sink's line encoding."
    )
    table.notes.append(
        "Pages of 500 records captured from the simulator over HTTP; identical bytes on both sides; the "
        "garbage collector tuned as in the daemon (cli.tune_gc) for both."
    )
    section.tables += [table, stages]
    section.summary.append(
        f"Worst ratio {fmt_ratio(worst)} (target <= {TARGET_RATIO:.1f}x). The floor does no work on a record "
        "beyond parsing and re-serialising it; ours builds an ECS document, a stable id (SHA-256) and the format."
    )
    return section
