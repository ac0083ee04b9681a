"""Output digests: one SHA-256 per (stream, format) over everything the data path makes of many records.

A change meant to make normalising or encoding cheaper must not change a byte of output. This tool
normalises, for every registered stream, its golden inputs, records from the simulator's generators
and seeded hostile mutations of both (keys dropped, values replaced by other types, control
characters, very long text, nested junk), encodes every event with every format and option set the
sinks offer, through the file sink's own line encoding, and hashes it all. What a record makes is
hashed whatever it is: the event id the pipeline computes before normalising, the event (id, time,
kind, document, raw), each format's lines - or the exception's type and message where a step
refuses the record, so a change in how bad input is refused shows up too.

    python -m bench.output_digest --out before.json          # on the reference tree
    python -m bench.output_digest --compare before.json      # on the changed tree: exit 1 on a difference

Deterministic: the same tree gives the same digests on any machine (seeded generators, fixed
observation time). ``--records N`` sets the generated records per stream (default 500),
``--mutations M`` the hostile copies per base record (default 3). ``--syslog`` adds one digest per
syslog setting (:data:`SYSLOG`): every event rendered by the syslog sink's ``render_batch`` - header,
structured data, size ceiling and framing - with its truncations and refusals; without it the digests
are those of earlier versions of this tool.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import random
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from mimecast_siem.events import Event
from mimecast_siem.simulator.log_records import ALL_BUILDERS
from mimecast_siem.simulator.records import AccountProfile, held_message_record, release_log_record
from mimecast_siem.simulator.siem_records import minute_records, siem_stream_name
from mimecast_siem.simulator.wire import format_time
from mimecast_siem.sinks.file import event_lines
from mimecast_siem.sinks.formats import Encoder, get_encoder
from mimecast_siem.sinks.formats.syslog_header import SyslogMessageBuilder
from mimecast_siem.sinks.syslog import SyslogSinkOptions, message_builder, render_batch
from mimecast_siem.streams import CATALOGUE, NormaliseContext

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "streams" / "golden"
OBSERVED_AT = datetime(2026, 11, 25, 10, 30, 0, tzinfo=UTC)
SEED = 16
#: Every format, and the option sets that change what it writes.
FORMATS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("json", "json", {}),
    ("json-elastic", "json", {"ecs_profile": "elastic-integration", "data_stream_namespace": "prod"}),
    ("raw", "raw", {}),
    ("raw-bare", "raw", {"metadata": False}),
    ("cef", "cef", {}),
    ("leef", "leef", {}),
    ("leef-tab", "leef", {"delimiter": "tab"}),
    ("ocsf", "ocsf", {}),
    ("ocsf-raw", "ocsf", {"findings": False, "raw_data": True}),
)
#: Syslog sink settings (``--syslog``): label, format, format options, sink options. Hostname and
#: procid are set (their defaults are the machine's name and the process id); small ceilings make
#: the cuts and the dead-letter refusals happen.
SYSLOG: tuple[tuple[str, str, dict[str, Any], dict[str, Any]], ...] = (
    ("syslog-5424-cef", "cef", {}, {"transport": "tcp"}),
    ("syslog-5424-lf-leef", "leef", {}, {"transport": "tcp", "framing": "lf", "severity": "warning",
     "streams": {"ttp-url": {"app_name": "mc-url", "msgid": "URL"}}, "utf8_bom": False}),
    ("syslog-5424-json-udp", "json", {}, {"transport": "udp", "max_message_bytes": 1472, "facility": "mail"}),
    ("syslog-5424-ocsf-cut", "ocsf", {}, {"transport": "tcp", "max_message_bytes": 600, "structured_data": False}),
    ("syslog-5424-cef-dead-letter", "cef", {}, {"transport": "tcp", "max_message_bytes": 700, "oversize": "dead-letter"}),
    ("syslog-3164-leef", "leef", {"delimiter": "tab"}, {"transport": "tcp", "rfc": "3164", "procid": "-"}),
    ("syslog-3164-raw-lf", "raw", {}, {"transport": "tcp", "rfc": "3164", "framing": "lf", "max_message_bytes": 900}),
)  # fmt: skip
#: Values a hostile record may carry in place of any field.
_ODD_VALUES: tuple[Any, ...] = (
    None, "", " ", 0, -1, 1.5, True, [], {}, ["a", None], {"x": {"y": None}}, "null", "N/A",
    "\r\n\x00\x1b|=\\^", "é\u202e\U0001f600", "x" * 5000, "1970-01-01T00:00:00+0000", "9999-12-31T23:59:59+0000",
    "2026-11-25T10:30:00Z", "not a time", "http://[::1", "https://a.example/?q=" + "%" * 40, "999.1.1.1",
    "2001:db8::1", "a@b@c", "<>", 2**70, -(2**63), float("inf"),
)  # fmt: skip


def _golden_cases(stream: str) -> list[dict[str, Any]]:
    path = GOLDEN / f"{stream}.input.json"
    cases: list[dict[str, Any]] = orjson.loads(path.read_bytes()) if path.exists() else []
    return cases


def _generated(stream: str, count: int, profile: AccountProfile) -> list[dict[str, Any]]:
    """``count`` records of ``stream`` from the simulator's own generators (empty when it has none)."""
    rng = random.Random(f"{SEED}:{stream}")
    start = int(OBSERVED_AT.timestamp()) - 86_400
    if stream in ALL_BUILDERS:
        builder = ALL_BUILDERS[stream]
        out = []
        for i in range(count):
            ts = start + i * 7
            out.append(builder(rng, ts, format_time(ts), profile))
        return out
    if stream == "held-messages":
        cases = []
        for i in range(count):
            record, _group = held_message_record(rng, f"held-{i}", format_time(start + i), rng.random() < 0.3, profile)
            transition = "left" if i % 2 else "entered"
            cases.append({"transition": transition, "held_for_seconds": i % 90 if i % 2 else None, "record": record})
        return cases
    if stream == "message-release":
        held = [held_message_record(rng, f"rel-{i}", format_time(start + i), False, profile)[0] for i in range(count)]
        outcomes = ("released", "rejected", "expired")
        return [
            release_log_record(r, outcomes[i % 3], format_time(start + i + 30), profile.admins[i % 3], rng)
            for i, r in enumerate(held)
        ]
    if stream.startswith("siem-"):
        out = []
        index = start // 60
        while len(out) < count:
            for siem_type, rows in minute_records(SEED, profile, index, 5.0).items():
                if siem_stream_name(siem_type) == stream:
                    out.extend(record for _ms, record in rows)
            index += 1
        return out[:count]
    return []


