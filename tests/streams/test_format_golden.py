"""Every format's output for every stream, from the stream's golden inputs through its normaliser.

``golden/<stream>.formats.json`` holds, per input case, what the ``json``, ``raw``, ``ocsf``,
``cef``, ``leef`` encoders and the HEC envelope's sourcetype make of the normalised event. A new
stream gets this file by regenerating: ``MIMECAST_SIEM_REGEN_GOLDEN=1 pytest tests/streams``
(then review it: it is what SIEMs will receive). The hand-made edge cases of each format stay in
``tests/sinks/golden/``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mimecast_siem.sinks.formats import get_encoder
from mimecast_siem.sinks.formats.base import Encoder
from mimecast_siem.sinks.formats.cef import CefEncoder
from mimecast_siem.sinks.formats.leef import LeefEncoder
from mimecast_siem.sinks.hec_protocol import default_sourcetype
from mimecast_siem.streams import CATALOGUE
from tests.sinks.ocsf_shape import ocsf_problems
from tests.streams.cases import GOLDEN, REGEN, load_inputs, normalise_case

#: Encoders by format name (CEF/LEEF with a fixed device version so a release does not change the files).
ENCODERS: dict[str, Encoder] = {
    "json": get_encoder("json"),
    "raw": get_encoder("raw"),
    "ocsf": get_encoder("ocsf"),
    "cef": CefEncoder(device_version="0.1.0"),
    "leef": LeefEncoder(device_version="0.1.0"),
}


def render(stream: str) -> list[dict[str, Any]]:
    """What every format makes of each golden case of ``stream``."""
    out: list[dict[str, Any]] = []
    for case in load_inputs(stream):
        event = normalise_case(stream, case)
        entry: dict[str, Any] = {"event_id": event.event_id, "sourcetype": default_sourcetype(stream)}
        for fmt, encoder in ENCODERS.items():
            entry[fmt] = encoder.encode(event)
        out.append(entry)
    return out


@pytest.mark.parametrize("stream", list(CATALOGUE))
def test_formats_golden(stream: str) -> None:
    actual = json.loads(json.dumps(render(stream), ensure_ascii=False))
    path = GOLDEN / f"{stream}.formats.json"
    if REGEN:
        path.write_text(json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"missing {path.name}; run MIMECAST_SIEM_REGEN_GOLDEN=1 pytest tests/streams"
    assert actual == json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("stream", list(CATALOGUE))
def test_ocsf_class_is_the_declared_one(stream: str) -> None:
    """``StreamSpec.ocsf_class`` (docs) is the class the mapper gives the stream's activity records."""
    classes = {entry["ocsf"][0]["class_uid"] for entry in render(stream)}
    assert classes == {CATALOGUE[stream].ocsf_class}


@pytest.mark.parametrize("stream", list(CATALOGUE))
def test_ocsf_records_are_valid(stream: str) -> None:
    for entry in render(stream):
        for record in entry["ocsf"]:
            assert ocsf_problems(record) == []
