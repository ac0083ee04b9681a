"""Result tables: every benchmark returns :class:`Section` objects that print as text and as Markdown.

A table always carries absolute figures (events/s, seconds, MB) next to the ratios, and every
target is a :class:`Target` with the measured value, the bound and whether it was met, so a run's
report says plainly where we fall short.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Target:
    """One hard target and how the run did against it.

    Attributes:
        name: what is measured (``per-event CPU vs floor, ttp-url/json``).
        measured: the value, formatted with its unit.
        bound: the target, formatted (``<= 3.0x``).
        met: ``True`` met, ``False`` missed, ``None`` not judged (quick mode, or not measurable).
        why: for a miss, the reason (what the profile or the numbers show).
    """

    name: str
    measured: str
    bound: str
    met: bool | None
    why: str = ""

    @property
    def verdict(self) -> str:
        """``met``, ``MISSED`` or ``not judged``."""
        if self.met is None:
            return "not judged"
        return "met" if self.met else "MISSED"


@dataclass(slots=True)
class Table:
    """A table of one measurement.

    Attributes:
        title: short title.
        columns: column headers.
        rows: cells, already formatted as text.
        notes: sentences printed under the table (method, caveats).
    """

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        """Append a row; cells are turned into text."""
        self.rows.append([str(c) for c in cells])

    def text(self) -> str:
        """The table as aligned plain text."""
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        lines = [self.title, "-" * len(self.title)]
        lines.append("  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True)).rstrip())
        for row in self.rows:
            lines.append("  ".join(_align(c, w) for c, w in zip(row, widths, strict=True)).rstrip())
        lines.extend(f"  * {note}" for note in self.notes)
        return "\n".join(lines)

    def markdown(self) -> str:
        """The table in GitHub Markdown."""
        lines = [f"#### {self.title}", "", "| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        lines.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in self.rows)
        if self.notes:
            lines.append("")
            lines.extend(f"* {note}" for note in self.notes)
        return "\n".join(lines)


@dataclass(slots=True)
class Section:
    """One benchmark's results: its tables and targets.

    Attributes:
        number: the benchmark number of issue 8 (1-6).
        title: what it measures.
        tables: measurement tables.
        targets: hard targets and verdicts.
        summary: one or two sentences: what the numbers mean, where we fall short and why.
        seconds: wall time the benchmark took.
    """

    number: int
    title: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def targets_table(self) -> Table:
        """The targets as a table."""
        table = Table("Targets", ["target", "measured", "bound", "verdict", "why"])
        for t in self.targets:
            table.add(t.name, t.measured, t.bound, t.verdict, t.why)
        return table

    def text(self) -> str:
        """Plain text for the terminal."""
        head = f"[{self.number}] {self.title}  ({self.seconds:.0f} s)"
        parts = ["=" * len(head), head, "=" * len(head)]
        parts.extend(t.text() + "\n" for t in self.tables)
        if self.targets:
            parts.append(self.targets_table().text() + "\n")
        parts.extend(self.summary)
        return "\n".join(parts)

    def markdown(self) -> str:
        """Markdown for RESULTS.md."""
        parts = [f"### {self.number}. {self.title}", ""]
        parts.extend(t.markdown() + "\n" for t in self.tables)
        if self.targets:
            parts.append(self.targets_table().markdown() + "\n")
        parts.extend(s + "\n" for s in self.summary)
        parts.append(f"_Benchmark wall time: {self.seconds:.0f} s._\n")
        return "\n".join(parts)


def _align(cell: str, width: int) -> str:
    # Numbers read best right-aligned; words left-aligned.
    stripped = cell.replace(",", "").replace(".", "").replace("x", "").replace("%", "").strip()
    return cell.rjust(width) if stripped[:1].isdigit() or stripped[:1] == "-" else cell.ljust(width)


def _md_cell(cell: str) -> str:
    return cell.replace("|", "\\|")


def fmt_rate(value: float) -> str:
    """``12,345`` (per second figures: no decimals)."""
    return f"{value:,.0f}"


def fmt_ratio(value: float) -> str:
    """``2.41x``."""
    return f"{value:.2f}x"


def fmt_us(seconds: float) -> str:
    """Seconds as microseconds, ``12.3 us``."""
    return f"{seconds * 1e6:.1f} us"


def fmt_mb(nbytes: float) -> str:
    """Bytes as MiB, ``123.4 MB``."""
    return f"{nbytes / 1048576:.1f} MB"


def fmt_pct(value: float) -> str:
    """``12.3%`` from a fraction."""
    return f"{value * 100:.1f}%"


def all_targets(sections: Sequence[Section]) -> list[Target]:
    """Every target of every section, in order."""
    return [t for s in sections for t in s.targets]
