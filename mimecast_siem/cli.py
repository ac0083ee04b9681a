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
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mimecast_siem import __version__
from mimecast_siem.errors import ApiError, AuthError, ConfigError, MimecastSiemError, PermanentError

if TYPE_CHECKING:
    from mimecast_siem.config.models import Settings
    from mimecast_siem.config.sink_types import SinkTypes
    from mimecast_siem.errors import ConfigProblem

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
EXIT_TRANSPORT = 4
EXIT_INTERRUPTED = 130


class _SinkTypesOnDemand:
    """The sinks room's entry-point registry, imported when config first asks (the sinks import aiohttp)."""

    def _types(self) -> SinkTypes:
        from mimecast_siem.sinks.registry import SINK_TYPES

        return SINK_TYPES

    def available(self) -> list[str]:
        """Every installed sink type name."""
        return self._types().available()

    def load(self, type_name: str) -> type[Any]:
        """The class of sink type ``type_name``."""
        return self._types().load(type_name)

    def validate(self, settings: Any) -> list[ConfigProblem]:
        """Problems of each sink's type-specific options."""
        return self._types().validate(settings)


def wire() -> None:
    """Hand config what it checks sink options against (the sinks room's entry-point registry)."""
    from mimecast_siem.config.sink_types import use_sink_types

    use_sink_types(_SinkTypesOnDemand())


# --- the rooms' commands, imported only when the command line names them ------------------------------
# Start-up cost is imports: the daemon, the action API, SQLAlchemy and aiohttp are ~1.3 CPU s together,
# which `--version`, `config check` and `simulate` do not need. Each room's `commands` module is imported
# when its command is asked for (every room for `--help` or an unknown command), and the wiring handed to
# a room is a small function that imports its target when called.


def _configure_daemon_app(*args: Any) -> Any:
    from mimecast_siem.actions.daemon import configure_daemon_app

    return configure_daemon_app(*args)


async def _connect_checks(settings: Settings) -> list[Any]:
    from mimecast_siem.collector.connect import connect_checks

    return await connect_checks(settings)


async def _open_state(url: str) -> Any:
    from mimecast_siem.checkpoints import StateStore

    return await StateStore.open(url)


def _register_collector(sub: argparse._SubParsersAction[Any]) -> None:
    from mimecast_siem.collector import commands

    commands.register(sub, app_configurators=(_configure_daemon_app,))  # run, backfill, checkpoints


def _register_actions(sub: argparse._SubParsersAction[Any]) -> None:
    from mimecast_siem.actions import commands

    commands.register(sub)  # action, serve-actions


def _register_sinks(sub: argparse._SubParsersAction[Any]) -> None:
    from mimecast_siem.sinks import commands

    commands.register(sub, open_state=_open_state)  # dead-letters, sinks


def _register_config(sub: argparse._SubParsersAction[Any]) -> None:
    from mimecast_siem.config import commands

    commands.register(sub, connect_checks=_connect_checks)  # config check | schema


def _register_simulator(sub: argparse._SubParsersAction[Any]) -> None:
    from mimecast_siem.simulator import commands

    commands.register(sub)  # simulate


def _register_demo(sub: argparse._SubParsersAction[Any]) -> None:
    from mimecast_siem import demo

    demo.register(sub)  # demo


#: Every room's registration, in ``--help`` order, with the commands it adds.
ROOMS: tuple[tuple[frozenset[str], Callable[[argparse._SubParsersAction[Any]], None]], ...] = (
    (frozenset({"run", "backfill", "checkpoints"}), _register_collector),
    (frozenset({"action", "serve-actions"}), _register_actions),
    (frozenset({"dead-letters", "sinks"}), _register_sinks),
    (frozenset({"config"}), _register_config),
    (frozenset({"simulate"}), _register_simulator),
    (frozenset({"demo"}), _register_demo),
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``mimecast-siem`` parser, wired together.

    Args:
        command: the command on the command line; only the room that owns it is imported and
            registered. ``None`` (or a command nobody owns) registers every room, for ``--help``
            and for argparse's "invalid choice" message.
    """
    wire()
    parser = argparse.ArgumentParser(
        prog="mimecast-siem",
        description="Pull Mimecast API 2.0 security logs into SIEMs; run Mimecast response actions.",
    )
    parser.add_argument("--version", action="version", version=f"mimecast-siem {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    owners = [register for commands, register in ROOMS if command in commands]
    for register in owners or [register for _, register in ROOMS]:
        register(sub)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command word: the first argument that is not an option (the top level has only flags)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (see the module docstring)."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words == ["--version"]:  # answered before any room is imported
        print(f"mimecast-siem {__version__}")
        return EXIT_OK
    command = _command_of(words)
    if argv is None and command in LONG_RUNNING_COMMANDS:
        # Before the rooms' imports (~650 modules): at CPython's threshold they set off hundreds of
        # young collections that only promote module objects; tune_gc() freezes them afterwards.
        raise_gc_threshold()
    from mimecast_siem.net import defer_aiohttp_default_tls

    defer_aiohttp_default_tls()  # before any room imports aiohttp (~50 ms and ~2 MB saved; net.py)
    parser = build_parser(command)
    args = parser.parse_args(words)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    import asyncio
    import inspect

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
        from mimecast_siem.observability.logging import scrub

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
    import gc

    gc.collect()
    gc.freeze()
    raise_gc_threshold()


def raise_gc_threshold() -> None:
    """Young-generation collections every :data:`GC_YOUNG_THRESHOLD` allocations (see :func:`tune_gc`)."""
    import gc

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
