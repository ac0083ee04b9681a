"""The one entry point: ``mimecast-siem <command>``.

This is the one place that wires the rooms together: each room contributes its commands through a
``commands`` module exposing ``register(subparsers, ...) -> None``, and this module hands each what
it needs from the other rooms (the daemon gets the action API to mount, ``config check`` the
collector's connection checks, ``dead-letters`` the state store, config the sink types), so the
rooms themselves never import upwards or sideways. A registered sub-parser sets ``handler`` to a
callable ``(args: argparse.Namespace) -> int`` (exit code). Async handlers are run with
``asyncio.run``.

Exit codes: 0 ok, 1 runtime failure, 2 bad input or configuration, 3 Mimecast refused the request,
4 transport failure (network, TLS, timeouts), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import sys
from collections.abc import Sequence

from mimecast_siem import __version__, demo
from mimecast_siem.actions import commands as action_commands
from mimecast_siem.actions.daemon import configure_daemon_app
from mimecast_siem.checkpoints import StateStore
from mimecast_siem.collector import commands as collector_commands
from mimecast_siem.collector.connect import connect_checks
from mimecast_siem.config import commands as config_commands
from mimecast_siem.config import use_sink_types
from mimecast_siem.errors import ApiError, AuthError, ConfigError, MimecastSiemError, PermanentError
from mimecast_siem.observability.logging import scrub
from mimecast_siem.simulator import commands as simulator_commands
from mimecast_siem.sinks import SINK_TYPES
from mimecast_siem.sinks import commands as sink_commands

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
EXIT_TRANSPORT = 4
EXIT_INTERRUPTED = 130


def wire() -> None:
    """Hand config what it checks sink options against (the sinks room's entry-point registry)."""
    use_sink_types(SINK_TYPES)


def build_parser() -> argparse.ArgumentParser:
    """The ``mimecast-siem`` parser with every room's commands, in ``--help`` order, wired together."""
    wire()
    parser = argparse.ArgumentParser(
        prog="mimecast-siem",
        description="Pull Mimecast API 2.0 security logs into SIEMs; run Mimecast response actions.",
    )
    parser.add_argument("--version", action="version", version=f"mimecast-siem {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    collector_commands.register(sub, app_configurators=(configure_daemon_app,))  # run, backfill, checkpoints
    action_commands.register(sub)  # action, serve-actions
    sink_commands.register(sub, open_state=StateStore.open)  # dead-letters
    config_commands.register(sub, connect_checks=connect_checks)  # config check | schema
    simulator_commands.register(sub)  # simulate
    demo.register(sub)  # demo
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    if argv is None and args.command in LONG_RUNNING_COMMANDS:
        # A process of its own (console script, python -m): not a caller embedding main() (tests).
        tune_gc()
    try:
        result = asyncio.run(handler(args)) if inspect.iscoroutinefunction(handler) else handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MimecastSiemError as exc:
        # Our own errors carry messages written for operators, without secrets. A command that did
        # not handle one (a corrupt or too-new state database, say) still ends with that message and
        # an exit code, not a traceback.
        print(scrub(f"error: {exc}"), file=sys.stderr)
        for problem in exc.problems if isinstance(exc, ConfigError) else []:
            print(scrub(f"  - {problem.render()}"), file=sys.stderr)
        return exit_code_for(exc)
    return int(result or 0)


#: Commands that move events for a long time and get :func:`tune_gc`.
LONG_RUNNING_COMMANDS = frozenset({"run", "backfill", "serve-actions", "demo", "simulate"})

#: Allocations (net, of container objects) between young-generation collections; CPython's default is 700.
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Fewer and cheaper cyclic-GC passes for a process that builds millions of short-lived dicts.

    Events are trees of dicts and lists, freed by reference counting the moment a page is delivered.
    With CPython's default threshold (700) one page of 500 events set off ~20 young collections that
    promoted the page's live objects, so full collections ran every few pages and took ~45% of the
    daemon's CPU (bench/RESULTS.md). Objects alive after start-up (modules, settings) are frozen:
    never scanned again. Cyclic garbage is still collected, just in larger batches.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)


def exit_code_for(exc: MimecastSiemError) -> int:
    """The exit code of an error this package raised on purpose (see the module docstring)."""
    if isinstance(exc, ConfigError):
        return EXIT_BAD_INPUT
    if isinstance(exc, AuthError | PermanentError):
        return EXIT_REFUSED
    if isinstance(exc, ApiError):
        return EXIT_TRANSPORT
    return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
