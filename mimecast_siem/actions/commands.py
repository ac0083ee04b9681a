"""CLI of the actions room: ``mimecast-siem action list|describe|run|audit`` and ``serve-actions``.

Output is JSON on stdout (a result document, or the RFC 9457 problem document on failure) with a
one-line human summary of problems on stderr. Exit codes: 0 ok, 2 bad input (validation happens
before any request), 3 Mimecast refusal, 4 transport failure, 5 partly done (a batch where some
items succeeded and some failed), 6 outcome unknown (a write may have reached Mimecast; check
before retrying), 1 anything else. The CLI is a local
operator tool: it uses the configuration's credentials and audits its calls as ``cli:<os user>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from mimecast_siem.actions.audit import AuditTrail
from mimecast_siem.actions.catalogue import CATALOGUE
from mimecast_siem.actions.http import build_actions_app
from mimecast_siem.actions.openapi import MAX_LIMIT, catalogue_entry, parameter_table, params_schema
from mimecast_siem.actions.outcome import Outcome
from mimecast_siem.actions.service import ActionCall, ActionResult, ActionService
from mimecast_siem.actions.spec import ActionSpec, ResultKind
from mimecast_siem.config import add_config_arguments, add_output_argument, settings_from_args
from mimecast_siem.config.models import Settings
from mimecast_siem.errors import did_you_mean
from mimecast_siem.times import parse_time_or_age, time_back_from

log = logging.getLogger("mimecast_siem.actions")

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


class ParamsArgumentError(ValueError):
    """``--params`` / ``-p`` could not be turned into a parameters object."""


def parse_param_pairs(pairs: Sequence[str], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge ``key=value`` pairs into ``base`` (pure).

    A value that parses as JSON is used as JSON (``ids=["a","b"]``, ``notify=true``), anything else is a
    string. Dotted keys nest (``policy.description=x`` -> ``{"policy": {"description": "x"}}``).
    """
    out: dict[str, Any] = dict(base or {})
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ParamsArgumentError(f"-p expects key=value, got {pair[:80]!r}")
        try:
            value: Any = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = text
        parts = key.split(".")
        if any(not p for p in parts):
            raise ParamsArgumentError(f"-p key {key[:80]!r} has an empty part")
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ParamsArgumentError(f"-p key {'.'.join(parts[: i + 1])!r} is already set to a non-object value")
            node = child
        node[parts[-1]] = value
    return out


