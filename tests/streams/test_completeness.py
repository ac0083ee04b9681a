"""The stream registry is complete: every registered stream has every part a stream needs.

A stream lacking a part fails here with the part named (docs/internals.md, "Adding a stream", says
how to add each): its normaliser and the fields the collector needs for its kind, its golden files
(input, expected events, every format's output), its CEF/LEEF facts reader, its OCSF mapper when
it declares an OCSF class, its HEC sourcetype, a simulator endpoint (and, for log streams, a
simulator record generator keyed by the stream's name), its row in the generated
docs/streams.md, and its Elastic facts (the ``elastic-integration`` profile's dataset, listed in
docs/elastic-compat.md, or the stream named there as having no counterpart).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

import mimecast_siem.simulator.app  # noqa: F401 - importing registers the simulator's stream endpoints
from mimecast_siem.simulator import ENDPOINTS
from mimecast_siem.simulator.generators import GENERATORS
from mimecast_siem.streams import CATALOGUE, STREAM_NAMES, StreamSpec
from mimecast_siem.streams.reference import render_stream_reference
from tests.streams.cases import GOLDEN

ROOT = Path(__file__).resolve().parents[2]
_SOURCETYPE = re.compile(r"^mimecast(:[a-z0-9_]+)+$")
ELASTIC_DOC = ROOT / "docs" / "elastic-compat.md"


def _elastic_missing(spec: StreamSpec, text: str) -> list[str]:
    if spec.elastic is not None and spec.elastic_dataset is None:
        return ["Elastic dataset of the Elastic rewrite (StreamSpec.elastic_dataset)"]
    if spec.elastic_dataset is None:
        no_counterpart = next((line for line in text.splitlines() if "no counterpart" in line), "")
        if f"`{spec.name}`" not in no_counterpart:
            return ["'no counterpart' entry in docs/elastic-compat.md (or StreamSpec.elastic_dataset)"]
        return []
    if not spec.elastic_dataset.startswith("mimecast."):
        return ["Elastic dataset mimecast.<name> (StreamSpec.elastic_dataset)"]
    named = "`siem-*`" if spec.kind == "siem" else f"`{spec.name}`"
    if not re.search(rf"^\|[^|]*{re.escape(named)}[^|]*\| `{re.escape(spec.elastic_dataset)}`", text, re.MULTILINE):
        return [f"Elastic dataset row in docs/elastic-compat.md ({named} -> {spec.elastic_dataset})"]
    return []


def missing_parts(
    spec: StreamSpec, *, golden: Path = GOLDEN, docs: str | None = None, elastic_docs: str | None = None
) -> list[str]:
    """What ``spec`` lacks, one phrase per missing part (empty when complete)."""
    missing: list[str] = []
    if not callable(spec.normalise):
        missing.append("normaliser (StreamSpec.normalise)")
    if not spec.title.strip():
        missing.append("docs line (StreamSpec.title)")
    if not spec.dataset.startswith("mimecast."):
        missing.append("ECS dataset mimecast.<name> (StreamSpec.dataset)")
    if spec.kind == "log":
        if not spec.time_field:
            missing.append("time field (StreamSpec.time_field)")
        if spec.window_fields is None:
            missing.append("window filters (StreamSpec.window_fields)")
        if spec.event_id_of is None:
            missing.append("event id without normalising (StreamSpec.event_id_of)")
        if spec.name not in GENERATORS:
            missing.append("simulator record generator (simulator/generators.py GENERATORS)")
    if spec.kind == "snapshot" and not spec.id_fields:
        missing.append("identifying fields (StreamSpec.id_fields)")
    if spec.kind == "gauge" and (spec.gauge_levels is None or not spec.gauge_label):
        missing.append("gauge levels and label (StreamSpec.gauge_levels, gauge_label)")
    for suffix in ("input.json", "expected.json", "formats.json"):
        if not (golden / f"{spec.name}.{suffix}").exists():
            missing.append(f"golden file {golden.name}/{spec.name}.{suffix}")
    if spec.facts is None:
        missing.append("CEF/LEEF facts reader (StreamSpec.facts)")
    if spec.ocsf_class != 0 and spec.ocsf is None:
        missing.append("OCSF mapper for the declared class (StreamSpec.ocsf)")
    if not _SOURCETYPE.match(spec.sourcetype):
        missing.append("HEC sourcetype mimecast:<...> (StreamSpec.sourcetype)")
    if ENDPOINTS.get(spec.path) is None:
        missing.append(f"simulator endpoint for {spec.path}")
    text = render_stream_reference() if docs is None else docs
    if f"| `{spec.name}` |" not in text:
        missing.append("row in docs/streams.md")
    missing += _elastic_missing(spec, ELASTIC_DOC.read_text(encoding="utf-8") if elastic_docs is None else elastic_docs)
    return missing


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_stream_has_every_part(stream: str) -> None:
    assert missing_parts(CATALOGUE[stream]) == []


def test_docs_streams_md_is_up_to_date() -> None:
    current = (ROOT / "docs" / "streams.md").read_text(encoding="utf-8")
    assert current == render_stream_reference(), "docs/streams.md is stale; run: python scripts/gen_stream_docs.py"


def test_no_stale_format_golden_files() -> None:
    """Format outputs of a stream that is no longer registered are a mistake too.

    (Normaliser golden files may come first: a stream's normaliser and its golden files can land
    before its declaration.)
    """
    names = {p.name.split(".", 1)[0] for p in GOLDEN.glob("*.formats.json")}
    assert names - set(STREAM_NAMES) == set()


@pytest.mark.parametrize(
    ("change", "part"),
    [
        ({"facts": None}, "CEF/LEEF facts reader"),
        ({"ocsf": None}, "OCSF mapper"),
        ({"event_id_of": None}, "StreamSpec.event_id_of"),
        ({"title": " "}, "StreamSpec.title"),
        ({"sourcetype": "ttp url"}, "HEC sourcetype"),
        ({"path": "/api/nowhere"}, "simulator endpoint"),
        ({"name": "not-simulated"}, "simulator record generator"),
        ({"name": "not-simulated"}, "golden file golden/not-simulated.input.json"),
        ({"name": "not-simulated"}, "row in docs/streams.md"),
        ({"elastic_dataset": "mimecast.url_logs"}, "Elastic dataset row in docs/elastic-compat.md"),
        ({"elastic_dataset": None}, "StreamSpec.elastic_dataset"),
        ({"elastic_dataset": None, "elastic": None}, "'no counterpart' entry in docs/elastic-compat.md"),
    ],
)
def test_a_missing_part_is_named(change: dict[str, object], part: str) -> None:
    """The check fails, naming the part, when any part of a complete stream is taken away."""
    broken = dataclasses.replace(CATALOGUE["ttp-url"], **change)  # type: ignore[arg-type]
    assert any(part in phrase for phrase in missing_parts(broken)), missing_parts(broken)


def test_a_missing_gauge_part_is_named() -> None:
    broken = dataclasses.replace(CATALOGUE["email-queues"], gauge_levels=None)
    assert any("gauge levels" in phrase for phrase in missing_parts(broken))


def test_a_siem_stream_without_its_elastic_dataset_is_named() -> None:
    broken = dataclasses.replace(CATALOGUE["siem-receipt"], elastic_dataset="mimecast.receipt_logs")
    assert any("`siem-*` -> mimecast.receipt_logs" in phrase for phrase in missing_parts(broken))
