"""Golden tests of the json, raw and ocsf encoders: builder event → expected records, per stream.

Expected outputs live in ``golden/<format>/<case>.json``. After an intended change of the output,
regenerate with ``MIMECAST_SIEM_REGEN_GOLDEN=1 pytest tests/sinks/test_json_formats_golden.py`` and
review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mimecast_siem.events import Event
from mimecast_siem.sinks.formats import get_encoder
from tests.sinks.builders import RECORDS, make_event, record
from tests.sinks.ocsf_shape import ocsf_problems

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("MIMECAST_SIEM_REGEN_GOLDEN") == "1"


def _cases() -> dict[str, Event]:
    # The hand-made cases of the first streams; every stream's outputs are pinned in tests/streams/.
    cases = {stream: make_event(stream) for stream in RECORDS}
    held = record("held-messages")
    cases["held-messages-left"] = make_event(
        "held-messages",
        held,
        document={
            "event": {"action": "message-left-hold"},
            "mimecast": dict(held, transition="left", held_for_seconds=90),
        },
    )
    cases["ttp-url-clean"] = make_event("ttp-url", record("ttp-url", scanResult="clean", action="allow"))
    cases["unicode-and-controls"] = make_event(
        "ttp-url",
        record(
            "ttp-url", subject='Ünïcödé "quoted" \\ back\nline\ttab \x00 nul 🎣', url="https://例え.テスト/パス?q=ü"
        ),
    )
    return cases


CASES = _cases()


@pytest.mark.parametrize("fmt", ["json", "raw", "ocsf"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(fmt: str, case: str) -> None:
    records = get_encoder(fmt).encode(CASES[case])
    text = json.dumps(records, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    expected = GOLDEN / fmt / f"{case}.json"
    if REGEN:
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(text, encoding="utf-8")
    assert expected.exists(), f"missing golden file {expected}; run with MIMECAST_SIEM_REGEN_GOLDEN=1"
    assert json.loads(text) == json.loads(expected.read_text(encoding="utf-8"))
    if fmt == "ocsf":
        for r in records:
            assert isinstance(r, dict)
            assert ocsf_problems(r) == []


def test_every_sample_stream_has_golden_cases() -> None:
    assert set(RECORDS) <= set(CASES)
