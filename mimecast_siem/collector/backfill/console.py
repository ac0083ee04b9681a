"""What the ``backfill`` command returns and prints: exit codes, and lines to stdout or stderr.

Shared by ``commands`` (parsing, ``list``, ``cancel``, a job already done or queued) and
``foreground`` (running a job), which is imported only when a job runs.
"""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
#: The job ran to its end but a sink refused some events permanently (they are in the dead-letter file).
EXIT_DEAD_LETTERED = 3
EXIT_INTERRUPTED = 130


def out(text: str) -> None:
    """A line to stdout, flushed (results: a job's outcome, ``backfill list``)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def err(text: str) -> None:
    """A line to stderr, flushed (errors, notes, waiting for another runner)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


__all__ = ["EXIT_BAD_INPUT", "EXIT_DEAD_LETTERED", "EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "err", "out"]
