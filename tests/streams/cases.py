"""The golden input cases of every stream, and how a test normalises one (shared by tests/streams)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mimecast_siem.events import Event
from mimecast_siem.streams import CATALOGUE, NormaliseContext

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("MIMECAST_SIEM_REGEN_GOLDEN") == "1"
OBSERVED_AT = datetime(2026, 11, 25, 10, 30, 0, tzinfo=UTC)


def load_inputs(stream: str) -> list[dict[str, Any]]:
    """The cases of ``golden/<stream>.input.json`` (records; ``{transition, record}`` for snapshots)."""
    cases: list[dict[str, Any]] = json.loads((GOLDEN / f"{stream}.input.json").read_text(encoding="utf-8"))
    return cases


def normalise_case(stream: str, case: dict[str, Any]) -> Event:
    """Normalise one golden input case with the stream's registered normaliser."""
    spec = CATALOGUE[stream]
    if spec.kind == "snapshot":
        held = case.get("held_for_seconds")
        ctx = NormaliseContext(
            tenant="acme",
            observed_at=OBSERVED_AT,
            transition=case["transition"],
            held_for=timedelta(seconds=held) if held is not None else None,
        )
        return spec.normalise(case["record"], ctx)
    return spec.normalise(case, NormaliseContext(tenant="acme", observed_at=OBSERVED_AT))
