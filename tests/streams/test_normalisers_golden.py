"""Golden files: each input record in tests/streams/golden/<stream>.input.json must normalise to the
event in <stream>.expected.json.

Regenerate after an intended mapping change with ``MIMECAST_SIEM_REGEN_GOLDEN=1 pytest tests/streams``
and review the diff.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mimecast_siem.events import Event
from mimecast_siem.streams import CATALOGUE
from tests.streams.cases import GOLDEN, REGEN, normalise_case


def _as_golden(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "tenant": event.tenant,
        "stream": event.stream,
        "timestamp": event.timestamp.isoformat(),
        "kind": event.kind,
        "document": event.document,
        "raw": event.raw,
    }


@pytest.mark.parametrize("stream", list(CATALOGUE))
def test_golden_file(stream: str) -> None:
    inputs = json.loads((GOLDEN / f"{stream}.input.json").read_text())
    actual = [_as_golden(normalise_case(stream, case)) for case in inputs]
    expected_path = GOLDEN / f"{stream}.expected.json"
    if REGEN or not expected_path.exists():
        if not REGEN:
            pytest.fail(f"{expected_path.name} is missing; run with MIMECAST_SIEM_REGEN_GOLDEN=1 to create it")
        expected_path.write_text(json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    expected = json.loads(expected_path.read_text())
    # Round-trip through JSON so tuples/lists compare the way the file stores them.
    assert json.loads(json.dumps(actual)) == expected


def test_every_stream_has_golden_input() -> None:
    missing = [s for s in CATALOGUE if not (GOLDEN / f"{s}.input.json").exists()]
    assert missing == []


@pytest.mark.parametrize("stream", [s for s, spec in CATALOGUE.items() if spec.event_id_of is not None])
def test_event_id_of_matches_the_golden_ids(stream: str) -> None:
    """The id the pipeline computes before normalising (to drop re-read records) is the golden id."""
    id_of = CATALOGUE[stream].event_id_of
    assert id_of is not None
    inputs = json.loads((GOLDEN / f"{stream}.input.json").read_text())
    expected = json.loads((GOLDEN / f"{stream}.expected.json").read_text())
    assert [id_of(case) for case in inputs] == [e["event_id"] for e in expected]
