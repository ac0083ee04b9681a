"""CLI commands of the collector room: ``run`` and ``checkpoints list|set|reset``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mimecast_siem.checkpoints import StateStoreError
from mimecast_siem.collector.backfill import commands as backfill_commands
from mimecast_siem.config import (
    STREAM_NAMES,
    Settings,
    add_config_arguments,
    add_output_argument,
    print_problems,
    settings_from_args,
)
from mimecast_siem.errors import ConfigError
from mimecast_siem.times import format_utc, parse_time_or_age, time_back_from

if TYPE_CHECKING:
    from mimecast_siem.collector.daemon import AppConfigurator

log = logging.getLogger("mimecast_siem.collector")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def register(sub: argparse._SubParsersAction[Any], *, app_configurators: Sequence[AppConfigurator] = ()) -> None:
    """Add ``run``, ``checkpoints`` and ``backfill`` to ``sub``.

    Args:
        sub: the CLI's sub-parsers.
        app_configurators: what ``run`` mounts on the daemon's HTTP port (the CLI passes the action API).
    """
    run = sub.add_parser(
        "run",
        help="Run the collector daemon: poll every configured stream, deliver to the sinks, serve /metrics.",
        description="Poll every enabled stream of every tenant, deliver events to the configured sinks "
        "(checkpoint only after delivery), and serve /metrics, /healthz and /readyz. Stops cleanly on "
        "SIGTERM/SIGINT within daemon.shutdown_grace.",
    )
    add_config_arguments(run)
    run.add_argument(
        "--port-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="Write the HTTP port here once listening (useful with server.port: 0).",
    )
    run.set_defaults(handler=run_command, app_configurators=tuple(app_configurators))

    checkpoints = sub.add_parser(
        "checkpoints",
        help="Inspect or move stream checkpoints.",
        description="List, set or reset the committed position of each (tenant, stream).",
    )
    actions = checkpoints.add_subparsers(dest="checkpoints_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="Show every checkpoint, its lag and its lease holder.")
    add_config_arguments(listing)
    add_output_argument(listing)
    listing.set_defaults(handler=checkpoints_list)

    setting = actions.add_parser("set", help="Move a checkpoint (backwards to re-read, forwards to skip).")
    add_config_arguments(setting)
    _key_arguments(setting)
    setting.add_argument(
        "--to",
        required=True,
        metavar="TIME",
        help="New position: ISO-8601 (2026-11-01T00:00:00Z; UTC if no offset) or a duration back from now (2h, 7d).",
    )
    setting.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
    setting.set_defaults(handler=checkpoints_set)

    resetting = actions.add_parser(
        "reset", help="Forget a checkpoint (and its seen ids and snapshot): the stream starts from start_from."
    )
    add_config_arguments(resetting)
    _key_arguments(resetting)
    resetting.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
    resetting.set_defaults(handler=checkpoints_reset)

    backfill_commands.register(sub)


def _key_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", required=True, help="Tenant name as configured.")
    parser.add_argument("--stream", required=True, help=f"Stream name: {', '.join(STREAM_NAMES)}.")


# --- run ------------------------------------------------------------------------------------------


async def run_command(args: argparse.Namespace) -> int:
    """``mimecast-siem run``."""
    from mimecast_siem.collector.daemon import Daemon

    settings = settings_from_args(args)
    daemon = Daemon(
        settings,
        port_file=getattr(args, "port_file", None),
        app_configurators=getattr(args, "app_configurators", ()),
    )
    try:
        return await daemon.run()
    except ConfigError as exc:
        print_problems(exc, sys.stderr)
        return EXIT_BAD_INPUT
    except StateStoreError as exc:
        _err(f"error: the state store is not usable: {exc}")
        return EXIT_FAILURE


# --- checkpoints ------------------------------------------------------------------------------------


def parse_checkpoint_time(text: str, now: datetime) -> datetime:
    """``--to``: an ISO-8601 time (UTC when no offset) or a duration back from ``now``; never the future.

    Raises:
        ValueError: with a message naming the flag, the value and what is allowed.
    """
    try:
        when = time_back_from(parse_time_or_age(text), now).astimezone(UTC)
    except ValueError as exc:
        raise ValueError(f"--to {text!r} is not a time: {exc}") from None
    if when > now:
        raise ValueError(f"--to {text!r} is in the future ({when.isoformat()}); a checkpoint must not pass now")
    return when.replace(microsecond=0)


def _check_key(settings: Settings, tenant: str, stream: str) -> str | None:
    names = [t.name for t in settings.tenants]
    if tenant not in names:
        return f"--tenant {tenant!r} is not configured; configured tenants: {', '.join(names)}"
    if stream not in STREAM_NAMES:
        return f"--stream {stream!r} is unknown; allowed: {', '.join(STREAM_NAMES)}"
    return None


def confirm(
    question: str, *, assume_yes: bool, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> bool | None:
    """Ask ``question``; True/False from the answer, ``None`` when there is nobody to ask (no TTY)."""
    if assume_yes:
        return True
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if not stdin.isatty():
        return None
    stdout.write(f"{question} [y/N] ")
    stdout.flush()
    answer = stdin.readline().strip().lower()
    return answer in ("y", "yes")


def siem_note(snapshot: dict[str, dict[str, Any]]) -> str | None:
    """The operator note a SIEM stream keeps with its cursor (a gap, a replaced cursor), if any."""
    cursor = snapshot.get("cursor")
    note = cursor.get("note") if isinstance(cursor, dict) else None
    return note if isinstance(note, str) and note else None


async def checkpoints_list(args: argparse.Namespace) -> int:
    """``mimecast-siem checkpoints list``."""
    settings = settings_from_args(args)
    from mimecast_siem.checkpoints import StateStore

    async with await StateStore.open(settings.state_url()) as store:
        rows = await store.list_checkpoints()
        leases = {(lease.tenant, lease.stream): lease for lease in await store.list_leases()}
        notes = {
            (row.tenant, row.stream): note
            for row in rows
            if row.stream.startswith("siem-")
            and (note := siem_note(await store.load_snapshot(row.tenant, row.stream))) is not None
        }
    now = datetime.now(UTC)
    if getattr(args, "output", "text") == "json":
        documents = []
        for row in rows:
            lease = leases.get((row.tenant, row.stream))
            documents.append(
                {
                    "tenant": row.tenant,
                    "stream": row.stream,
                    "checkpoint": format_utc(row.window_end),
                    "lag_seconds": max(int((now - row.window_end).total_seconds()), 0),
                    "updated_by": row.updated_by,
                    "lease_holder": lease.owner if lease is not None and lease.held_at(now) else None,
                    "note": notes.get((row.tenant, row.stream)),
                }
            )
        _out(json.dumps({"checkpoints": documents}, indent=2))
        return EXIT_OK
    header = ("TENANT", "STREAM", "CHECKPOINT", "LAG", "UPDATED BY", "LEASE HOLDER")
    table: list[tuple[str, ...]] = [header]
    for row in rows:
        lease = leases.get((row.tenant, row.stream))
        holder = lease.owner if lease is not None and lease.held_at(now) else "-"
        table.append(
            (
                row.tenant,
                row.stream,
                format_utc(row.window_end),
                _human(now - row.window_end),
                row.updated_by or "-",
                holder,
            )
        )
        note = notes.get((row.tenant, row.stream))
        if note:
            table.append(("", f"  note: {note}", "", "", "", ""))
    if len(table) == 1:
        _out("No checkpoints yet: no stream has committed a window.")
        return EXIT_OK
    widths = [max(len(r[i]) for r in table if not r[1].startswith("  note: ")) for i in range(len(header))]
    for r in table:
        if r[1].startswith("  note: "):
            _out(f"{r[0].ljust(widths[0])}{r[1]}")
            continue
        _out("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return EXIT_OK


async def checkpoints_set(args: argparse.Namespace) -> int:
    """``mimecast-siem checkpoints set --tenant T --stream S --to TIME [--yes]``."""
    settings = settings_from_args(args)
    problem = _check_key(settings, args.tenant, args.stream)
    if problem:
        _err(f"error: {problem}")
        return EXIT_BAD_INPUT
    try:
        when = parse_checkpoint_time(args.to, datetime.now(UTC))
    except ValueError as exc:
        _err(f"error: {exc}")
        return EXIT_BAD_INPUT
    from mimecast_siem.checkpoints import StateStore

    async with await StateStore.open(settings.state_url()) as store:
        current = await store.get_checkpoint(args.tenant, args.stream)
        question = (
            f"Move the checkpoint of {args.tenant}/{args.stream} from "
            f"{current.isoformat() if current else 'unset'} to {when.isoformat()}?"
            + (" Events after it will be delivered again." if current and when < current else "")
            + (" Events between them will be skipped." if current and when > current else "")
        )
        answer = confirm(question, assume_yes=args.yes)
        if answer is None:
            _err("error: refusing to move a checkpoint without confirmation; pass --yes")
            return EXIT_BAD_INPUT
        if not answer:
            _out("Not changed.")
            return EXIT_FAILURE
        await store.set_checkpoint(args.tenant, args.stream, when, by="cli")
    _out(f"Checkpoint of {args.tenant}/{args.stream} set to {when.isoformat()}.")
    return EXIT_OK


async def checkpoints_reset(args: argparse.Namespace) -> int:
    """``mimecast-siem checkpoints reset --tenant T --stream S [--yes]``."""
    settings = settings_from_args(args)
    problem = _check_key(settings, args.tenant, args.stream)
    if problem:
        _err(f"error: {problem}")
        return EXIT_BAD_INPUT
    from mimecast_siem.checkpoints import StateStore

    async with await StateStore.open(settings.state_url()) as store:
        current = await store.get_checkpoint(args.tenant, args.stream)
        answer = confirm(
            f"Forget the checkpoint of {args.tenant}/{args.stream} "
            f"({current.isoformat() if current else 'unset'}), its seen ids and its snapshot? "
            "The stream restarts from start_from.",
            assume_yes=args.yes,
        )
        if answer is None:
            _err("error: refusing to reset a checkpoint without confirmation; pass --yes")
            return EXIT_BAD_INPUT
        if not answer:
            _out("Not changed.")
            return EXIT_FAILURE
        await store.reset_checkpoint(args.tenant, args.stream)
    _out(f"Checkpoint of {args.tenant}/{args.stream} reset.")
    return EXIT_OK


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "ahead"
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
