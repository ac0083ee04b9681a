"""Golden tests of the CEF and LEEF encoders: input event (JSON) → expected line, per stream.

Inputs are in ``golden/events/*.json`` (built once with the collector's normalisers from the
Mimecast sample records of mimecast-api.md section 4, plus hand-made edge cases). Expected
outputs are ``golden/cef/<case>.txt`` and ``golden/leef/<case>.txt``. After an intended change of
the output, regenerate them with ``MIMECAST_SIEM_REGEN_GOLDEN=1 pytest tests/sinks/test_cef_leef_golden.py``
and review the diff.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from mimecast_siem.events import Event
from mimecast_siem.sinks.formats.base import Encoder
from mimecast_siem.sinks.formats.cef import CefEncoder
from mimecast_siem.sinks.formats.leef import LeefEncoder

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in (GOLDEN / "events").glob("*.json"))
REGEN = os.environ.get("MIMECAST_SIEM_REGEN_GOLDEN") == "1"


def load_event(name: str) -> Event:
    data = json.loads((GOLDEN / "events" / f"{name}.json").read_text(encoding="utf-8"))
    return Event(
        event_id=data["event_id"],
        tenant=data["tenant"],
        stream=data["stream"],
        timestamp=datetime.fromisoformat(data["timestamp"]),
        document=data["document"],
        raw=data["raw"],
        kind=data.get("kind", "log"),
    )


def check_golden(encoder: Encoder, fmt: str, case: str) -> None:
    records = encoder.encode(load_event(case))
    assert len(records) == 1
    line = records[0]
    assert isinstance(line, str)
    assert "\n" not in line
    assert "\r" not in line
    expected_file = GOLDEN / fmt / f"{case}.txt"
    if REGEN:
        expected_file.write_text(line + "\n", encoding="utf-8")
    assert expected_file.exists(), f"missing golden file {expected_file}; run with MIMECAST_SIEM_REGEN_GOLDEN=1"
    assert line == expected_file.read_text(encoding="utf-8").removesuffix("\n")


def test_every_sample_stream_has_a_golden_case() -> None:
    """The hand-made cases cover the first streams; every stream's outputs are pinned in tests/streams/."""
    from tests.sinks.builders import RECORDS

    streams = {load_event(case).stream for case in CASES}
    assert set(RECORDS) <= streams


@pytest.mark.parametrize("case", CASES)
def test_cef_golden(case: str) -> None:
    check_golden(CefEncoder(device_version="0.1.0"), "cef", case)


@pytest.mark.parametrize("case", CASES)
def test_leef_golden(case: str) -> None:
    check_golden(LeefEncoder(device_version="0.1.0"), "leef", case)


@pytest.mark.parametrize("case", CASES)
def test_leef_tab_delimiter_golden(case: str) -> None:
    check_golden(LeefEncoder(delimiter="tab", device_version="0.1.0"), "leef-tab", case)
