"""Command-line glue every command that needs configuration uses.

Secrets never come from the command line: the only config-related flags are the file path and
the log level and format.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import TextIO

from mimecast_siem.config.loader import load_settings
from mimecast_siem.config.models import Settings
from mimecast_siem.errors import ConfigError
from mimecast_siem.observability.logging import LOG_FORMATS, LOG_LEVELS, configure_logging

#: Exit code for bad input or configuration (same as ``cli.EXIT_BAD_INPUT``).
EXIT_BAD_CONFIG = 2


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config PATH``, ``--log-level`` and ``--log-format`` to ``parser``."""
    group = parser.add_argument_group("configuration")
    group.add_argument(
        "--config",
        metavar="PATH",
        default=None,
        help="YAML configuration file (default: $MIMECAST_SIEM_CONFIG; without either, the environment only).",
    )
    group.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=None,
        help="Override logging.level from the configuration.",
    )
    group.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=None,
        help="Override logging.format: json, console, or auto (console on a TTY).",
    )


#: ``--output`` choices of the list and check commands (``text`` for people, ``json`` for scripts).
OUTPUT_FORMATS = ("text", "json")


def add_output_argument(parser: argparse.ArgumentParser, *, default: str = "text") -> None:
    """Add ``--output {text,json}`` (the JSON shapes are documented in docs/operations.md)."""
    parser.add_argument(
        "--output",
        "-o",
        choices=OUTPUT_FORMATS,
        default=default,
        help=f"Output format (default {default}); json is one document with a stable shape (docs/operations.md).",
    )


def settings_from_args(
    args: argparse.Namespace, env: Mapping[str, str] | None = None, *, stderr: TextIO | None = None
) -> Settings:
    """Load the settings named by ``args`` and configure logging from them (flags win).

    On invalid configuration every problem is printed to stderr and ``SystemExit(2)`` is raised.
    """
    level = getattr(args, "log_level", None)
    fmt = getattr(args, "log_format", None)
    # Logging first, so warnings raised while loading (TLS verification off) are formatted.
    configure_logging(level or "INFO", fmt or "auto")
    try:
        settings = load_settings(getattr(args, "config", None), env)
    except ConfigError as exc:
        print_problems(exc, stderr or sys.stderr)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    configure_logging(level or settings.logging.level, fmt or settings.logging.format)
    return settings


def print_problems(error: ConfigError, out: TextIO) -> None:
    """Write every problem of ``error``, one per line, for a person to fix."""
    problems = error.problems
    if not problems:
        out.write(f"error: {error}\n")
        return
    count = len(problems)
    out.write(f"error: the configuration has {count} problem{'s' if count != 1 else ''}:\n")
    for problem in problems:
        out.write(f"  - {problem.render()}\n")
    out.flush()
