"""Options shared by every benchmark."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """How a benchmark run is done.

    Attributes:
        quick: a tiny smoke (CI): small data, no verdicts on targets.
        workdir: scratch directory for configs, outputs, logs and state (removed by the caller).
        repo: the repository root (for the machine description).
    """

    quick: bool
    workdir: Path
    repo: Path
