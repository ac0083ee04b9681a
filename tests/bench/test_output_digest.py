"""bench/output_digest.py: the tool that proves a CPU change left every output byte alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import output_digest
from mimecast_siem.sinks.formats import get_encoder, syslog_header


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


def test_syslog_digests_are_opt_in_and_hold_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = output_digest.digest_stream("audit", 10, 1, _encoders())
    renderers = output_digest.syslog_renderers()
    with_syslog = output_digest.digest_stream("audit", 10, 1, _encoders(), renderers)
    # Without --syslog the digests are those of earlier versions of the tool (files stay comparable).
    assert {key: with_syslog[key] for key in plain} == plain
    assert set(with_syslog) - set(plain) == {label for label, *_ in output_digest.SYSLOG}
    monkeypatch.setattr(syslog_header, "rfc3339_timestamp", lambda when: "2000-01-01T00:00:00Z")
    changed = output_digest.digest_stream("audit", 10, 1, _encoders(), output_digest.syslog_renderers())
    differ = {
        line.split(":")[0].removeprefix("audit/")
        for line in output_digest.compare({"audit": with_syslog}, {"audit": changed})
    }
    # Every RFC 5424 setting shows a header change (the dead-letter one refuses the long events only).
    assert differ >= {label for label, *_ in output_digest.SYSLOG if "5424" in label and "dead" not in label}
    assert not any("3164" in label for label in differ)
