"""The command line every docs generator shares: write the file, or ``--check`` that it is up to date."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def run(doc: Path, render: Callable[[], str], *, script: str, description: str | None, argv: list[str] | None) -> int:
    """Write ``render()`` to ``doc`` (exit 0), or with ``--check`` exit 1 when ``doc`` differs from it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help=f"fail if docs/{doc.name} is not up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = doc.read_text(encoding="utf-8") if doc.exists() else ""
        if current != text:
            sys.stderr.write(f"{doc} is stale; run: python scripts/{script}\n")
            return 1
        return 0
    doc.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {doc}\n")
    return 0
