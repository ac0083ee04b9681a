"""docs/config.md is generated and current; examples/config.yaml is valid; every field is described."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from mimecast_siem.config import Settings, load_settings, parse_duration
from mimecast_siem.config.reference import render_config_reference
from mimecast_siem.config.schema import model_fields
from mimecast_siem.times import format_duration

ROOT = Path(__file__).resolve().parents[2]


def all_models() -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [Settings]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.append(model)
        todo.extend(shape.model for shape in model_fields(model).values() if shape.model is not None)
        todo.extend(
            shape.item.model
            for shape in model_fields(model).values()
            if shape.item is not None and shape.item.model is not None
        )
    return seen


def test_every_field_has_a_description() -> None:
    missing = [
        f"{model.__name__}.{name}"
        for model in all_models()
        for name, info in model.model_fields.items()
        if not (info.description and info.description.strip())
    ]
    assert missing == []


def test_config_reference_is_current() -> None:
    doc = ROOT / "docs" / "config.md"
    assert doc.read_text(encoding="utf-8") == render_config_reference(), (
        "docs/config.md is stale: run python scripts/gen_config_docs.py"
    )


def test_generator_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_config_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_reference_documents_every_section_and_field() -> None:
    text = render_config_reference()
    for section in ("`tenants[]`", "`tenants[].rate_limit`", "`streams.<stream>`", "`sinks[]`", "`state`"):
        assert f"## {section}" in text
    for model in all_models():
        for name in model.model_fields:
            assert f"| `{name}` |" in text, f"{model.__name__}.{name} missing"
    assert "| `client_secret` | string, secret | **required** |" in text
    assert "| `timeout` | number | `15` |" in text


def test_example_config_is_valid(tmp_path: Path) -> None:
    secrets = {}
    for name, value in {
        "ACME_SECRET_FILE": "acme-example-secret-0123456789",
        "HEC_TOKEN_FILE": "0c6f3f1e-9b8a-4c1d-8e2f-7a6b5c4d3e2f",
        "SOAR_TOKEN_FILE": "soar-example-token-abcdef123",
    }.items():
        path = tmp_path / name.lower()
        path.write_text(value + "\n", encoding="utf-8")
        secrets[name] = str(path)
    settings = load_settings(
        ROOT / "examples" / "config.yaml", env={**secrets, "GLOBEX_CLIENT_SECRET": "globex-s3cret-xyz"}
    )
    assert [t.name for t in settings.tenants] == ["acme", "globex"]
    assert settings.tenant("acme").client_secret.get_secret_value() == "acme-example-secret-0123456789"
    assert [s.name for s in settings.sinks_for("acme", "ttp-url")] == ["archive", "splunk"]
    assert [s.name for s in settings.sinks_for("globex", "audit")] == ["archive"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("5m", 300),
        ("1h", 3600),
        ("2d", 172800),
        ("1w", 604800),
        ("500ms", 0.5),
        ("PT5M", 300),
        ("P1DT2H", 93600),
        ("pt0.5s", 0.5),
        (" 3 m ", 180),
    ],
)
def test_duration_forms(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "P", "PT", "-5m", "5 minutes", "1y", True, None, -3, float("nan")])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**8))
def test_format_duration_round_trips(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value
