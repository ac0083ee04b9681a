"""CLI commands of the sinks room: ``mimecast-siem dead-letters list|replay`` and ``sinks status``.

``list`` shows dead-lettered events (newest last); ``replay`` sends them again through the sink they
were refused by (or only ``--sink NAME``), removing the ones that are delivered and keeping the rest
(with the new reason). ``--dry-run`` counts what would be sent without sending anything.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TextIO

from mimecast_siem import __version__
from mimecast_siem.errors import ConfigError
from mimecast_siem.sinks.base import Sink, SinkContext
from mimecast_siem.sinks.deadletter import DeadLetter, ReplayBusy, ReplayReport, dumps_event_json
from mimecast_siem.sinks.deadletter_store import DeadLetterStore, dead_letter_store
from mimecast_siem.sinks.registry import build_sinks

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


#: Opens the state store at a URL (``checkpoints.StateStore.open``): the sinks room does not import
#: the checkpoints room, so the CLI hands this over.
OpenState = Callable[[str], Awaitable[Any]]


def register(sub: argparse._SubParsersAction[Any], *, open_state: OpenState | None = None) -> None:
    """Add ``dead-letters`` with its ``list`` and ``replay`` sub-commands.

    Args:
        sub: the CLI's sub-parsers.
        open_state: opens the state store, whose table holds the dead letters with PostgreSQL state;
            without it the dead-letter file is used.
    """
    from mimecast_siem.config import add_config_arguments

    parser = sub.add_parser(
        "dead-letters",
        help="Inspect and replay events that sinks refused permanently.",
        description="Events a sink refused permanently are kept in the dead-letter file "
        "(dead_letter.path, default <data_dir>/dead-letters.ndjson) until replayed.",
    )
    actions = parser.add_subparsers(dest="dead_letters_command", metavar="ACTION")
    parser.set_defaults(handler=_missing_action(parser))

    listing = actions.add_parser("list", help="Show dead-lettered events.")
    add_config_arguments(listing)
    listing.add_argument("--sink", metavar="NAME", help="Only entries of this sink.")
    listing.add_argument("--limit", type=_non_negative, default=50, help="Show the newest N entries (default 50).")
    listing.add_argument("--json", action="store_true", help="Print full entries as JSON lines (events included).")
    listing.add_argument(
        "--output",
        "-o",
        choices=("text", "json"),
        default="text",
        help="text (a line per entry) or json: one document {where, total, shown, corrupt_lines, entries} "
        "with the entries' metadata (no events; docs/operations.md).",
    )
    listing.set_defaults(handler=list_command, open_state=open_state)

    replay = actions.add_parser("replay", help="Send dead-lettered events again; delivered ones are removed.")
    add_config_arguments(replay)
    replay.add_argument("--sink", metavar="NAME", help="Only replay entries of this sink.")
    replay.add_argument("--dry-run", action="store_true", help="Count what would be sent; send nothing.")
    replay.set_defaults(handler=replay_command, open_state=open_state)

    sinks = sub.add_parser(
        "sinks",
        help="Show the configured sinks and their durable queues.",
        description="Per sink: type, whether it has a durable queue, and the queue's depth (events, bytes), its "
        "oldest event's age and whether a process is draining it - read from the queue's files.",
    )
    sinks_actions = sinks.add_subparsers(dest="sinks_command", metavar="ACTION")
    sinks.set_defaults(handler=_missing_action(sinks))
    status = sinks_actions.add_parser("status", help="Queue depth, oldest event age and drain state per sink.")
    add_config_arguments(status)
    status.add_argument(
        "--output",
        "-o",
        choices=("text", "json"),
        default="text",
        help="text (a line per sink) or json: one document {sinks: [{name, type, enabled, queue}]} "
        "(queue null without a queue; else {path, events, bytes, oldest_age_seconds, max_bytes, when_full, draining}).",
    )
    status.set_defaults(handler=status_command)


def queue_status(settings: Any, sink: Any, *, now: float | None = None) -> dict[str, Any] | None:
    """The queue of ``sink`` as ``sinks status`` reports it (None when it has no queue); reads the files."""
    import time
    from pathlib import Path

    from mimecast_siem.sinks.queue import SegmentQueue

    queue = getattr(sink, "queue", None)
    if queue is None or not queue.enabled:
        return None
    directory = Path(queue.path or Path(settings.data_dir) / "queues" / sink.name)
    if not directory.is_dir():
        events, size, oldest, draining = 0, 0, None, False
    else:
        store = SegmentQueue(directory, max_bytes=queue.max_bytes)
        events, size = store.count()
        oldest = store.oldest_enqueued
        draining = not store.try_drain_lock()
        store.release_drain_lock()
    current = time.time() if now is None else now
    return {
        "path": str(directory),
        "events": events,
        "bytes": size,
        "oldest_age_seconds": round(max(0.0, current - oldest), 3) if events and oldest is not None else 0.0,
        "max_bytes": queue.max_bytes,
        "when_full": queue.when_full,
        "draining": draining,
    }


def status_command(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """``sinks status``: every configured sink and its queue (a table, or one JSON document)."""
    from mimecast_siem.config import settings_from_args

    out = out or sys.stdout
    settings = settings_from_args(args)
    rows: list[dict[str, Any]] = [
        {"name": s.name, "type": s.type, "enabled": s.enabled, "queue": queue_status(settings, s)}
        for s in settings.sinks
    ]
    if getattr(args, "output", "text") == "json":
        out.write(dumps_event_json({"sinks": rows}).decode() + "\n")
    else:
        for row in rows:
            queue = row["queue"]
            state = "" if row["enabled"] else "  (disabled)"
            if queue is None:
                out.write(f"{row['name']}  {row['type']}  no queue{state}\n")
                continue
            drain = "draining" if queue["draining"] else "not draining (no daemon running?)"
            out.write(
                f"{row['name']}  {row['type']}  queue: {queue['events']} events, {queue['bytes']} bytes, "
                f"oldest {queue['oldest_age_seconds']:.0f} s, {drain}{state}\n"
            )
    out.flush()
    return EXIT_OK


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def _missing_action(parser: argparse.ArgumentParser) -> Any:
    def handler(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT

    return handler


@contextlib.asynccontextmanager
async def _dead_letters(settings: Any, open_state: OpenState | None) -> AsyncIterator[DeadLetterStore]:
    """The dead-letter store the daemon writes to: the state store's table with PostgreSQL state, else the file."""
    state: Any = None
    if settings.state_url().startswith("postgresql") and open_state is not None:
        state = await open_state(settings.state_url())
    try:
        yield dead_letter_store(settings, state)
    finally:
        if state is not None:
            await state.close()


