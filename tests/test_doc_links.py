"""Every link and file reference in README.md, docs/, helm/ and examples/ resolves inside the repository.

Markdown links (``[text](path)``) are resolved from the document's directory; file paths in backticks
from the document, the repository root, the package or the chart (docs name modules as
``collector/streams.py``). Absolute URLs and in-page anchors are left alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    {
        ROOT / "README.md",
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "helm").rglob("*.md"),
        *(ROOT / "examples").rglob("*.md"),
    }
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PATH_IN_TICKS = re.compile(r"`((?:\.\./|\./)?[A-Za-z0-9_.][\w./-]*/[\w./-]+\.(?:md|yaml|yml|json|py|sh|txt|toml))`")
BASES = (ROOT, ROOT / "mimecast_siem", ROOT / "helm" / "mimecast-siem")


def _inside(path: Path) -> bool:
    return path.exists() and path.resolve().is_relative_to(ROOT)


def broken_links(text: str, directory: Path) -> list[str]:
    """The links and backticked file paths of a document in ``directory`` that do not resolve inside the repository."""
    broken: list[str] = []
    for match in LINK.finditer(text):
        target = match.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        if not _inside(directory / target.split("#", 1)[0]):
            broken.append(f"link {target}")
    for match in PATH_IN_TICKS.finditer(text):
        target = match.group(1)
        if not any(_inside(base / target) for base in (directory, *BASES)):
            broken.append(f"path `{target}`")
    return broken


def test_there_are_documents() -> None:
    assert len(DOCUMENTS) >= 10


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(document: Path) -> None:
    assert broken_links(document.read_text(encoding="utf-8"), document.parent) == []


def test_a_link_outside_the_repository_is_caught() -> None:
    text = "See [design](../../shared/docs/DESIGN.md), [ops](operations.md) and `../shared/docs/x.md`.\n"
    assert broken_links(text, ROOT / "docs") == ["link ../../shared/docs/DESIGN.md", "path `../shared/docs/x.md`"]
