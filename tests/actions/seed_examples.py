"""The example requests of the action catalogue (the Cyware "Mimecast 2.0.0" page), parsed from the
file itself so that a test runs every example exactly as written.

The page lists, per action, an ``Action: <Title>`` heading and an ``Example Request`` block: a JSON
array holding one parameters object. A verbatim copy of the page lives in ``data/`` (CI machines do
not have the team's shared directory); when the shared copy is present the two must be identical.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEED_COPY = Path(__file__).parent / "data" / "cyware_mimecast_2_0_0.txt"
#: Where the team's shared copy may be (next to the checkout, or the workspace's shared directory).
SHARED_SEEDS = (
    Path(__file__).resolve().parents[3] / "shared" / "seeds" / "000_abedc2812602ade4.txt",
    Path("/work/shared/seeds/000_abedc2812602ade4.txt"),
)

_ACTION = re.compile(r"^Action: (?P<title>.+?)\s*$")


@dataclass(frozen=True)
class SeedExample:
    """One example request: the catalogue title, its kebab-case action name and the parameters."""

    title: str
    params: dict[str, Any]
    line: int

    @property
    def action(self) -> str:
        return action_name(self.title)


def action_name(title: str) -> str:
    """``Create Address Alteration Definition (Beta)`` -> ``create-address-alteration-definition``."""
    title = re.sub(r"\(.*?\)", "", title)
    return "-".join(re.findall(r"[a-z0-9]+", title.lower()))


def _json_block(lines: list[str], start: int) -> tuple[str, int]:
    """The JSON text starting at ``lines[start]``: lines until the brackets balance (strings ignored)."""
    depth, text, index = 0, [], start
    in_string = escaped = False
    while index < len(lines):
        line = lines[index]
        text.append(line)
        for ch in line:
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
        index += 1
        if depth <= 0 and "".join(text).strip():
            break
    return "\n".join(text), index


def parse_examples(text: str) -> list[SeedExample]:
    """Every ``Example Request`` block of the page, with the action it belongs to."""
    lines = text.splitlines()
    title: str | None = None
    out: list[SeedExample] = []
    index = 0
    while index < len(lines):
        match = _ACTION.match(lines[index])
        if match:
            title = match.group("title")
        if lines[index].strip() == "Example Request" and title is not None:
            start = index + 1
            while start < len(lines) and not lines[start].strip():
                start += 1
            block, index = _json_block(lines, start)
            value = json.loads(block)
            items = value if isinstance(value, list) else [value]
            for item in items:
                out.append(SeedExample(title, item, start + 1))
            continue
        index += 1
    return out


def seed_examples() -> list[SeedExample]:
    """The examples of the repository's copy of the catalogue page."""
    return parse_examples(SEED_COPY.read_text(encoding="utf-8"))