async def list_command(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """``dead-letters list``: print entries (a table, a JSON document, or JSON lines with ``--json``)."""
    from mimecast_siem.config import settings_from_args

    out = out or sys.stdout
    settings = settings_from_args(args)
    async with _dead_letters(settings, getattr(args, "open_state", None)) as store:
        read = await store.read_all(sink=args.sink)
    entries = read.entries[-args.limit :] if args.limit else []
    if getattr(args, "output", "text") == "json" and not args.json:
        document = {
            "where": store.where,
            "total": len(read.entries),
            "shown": len(entries),
            "corrupt_lines": read.corrupt_lines,
            "entries": [entry_summary(entry) for entry in entries],
        }
        out.write(dumps_event_json(document).decode() + "\n")
    elif args.json:
        for entry in entries:
            out.write(dumps_event_json(entry.to_json()).decode() + "\n")
    else:
        for entry in entries:
            reason = entry.reason if len(entry.reason) <= 100 else entry.reason[:97] + "..."
            out.write(
                f"{entry.ts.isoformat(timespec='seconds')}  {entry.sink}  {entry.tenant}/{entry.stream}  "
                f"{entry.event_id}  {reason}\n"
            )
        shown = f"showing {len(entries)} of {len(read.entries)}" if len(entries) < len(read.entries) else ""
        summary = f"{len(read.entries)} dead letter(s)" + (f" ({shown})" if shown else "")
        if read.corrupt_lines:
            summary += f"; {read.corrupt_lines} unreadable line(s) skipped"
        out.write(summary + f" in {store.where}\n")
    out.flush()
    return EXIT_OK


def entry_summary(entry: DeadLetter) -> dict[str, Any]:
    """One entry of ``dead-letters list --output json``: its metadata, not the event (pure)."""
    return {
        "ts": entry.ts.isoformat(timespec="seconds"),
        "sink": entry.sink,
        "tenant": entry.tenant,
        "stream": entry.stream,
        "event_id": entry.event_id,
        "reason": entry.reason,
        "attempts": entry.attempts,
    }


async def replay_command(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """``dead-letters replay``: re-send entries; exit 0 when everything attempted was delivered."""
    from mimecast_siem.config import settings_from_args

    out = out or sys.stdout
    settings = settings_from_args(args)
    configured = {s.name for s in settings.sinks}
    if args.sink is not None and args.sink not in configured:
        allowed = ", ".join(sorted(configured)) or "(no sinks configured)"
        sys.stderr.write(f"error: --sink: no sink named {args.sink!r} in the configuration; configured: {allowed}\n")
        return EXIT_BAD_INPUT
    async with _dead_letters(settings, getattr(args, "open_state", None)) as store:
        wanted = {e.sink for e in (await store.read_all(sink=args.sink)).entries} & configured
        result = await _replay(args, settings, store, wanted, out)
    if isinstance(result, int):
        return result
    report, started, sinks = result
    _print_report(report, out)
    failed = report.failed or (len(started) < len(sinks) and not args.dry_run)
    return EXIT_FAILURE if failed else EXIT_OK


async def _replay(
    args: argparse.Namespace, settings: Any, store: DeadLetterStore, wanted: set[str], out: TextIO
) -> int | tuple[ReplayReport, dict[str, Sink], dict[str, Sink]]:
    """Build and start the sinks of ``wanted``, replay, close them; an exit code when it could not run."""
    from mimecast_siem.config import print_problems

    context = SinkContext(
        data_dir=settings.data_dir, instance_id=f"{socket.gethostname()}-{os.getpid()}-replay", version=__version__
    )
    try:
        sinks = build_sinks(settings, context, names=wanted)
    except ConfigError as exc:
        print_problems(exc, sys.stderr)
        return EXIT_BAD_INPUT
    batch_sizes = {s.name: s.batch_max_events for s in settings.sinks}
    started: dict[str, Sink] = {}
    try:
        if not args.dry_run:
            for name, sink in sinks.items():
                try:
                    await sink.start()
                except Exception as exc:
                    out.write(f"sink {name}: could not start ({type(exc).__name__}: {exc}); its entries stay\n")
                    continue
                started[name] = sink
        try:
            report = await store.replay(
                sinks if args.dry_run else started,
                only_sink=args.sink,
                batch_max_events=batch_sizes,
                dry_run=args.dry_run,
            )
        except ReplayBusy as exc:
            sys.stderr.write(f"error: {exc}\n")
            return EXIT_FAILURE
    finally:
        for sink in started.values():
            try:
                await sink.close()
            except Exception as exc:
                out.write(f"warning: a sink did not close cleanly ({type(exc).__name__})\n")
    return report, started, sinks


def _print_report(report: ReplayReport, out: TextIO) -> None:
    verb = "would send" if report.dry_run else "sent"
    if not report.outcomes and not report.skipped_unknown_sink:
        out.write("nothing to replay\n")
    for name, outcome in sorted(report.outcomes.items()):
        if report.dry_run:
            out.write(f"sink {name}: {verb} {outcome.attempted} event(s)\n")
            continue
        line = f"sink {name}: {verb} {outcome.attempted}, delivered {outcome.delivered}"
        if outcome.rejected:
            line += f", refused again {outcome.rejected}"
        if outcome.failed:
            line += f", failed {outcome.failed}"
        if outcome.error:
            line += f" ({outcome.error})"
        out.write(line + "\n")
    for name, count in sorted(report.skipped_unknown_sink.items()):
        out.write(f"sink {name}: {count} entr{'y' if count == 1 else 'ies'} kept (no such sink in the configuration)\n")
    if report.corrupt_lines:
        out.write(f"{report.corrupt_lines} unreadable line(s) not replayed and left in place for inspection\n")
    if not report.dry_run:
        out.write(f"{report.kept} dead letter(s) remain\n")
    out.flush()
