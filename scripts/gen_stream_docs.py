"""Write docs/streams.md from the stream registry (mimecast_siem/streams/).

Usage: ``python scripts/gen_stream_docs.py`` (write) or ``--check`` (exit 1 if the file is stale).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mimecast_siem.streams.reference import render_stream_reference

DOC = Path(__file__).resolve().parent.parent / "docs" / "streams.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if docs/streams.md is not up to date")
    args = parser.parse_args(argv)
    text = render_stream_reference()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            sys.stderr.write(f"{DOC} is stale; run: python scripts/gen_stream_docs.py\n")
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {DOC}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
