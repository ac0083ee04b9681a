"""Write docs/streams.md from the stream registry (mimecast_siem/streams/).

Usage: ``python scripts/gen_stream_docs.py`` (write) or ``--check`` (exit 1 if the file is stale).
"""

from __future__ import annotations

from pathlib import Path

from generated_doc import run

from mimecast_siem.streams.reference import render_stream_reference

DOC = Path(__file__).resolve().parent.parent / "docs" / "streams.md"


def main(argv: list[str] | None = None) -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    return run(DOC, render_stream_reference, script="gen_stream_docs.py", description=description, argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