def load_params_argument(text: str | None) -> dict[str, Any]:
    """``--params '{json}'`` or ``--params @file.json`` (``@-`` reads stdin) as an object."""
    if text is None:
        return {}
    source = "--params"
    if text.startswith("@"):
        path = text[1:]
        source = f"--params file {path}"
        try:
            raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        except OSError as exc:
            raise ParamsArgumentError(f"cannot read {path}: {exc.strerror or exc}") from None
    else:
        raw = text.encode()
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ParamsArgumentError(f"{source} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ParamsArgumentError(f"{source} must be a JSON object")
    return value


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    sys.stderr.write(f"error: {message}\n")
    return code


def cli_user() -> str:
    """``cli:<os user>`` as recorded in the audit."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"cli:{user[:56]}"


# --- list / describe ---------------------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    entries = [catalogue_entry(spec) for spec in CATALOGUE.values()]
    if getattr(args, "output", "json") == "text":
        width = max((len(e["name"]) for e in entries), default=0)
        for entry in entries:
            sys.stdout.write(f"{entry['name'].ljust(width)}  {entry.get('summary') or ''}".rstrip() + "\n")
        return EXIT_OK
    _print_json(entries)
    return EXIT_OK


def _unknown_action(name: str) -> int:
    return _fail(f"unknown action {name!r}{did_you_mean(name, CATALOGUE)}; `mimecast-siem action list` shows them")


def _describe(args: argparse.Namespace) -> int:
    spec = CATALOGUE.get(args.name)
    if spec is None:
        return _unknown_action(args.name)
    _print_json(catalogue_entry(spec) | {"parameters": parameter_table(spec), "schema": params_schema(spec)})
    return EXIT_OK


# --- run ---------------------------------------------------------------------------------------------


async def _open_audit(settings: Settings) -> tuple[AuditTrail, Any]:
    from mimecast_siem.checkpoints import StateStore

    store = await StateStore.open(settings.state_url())
    return AuditTrail(store.record_audit), store


def _run(args: argparse.Namespace) -> int:
    """Check the arguments (no I/O beyond reading --params files), then run the action."""
    spec = CATALOGUE.get(args.name)
    if spec is None:
        return _unknown_action(args.name)
    try:
        params = parse_param_pairs(args.param or [], load_params_argument(args.params))
    except ParamsArgumentError as exc:
        return _fail(str(exc))
    if args.limit is not None and spec.kind is not ResultKind.PAGED:
        return _fail(f"--limit applies to paginated reads only; {spec.name} is not one")
    if args.limit is not None and not 1 <= args.limit <= MAX_LIMIT:
        return _fail(f"--limit must be from 1 to {MAX_LIMIT}")
    output: Path | None = Path(args.output) if args.output else None
    if spec.kind is ResultKind.BINARY and not args.dry_run:
        if output is None:
            return _fail(f"{spec.name} returns a file: give --output PATH")
        if output.exists() and not args.overwrite:
            return _fail(f"{output} exists; remove it or pass --overwrite")
    elif output is not None:
        return _fail(f"--output applies to file downloads only; {spec.name} returns JSON")
    settings = settings_from_args(args)
    return asyncio.run(_run_checked(args, spec, params, output, settings))


async def _run_checked(
    args: argparse.Namespace, spec: ActionSpec, params: dict[str, Any], output: Path | None, settings: Settings
) -> int:
    try:
        audit, store = await _open_audit(settings)
    except Exception as exc:
        # Fail closed: an action that cannot be audited is not run.
        return _fail(f"cannot open the state store to record the audit ({type(exc).__name__}); nothing was sent", 1)
    service = ActionService(settings, audit=audit)
    try:
        call = ActionCall(
            action=spec.name,
            params=params,
            who=cli_user(),
            channel="cli",
            tenant=args.tenant,
            dry_run=args.dry_run,
            limit=args.limit,
            client="local",
        )
        if output is not None and spec.kind is ResultKind.BINARY and not args.dry_run:
            result = await _download(service, call, output)
        else:
            result = await service.run(call)
    finally:
        await service.close()
        await store.close()
    if result.problem is not None:
        doc = result.problem.document(instance=f"cli:action/{spec.name}")
        _print_json(doc)
        errors = doc.get("errors") or []
        detail = "; ".join(
            f"{e.get('key')}: {e.get('message')}"
            + (f" (allowed: {', '.join(map(str, e['allowed']))})" if e.get("allowed") else "")
            for e in errors
        )
        sys.stderr.write(f"error: {detail or doc['detail']}\n")
        return result.exit_code
    _print_json(result.document)
    if result.outcome is Outcome.PARTIAL and result.document is not None:
        failed = result.document.get("items", {}).get("failed", 0)
        sys.stderr.write(f"warning: partly done: {failed} item(s) failed; see failed in the result\n")
    return result.exit_code


async def _download(service: ActionService, call: ActionCall, output: Path) -> ActionResult:
    partial = output.with_name(output.name + ".part")
    with partial.open("wb") as handle:
        result = await service.run(call.downloading_to(handle))
    if result.ok and result.document is not None:
        partial.replace(output)
        result.document["result"]["file"] = str(output)
    else:
        partial.unlink(missing_ok=True)
    return result


# --- audit -------------------------------------------------------------------------------------------


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since``: an ISO-8601 time (UTC when no offset) or a duration back from now (``1h``, ``7d``)."""
    return time_back_from(parse_time_or_age(text), now or datetime.now(UTC))


async def _audit(args: argparse.Namespace) -> int:
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        return _fail(f"--since: {exc}")
    if not 1 <= args.limit <= 100_000:
        return _fail("--limit must be from 1 to 100000")
    settings = settings_from_args(args)
    from mimecast_siem.checkpoints import StateStore

    store = await StateStore.open(settings.state_url())
    try:
        rows = await store.list_audit(limit=args.limit, action=args.action, since=since)
    finally:
        await store.close()
    _print_json(
        [
            {
                "at": r.at.astimezone(UTC).isoformat(),
                "who": r.actor,
                "action": r.action,
                "tenant": r.tenant,
                "param_digest": r.param_digest,
                "dry_run": r.dry_run,
                "outcome": r.outcome,
                "mimecast_status": r.mimecast_status,
                "error_code": r.error_code,
                "duration_ms": r.duration_ms,
                "channel": r.channel,
                "client": r.client,
                "items": r.items,
            }
            for r in rows
        ]
    )
    return EXIT_OK


# --- serve-actions -----------------------------------------------------------------------------------


async def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    settings = settings_from_args(args)
    if not settings.actions.tokens:
        return _fail("the action API needs at least one token in actions.tokens; nothing to serve")
    if not settings.actions.enabled:
        return _fail("actions.enabled is false; nothing to serve")
    try:
        audit, store = await _open_audit(settings)
    except Exception as exc:
        return _fail(f"cannot open the state store to record the audit ({type(exc).__name__})", 1)
    service = ActionService(settings, audit=audit)
    app = build_actions_app(service, idempotency=store)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host = args.host or settings.server.host
    port = settings.server.port if args.port is None else args.port
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # the bound socket tells the real port when port 0 was asked
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    if args.port_file:
        await asyncio.to_thread(Path(args.port_file).write_text, f"{bound}\n")
    log.info("Serving the action API on %s:%s.", host, bound)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await store.close()
    return EXIT_OK


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``action`` and ``serve-actions`` to the CLI."""
    action = sub.add_parser("action", help="Run Mimecast response actions (list, describe, run, audit).")
    action_sub = action.add_subparsers(dest="action_command", metavar="SUBCOMMAND")
    action.set_defaults(handler=lambda _a: (action.print_help(sys.stderr), EXIT_BAD_INPUT)[1])

    p_list = action_sub.add_parser("list", help="List every action (JSON by default).")
    # The catalogue is built in; --config is accepted (and ignored) like every other action sub-command.
    add_config_arguments(p_list)
    add_output_argument(p_list, default="json")
    p_list.set_defaults(handler=_list)

    p_desc = action_sub.add_parser("describe", help="Show an action's parameters and JSON schema.")
    p_desc.add_argument("name", help="Action name, e.g. release-held-message.")
    p_desc.set_defaults(handler=_describe)

    p_run = action_sub.add_parser("run", help="Run an action against a tenant.")
    p_run.add_argument("name", help="Action name, e.g. release-held-message.")
    p_run.add_argument("--params", help="Parameters as JSON, or @file.json (@- for stdin).")
    p_run.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="One parameter (repeatable); VALUE is JSON when it parses, else a string; dotted keys nest.",
    )
    p_run.add_argument("--dry-run", action="store_true", help="Print the exact request(s) without sending.")
    p_run.add_argument("--tenant", help="Tenant name (default: actions.default_tenant or the only tenant).")
    p_run.add_argument("--output", help="File to write a downloaded file to (get-archive-file, get-file).")
    p_run.add_argument("--overwrite", action="store_true", help="Replace an existing --output file.")
    p_run.add_argument("--limit", type=int, help="Most records a paginated read returns.")
    add_config_arguments(p_run)
    p_run.set_defaults(handler=_run)

    p_audit = action_sub.add_parser("audit", help="List audited action calls, newest first.")
    p_audit.add_argument("--limit", type=int, default=100, help="Most records (default 100).")
    p_audit.add_argument("--action", help="Only this action.")
    p_audit.add_argument("--since", help="Only since this time (ISO-8601) or duration back (1h, 7d).")
    add_config_arguments(p_audit)
    p_audit.set_defaults(handler=_audit)

    serve = sub.add_parser("serve-actions", help="Serve only the response-action HTTP API.")
    serve.add_argument("--host", help="Listen address (default server.host).")
    serve.add_argument("--port", type=int, help="Listen port (default server.port; 0 = a free port).")
    serve.add_argument("--port-file", help="Write the bound port to this file once listening.")
    add_config_arguments(serve)
    serve.set_defaults(handler=_serve)