def _mutate(value: Any, rng: random.Random, depth: int = 0) -> Any:
    """A hostile copy of ``value``: some keys dropped or replaced by odd values, recursively."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            roll = rng.random()
            if roll < 0.08:
                continue
            if roll < 0.2:
                out[key] = rng.choice(_ODD_VALUES)
            elif depth < 4 and isinstance(item, dict | list) and roll < 0.5:
                out[key] = _mutate(item, rng, depth + 1)
            else:
                out[key] = item
        if rng.random() < 0.1:
            out[rng.choice(("extra", "", "\x00", "id"))] = rng.choice(_ODD_VALUES)
        return out
    if isinstance(value, list):
        if not value or rng.random() < 0.2:
            return rng.choice(([], [None], value * 3, [rng.choice(_ODD_VALUES)]))
        return [_mutate(v, rng, depth + 1) if isinstance(v, dict | list) else v for v in value]
    return value


def _failure(exc: BaseException) -> bytes:
    return f"!{type(exc).__name__}: {exc}".encode("utf-8", "surrogatepass")


def _event_bytes(event: Event) -> bytes:
    head = f"{event.event_id}|{event.tenant}|{event.stream}|{event.timestamp.isoformat()}|{event.kind}|"
    try:
        body = orjson.dumps([event.document, event.raw], default=str, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # an integer past 64 bits in a hostile record: no JSON for it, its repr still says it
        body = repr([event.document, event.raw]).encode("utf-8", "surrogatepass")
    return head.encode("utf-8", "surrogatepass") + body


def _cases(stream: str, records: int, mutations: int, profile: AccountProfile) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{SEED}:mutate:{stream}")
    base = _golden_cases(stream) + _generated(stream, records, profile)
    for case in base:
        yield case
        for _ in range(mutations):
            if CATALOGUE[stream].kind == "snapshot" and isinstance(case.get("record"), dict):
                yield {**case, "record": _mutate(case["record"], rng)}
            else:
                yield _mutate(case, rng)


def _normaliser(stream: str) -> Callable[[dict[str, Any]], Event]:
    spec = CATALOGUE[stream]
    if spec.kind == "snapshot":

        def snapshot(case: dict[str, Any]) -> Event:
            held = case.get("held_for_seconds")
            ctx = NormaliseContext(
                tenant="acme",
                observed_at=OBSERVED_AT,
                transition=case.get("transition", "entered"),
                held_for=timedelta(seconds=held) if isinstance(held, int) else None,
            )
            return spec.normalise(case.get("record"), ctx)  # type: ignore[arg-type]

        return snapshot
    return lambda record: spec.normalise(record, NormaliseContext(tenant="acme", observed_at=OBSERVED_AT))


Renderer = Callable[[Event], bytes]


def _render(event: Event, encoder: Encoder, builder: SyslogMessageBuilder, options: SyslogSinkOptions) -> bytes:
    out = render_batch(
        [event],
        encoder=encoder,
        builder=builder,
        framing=None if options.transport == "udp" else options.effective_framing(),
        fixed_severity=options.fixed_severity(),
        dead_letter_oversize=options.oversize == "dead-letter",
    )
    reasons = "".join(f"!{r.reason}\n" for r in out.rejected)
    head = f"{len(out.messages)} {out.truncated} {out.accepted}|{reasons}"
    return head.encode("utf-8", "surrogatepass") + b"".join(m + b"\x1e" for m in out.messages) + b"\n"


def syslog_renderers() -> dict[str, Renderer]:
    """One renderer per :data:`SYSLOG` setting: an event's framed messages (or datagrams), its cut
    count and its refusal reasons, as the syslog sink's ``render_batch`` makes them."""
    renderers: dict[str, Renderer] = {}
    for label, format_name, format_options, sink_options in SYSLOG:
        options = SyslogSinkOptions.model_validate(
            {"host": "receiver", "hostname": "digest-host", "procid": "4242", **sink_options}
        )
        renderers[label] = functools.partial(
            _render, encoder=get_encoder(format_name, format_options), builder=message_builder(options), options=options
        )
    return renderers


