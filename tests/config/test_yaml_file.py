"""Reading the YAML file: line numbers, syntax errors, unreadable files, interpolation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mimecast_siem.config import load_settings
from mimecast_siem.config.sources import interpolate, read_yaml
from mimecast_siem.errors import ConfigError
from tests.config.builders import ACME_SECRET, problems_of
from tests.config.conftest import WriteConfig

VALID = f"""\
# a comment
tenants:
  - name: acme
    client_id: acme-id
    client_secret: {ACME_SECRET}
"""


def test_valid_file_loads(write_config: WriteConfig) -> None:
    settings = load_settings(write_config(VALID), env={})
    assert settings.tenants[0].name == "acme"
    assert settings.tenants[0].client_secret.get_secret_value() == ACME_SECRET
    assert settings.tenants[0].timeout == 15  # default


def test_problem_names_the_line_of_the_bad_key(write_config: WriteConfig) -> None:
    path = write_config(VALID + "    timeout: 500\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={})
    problem = problems_of(exc)["tenants.acme.timeout"]
    assert problem.source == "config.yaml:6"
    assert problem.value == "500"
    assert "between 15 and 120" in problem.message


def test_yaml_syntax_error_names_the_line(write_config: WriteConfig) -> None:
    path = write_config("tenants:\n  - name: acme\n    client_id: [unclosed\n    timeout: 20\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={})
    (problem,) = exc.value.problems
    assert problem.key == "(config file)"
    assert problem.message.startswith("YAML syntax error")
    assert problem.source is not None
    assert problem.source.startswith("config.yaml:")
    line = int(problem.source.split(":")[1])
    assert 3 <= line <= 5


def test_tab_indentation_is_a_syntax_error_with_line(write_config: WriteConfig) -> None:
    path = write_config("tenants:\n\t- name: acme\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={})
    assert exc.value.problems[0].source == "config.yaml:2"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(tmp_path / "nope.yaml", env={})
    (problem,) = exc.value.problems
    assert problem.message == "config file not found"
    assert "nope.yaml" in (problem.value or "")
    assert problem.source == "--config"


def test_config_path_from_environment(write_config: WriteConfig) -> None:
    path = write_config(VALID)
    settings = load_settings(None, env={"MIMECAST_SIEM_CONFIG": str(path)})
    assert settings.tenants[0].name == "acme"


def test_missing_file_named_by_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(None, env={"MIMECAST_SIEM_CONFIG": str(tmp_path / "gone.yaml")})
    assert exc.value.problems[0].source == "env MIMECAST_SIEM_CONFIG"


def test_unreadable_file(write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(VALID)
    path.chmod(0)
    if os.geteuid() == 0:
        # root reads files whatever their mode; make the read fail the way it does for a daemon user.
        def refuse(self: Path, *args: object, **kwargs: object) -> str:
            raise PermissionError(13, "Permission denied", str(self))

        monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={})
    assert "not readable" in exc.value.problems[0].message


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(tmp_path, env={})
    assert "directory" in exc.value.problems[0].message


def test_binary_file_is_reported_not_raised(write_config: WriteConfig, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xff\xfe\x00tenants")
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={})
    assert "UTF-8" in exc.value.problems[0].message


def test_top_level_must_be_a_mapping(write_config: WriteConfig) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config("- just\n- a list\n"), env={})
    assert "top level must be a mapping" in exc.value.problems[0].message


def test_duplicate_key_is_reported_with_both_lines(write_config: WriteConfig) -> None:
    path = write_config(VALID + "    timeout: 20\n    timeout: 30\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={})
    problem = problems_of(exc)["tenants.acme.timeout"]
    assert "duplicate key" in problem.message
    assert "config.yaml:6" in problem.message
    assert problem.source == "config.yaml:7"


def test_several_documents_are_refused(write_config: WriteConfig) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(VALID + "---\nother: 1\n"), env={})
    assert "YAML syntax error" in exc.value.problems[0].message


def test_empty_file_means_environment_only(write_config: WriteConfig) -> None:
    env = {
        "MIMECAST_SIEM__TENANTS__ACME__CLIENT_ID": "acme-id",
        "MIMECAST_SIEM__TENANTS__ACME__CLIENT_SECRET": ACME_SECRET,
    }
    settings = load_settings(write_config(""), env=env)
    assert [t.name for t in settings.tenants] == ["acme"]


def test_numeric_yaml_scalar_for_a_text_key_keeps_its_spelling(write_config: WriteConfig) -> None:
    path = write_config(VALID.replace("client_id: acme-id", "client_id: 007"))
    settings = load_settings(path, env={})
    assert settings.tenants[0].client_id == "007"


def test_merge_keys_and_anchors(write_config: WriteConfig) -> None:
    text = f"""\
