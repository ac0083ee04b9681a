"""The one entry point: ``mimecast-siem <command>``.

Each room contributes its commands through a ``commands`` module exposing
``register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None``. A registered
sub-parser sets ``handler`` to a callable ``(args: argparse.Namespace) -> int`` (exit code). Async
handlers are run with ``asyncio.run``.

Exit codes: 0 ok, 1 runtime failure, 2 bad input or configuration, 3 Mimecast refused the request,
4 transport failure (network, TLS, timeouts), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import sys
from collections.abc import Sequence

from mimecast_siem import __version__

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
EXIT_TRANSPORT = 4
EXIT_INTERRUPTED = 130

#: Modules that add sub-commands, in the order they appear in ``--help``.
COMMAND_MODULES: tuple[str, ...] = (
    "mimecast_siem.collector.commands",  # run, backfill, checkpoints
    "mimecast_siem.actions.commands",  # action, serve-actions
    "mimecast_siem.sinks.commands",  # dead-letters
    "mimecast_siem.config.commands",  # config check | schema
    "mimecast_siem.simulator.commands",  # simulate
    "mimecast_siem.demo",  # demo
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mimecast-siem",
        description="Pull Mimecast API 2.0 security logs into SIEMs; run Mimecast response actions.",
    )
    parser.add_argument("--version", action="version", version=f"mimecast-siem {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        result = asyncio.run(handler(args)) if inspect.iscoroutinefunction(handler) else handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