def digest_stream(
    stream: str,
    records: int,
    mutations: int,
    encoders: dict[str, Encoder],
    renderers: dict[str, Renderer] | None = None,
) -> dict[str, Any]:
    """The digests of one stream: ``events``, ``refused``, and one SHA-256 per step, format and renderer."""
    profile = AccountProfile.build(SEED, "digest-client")
    spec = CATALOGUE[stream]
    normalise = _normaliser(stream)
    renderers = renderers or {}
    hashes = {name: hashlib.sha256() for name in ("id", "event", *encoders, *renderers)}
    events = refused = 0
    for case in _cases(stream, records, mutations, profile):
        if spec.event_id_of is not None:
            try:
                hashes["id"].update(str(spec.event_id_of(case)).encode() + b"\n")
            except Exception as exc:
                hashes["id"].update(_failure(exc) + b"\n")
        try:
            event = normalise(case)
        except Exception as exc:
            refused += 1
            hashes["event"].update(_failure(exc) + b"\n")
            continue
        events += 1
        hashes["event"].update(_event_bytes(event) + b"\n")
        for name, encoder in encoders.items():
            try:
                hashes[name].update(event_lines(encoder, event))
            except Exception as exc:
                hashes[name].update(_failure(exc) + b"\n")
        for name, render in renderers.items():
            try:
                hashes[name].update(render(event))
            except Exception as exc:
                hashes[name].update(_failure(exc) + b"\n")
    return {"events": events, "refused": refused, **{k: h.hexdigest() for k, h in hashes.items()}}


def digest_all(
    records: int, mutations: int, streams: list[str] | None = None, *, syslog: bool = False
) -> dict[str, dict[str, Any]]:
    """Digests of every registered stream (or of ``streams``), with the syslog settings' when asked."""
    encoders = {label: get_encoder(name, options) for label, name, options in FORMATS}
    renderers = syslog_renderers() if syslog else None
    return {s: digest_stream(s, records, mutations, encoders, renderers) for s in (streams or list(CATALOGUE))}


def compare(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
    """The differences between two digest files, one line each (empty when identical)."""
    problems = []
    for stream in sorted(set(before) | set(after)):
        old, new = before.get(stream), after.get(stream)
        if old is None or new is None:
            problems.append(f"{stream}: only in {'after' if old is None else 'before'}")
            continue
        problems.extend(
            f"{stream}/{key}: {old.get(key)} -> {new.get(key)}"
            for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key)
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.output_digest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=500, help="generated records per stream (default 500)")
    parser.add_argument("--mutations", type=int, default=3, help="hostile copies per base record (default 3)")
    parser.add_argument("--stream", action="append", help="only this stream (repeatable)")
    parser.add_argument(
        "--syslog", action="store_true", help="also digest every event as the syslog sink renders it (SYSLOG settings)"
    )
    parser.add_argument("--out", type=Path, help="write the digests here (JSON)")
    parser.add_argument(
        "--compare", type=Path, help="compare with a digest file written by --out; exit 1 on a difference"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.stream or ()) - set(CATALOGUE))
    if unknown:
        parser.error(f"--stream: unknown {', '.join(unknown)} (known: {', '.join(CATALOGUE)})")
    digests = digest_all(args.records, args.mutations, args.stream, syslog=args.syslog)
    total = sum(d["events"] for d in digests.values())
    refused = sum(d["refused"] for d in digests.values())
    settings = f"{len(FORMATS)} format settings" + (f", {len(SYSLOG)} syslog settings" if args.syslog else "")
    print(f"{len(digests)} streams, {total:,} events, {refused:,} records refused, {settings}")
    if args.out:
        args.out.write_bytes(orjson.dumps(digests, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        print(f"digests written to {args.out}")
    if args.compare:
        before = orjson.loads(args.compare.read_bytes())
        if args.stream:
            before = {s: d for s, d in before.items() if s in args.stream}
        problems = compare(before, digests)
        for line in problems:
            print(f"DIFFERENT {line}")
        print("identical" if not problems else f"{len(problems)} digests differ")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
