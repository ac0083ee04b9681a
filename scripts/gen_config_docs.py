"""Write docs/config.md from the settings models' field descriptions.

Usage: ``python scripts/gen_config_docs.py`` (write) or ``--check`` (exit 1 if the file is stale).
"""

from __future__ import annotations

from pathlib import Path

from generated_doc import run

from mimecast_siem.config.reference import render_config_reference

DOC = Path(__file__).resolve().parent.parent / "docs" / "config.md"


def main(argv: list[str] | None = None) -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    return run(DOC, render_config_reference, script="gen_config_docs.py", description=description, argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