defaults: &defaults
  client_secret: {ACME_SECRET}
  timeout: 30
tenants:
  - <<: *defaults
    name: acme
    client_id: a
"""
    # `defaults` is not a known key, so this also proves the anchor resolved before validation.
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(text), env={})
    found = problems_of(exc)
    assert set(found) == {"defaults"}
    assert "unknown key" in found["defaults"].message


# --- interpolation ---------------------------------------------------------------------------------


def test_interpolation_from_environment(write_config: WriteConfig) -> None:
    text = VALID.replace(ACME_SECRET, "${ACME_SECRET}") + "    timeout: ${TIMEOUT:-45}\n"
    settings = load_settings(write_config(text), env={"ACME_SECRET": ACME_SECRET})
    assert settings.tenants[0].client_secret.get_secret_value() == ACME_SECRET
    assert settings.tenants[0].timeout == 45


def test_unset_variable_is_a_problem_with_line(write_config: WriteConfig) -> None:
    text = VALID.replace(ACME_SECRET, "${ACME_SECRET}")
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(text), env={})
    problem = problems_of(exc)["tenants.acme.client_secret"]
    assert "ACME_SECRET is not set" in problem.message
    assert problem.source == "config.yaml:5"


def test_interpolated_value_names_the_variable_in_its_source(write_config: WriteConfig) -> None:
    text = VALID + "    timeout: ${TIMEOUT}\n"
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(text), env={"TIMEOUT": "9"})
    assert problems_of(exc)["tenants.acme.timeout"].source == "config.yaml:6 via ${TIMEOUT}"


def test_malformed_reference(write_config: WriteConfig) -> None:
    text = VALID + "    proxy: http://${PROXY\n"
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(text), env={"PROXY": "x"})
    assert "malformed ${...} reference" in problems_of(exc)["tenants.acme.proxy"].message


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("x${A}y${B}", {"A": "1", "B": "2"}, "x1y2"),
        ("${A:-dflt}", {}, "dflt"),
        ("${A:-dflt}", {"A": ""}, "dflt"),
        ("${A:-}", {}, ""),
        ("$${A}", {"A": "1"}, "${A}"),
        ("cost $$5", {}, "cost $5"),
        ("plain $ sign", {}, "plain $ sign"),
    ],
)
def test_interpolate_cases(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate(text, env)[0] == expected


@given(st.text(alphabet=st.characters(blacklist_characters="$"), max_size=40))
def test_text_without_dollar_is_unchanged(text: str) -> None:
    assert interpolate(text, {"A": "1"}) == (text, [], [])


@given(st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True), st.text(max_size=30))
def test_any_value_is_substituted_verbatim(name: str, value: str) -> None:
    # Values are not re-interpolated: a "${X}" inside a variable's value stays as it is.
    assert interpolate(f"<${{{name}}}>", {name: value})[0] == f"<{value}>"


def test_read_yaml_records_a_line_for_every_key() -> None:
    doc = read_yaml("a:\n  b: 1\n  c:\n    - x\n    - y\n", "f.yaml", {})
    assert doc.problems == []
    assert doc.sources.origin(("a", "b")) == "f.yaml:2"
    assert doc.sources.origin(("a", "c", 1)) == "f.yaml:5"
    assert doc.sources.origin(("a", "c", 1, "deeper")) == "f.yaml:5"
