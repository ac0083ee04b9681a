"""bench/output_digest.py: the tool that proves a CPU change left every output byte alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import output_digest
from mimecast_siem.sinks.formats import get_encoder


def _encoders() -> dict[str, Any]:
    return {label: get_encoder(name, options) for label, name, options in output_digest.FORMATS}


def test_the_digests_are_deterministic_and_cover_every_step() -> None:
    first = output_digest.digest_stream("ttp-url", 30, 2, _encoders())
    second = output_digest.digest_stream("ttp-url", 30, 2, _encoders())
    assert first == second
    assert set(first) == {"events", "refused", "id", "event", *(label for label, _, _ in output_digest.FORMATS)}
    # Golden inputs plus 30 generated records, each with two hostile copies.
    assert first["events"] + first["refused"] >= 3 * 30


def test_a_changed_encoding_changes_its_digest_only(monkeypatch: pytest.MonkeyPatch) -> None:
    before = output_digest.digest_stream("audit", 20, 1, _encoders())
    cef = get_encoder("cef")
    real = type(cef).encode
    monkeypatch.setattr(type(cef), "encode", lambda self, event: [f"{r} " for r in real(self, event)])
    after = output_digest.digest_stream("audit", 20, 1, _encoders())
    assert output_digest.compare({"audit": before}, {"audit": after}) == [
        f"audit/cef: {before['cef']} -> {after['cef']}"
    ]


def test_hostile_copies_reach_the_refusal_paths() -> None:
    result = output_digest.digest_stream("siem-receipt", 200, 3, _encoders())
    # Most hostile copies still normalise (their odd values reach every encoder); some are refused.
    assert result["events"] > 200
    assert result["refused"] > 0


def test_compare_exits_1_on_a_difference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d.json"
    assert output_digest.main(["--stream", "audit", "--records", "5", "--mutations", "1", "--out", str(out)]) == 0
    assert output_digest.main(["--stream", "audit", "--records", "5", "--mutations", "1", "--compare", str(out)]) == 0
    assert output_digest.main(["--stream", "audit", "--records", "6", "--mutations", "1", "--compare", str(out)]) == 1
    assert "DIFFERENT audit/" in capsys.readouterr().out
