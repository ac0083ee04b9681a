"""Write docs/sentinel/<stream>.json: the Log Analytics table and DCR pieces the sentinel sink sends to.

Usage: ``python scripts/gen_sentinel_schemas.py`` (write) or ``--check`` (exit 1 if a file is stale).
Each file holds ``table`` (the body of ``PUT .../workspaces/<ws>/tables/<name>?api-version=2022-10-01``),
``streamDeclarations`` and ``dataFlows`` (to paste into the data collection rule).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mimecast_siem.config.models import STREAM_NAMES
from mimecast_siem.sinks.sentinel import COLUMNS, stream_declaration, table_name

DOCS = Path(__file__).resolve().parent.parent / "docs" / "sentinel"


def schema(stream: str) -> dict[str, object]:
    """The table, stream declaration and data flow of one Mimecast stream."""
    declared = stream_declaration(stream)
    return {
        "stream": stream,
        "table": {
            "properties": {
                "schema": {
                    "name": table_name(stream),
                    "columns": [{"name": n, "type": t, "description": d} for n, t, d in COLUMNS],
                },
                "retentionInDays": 90,
            }
        },
        "streamDeclarations": {declared: {"columns": [{"name": n, "type": t} for n, t, _ in COLUMNS]}},
        "dataFlows": [
            {
                "streams": [declared],
                "destinations": ["<your workspace destination name>"],
                "transformKql": "source",
                "outputStream": declared,
            }
        ],
    }


def render(stream: str) -> str:
    return json.dumps(schema(stream), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if a file is not up to date")
    args = parser.parse_args(argv)
    stale = []
    for stream in STREAM_NAMES:
        path = DOCS / f"{stream}.json"
        text = render(stream)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        DOCS.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if stale:
        sys.stderr.write(f"stale: {', '.join(stale)}; run: python scripts/gen_sentinel_schemas.py\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
