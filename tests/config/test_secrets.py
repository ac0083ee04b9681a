"""Secrets: mounted files, masking in every message, registration with the log redactor."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mimecast_siem.config import load_config, load_settings
from mimecast_siem.config.secrets import collect_secrets, resolve_secret_files
from mimecast_siem.config.sources import SourceMap
from mimecast_siem.errors import ConfigError
from mimecast_siem.observability.logging import redactor, scrub
from tests.config.builders import ACME_SECRET, all_text, problems_of, settings_tree, tenant
from tests.config.conftest import WriteConfig


def secret_file(tmp_path: Path, content: str, name: str = "client_secret") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_secret_from_file_drops_the_trailing_newline(write_config: WriteConfig, tmp_path: Path) -> None:
    path = secret_file(tmp_path, ACME_SECRET + "\n")
    block = tenant(client_secret_file=str(path))
    del block["client_secret"]
    loaded = load_config(write_config(settings_tree(tenants=[block])), env={})
    assert loaded.settings.tenants[0].client_secret.get_secret_value() == ACME_SECRET
    assert loaded.sources.origin(("tenants", 0, "client_secret")) == f"file {path}"


def test_secret_file_named_by_environment(write_config: WriteConfig, tmp_path: Path) -> None:
    path = secret_file(tmp_path, ACME_SECRET)
    block = tenant()
    del block["client_secret"]
    env = {"MIMECAST_SIEM__TENANTS__ACME__CLIENT_SECRET_FILE": str(path)}
    settings = load_settings(write_config(settings_tree(tenants=[block])), env=env)
    assert settings.tenants[0].client_secret.get_secret_value() == ACME_SECRET


def test_every_secret_kind_accepts_a_file(write_config: WriteConfig, tmp_path: Path) -> None:
    password = secret_file(tmp_path, "db-password-5d1f0e9c", "db")
    token = secret_file(tmp_path, "action-token-a81c44f0e2", "action")
    tree = settings_tree(
        state={"url": "postgresql+psycopg://mimecast@db:5432/siem", "password_file": str(password)},
        actions={"tokens": [{"name": "soar", "token_file": str(token), "scopes": ["read"]}]},
    )
    settings = load_settings(write_config(tree), env={})
    assert "db-password-5d1f0e9c" in settings.state_url()
    assert settings.actions.tokens[0].token is not None
    assert settings.actions.tokens[0].token.get_secret_value() == "action-token-a81c44f0e2"
    for value in ("db-password-5d1f0e9c", "action-token-a81c44f0e2"):
        assert value not in scrub(f"line with {value} inside")


def test_sink_secret_options_accept_a_file(tmp_path: Path) -> None:
    # Checked on the tree: which options a sink type accepts is the sinks room's business.
    hec = secret_file(tmp_path, "0c6f3f1e-9b8a-4c1d-8e2f-7a6b5c4d3e2f\n", "hec")
    tree = settings_tree(sinks=[{"name": "splunk", "type": "hec", "token_file": str(hec), "ca_file": "/ca.pem"}])
    sources = SourceMap()
    assert resolve_secret_files(tree, sources) == []
    sink = tree["sinks"][0]
    assert sink["token"] == "0c6f3f1e-9b8a-4c1d-8e2f-7a6b5c4d3e2f"
    assert sink["ca_file"] == "/ca.pem"  # not a secret name: left for the sink's own options model
    assert sources.origin(("sinks", 0, "token")) == f"file {hec}"
    assert "0c6f3f1e-9b8a-4c1d-8e2f-7a6b5c4d3e2f" in collect_secrets(tree)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "secret file not found"), ("", "secret file is empty"), ("\n", "secret file is empty")],
)
def test_bad_secret_file(write_config: WriteConfig, tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "secret"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    block = tenant(client_secret_file=str(path))
    del block["client_secret"]
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(settings_tree(tenants=[block])), env={})
    found = problems_of(exc)
    # Reported once, for the file; not a second time as a missing client_secret.
    assert set(found) == {"tenants.acme.client_secret_file"}
    problem = found["tenants.acme.client_secret_file"]
    assert message in problem.message
    assert problem.value == repr(str(path))
    assert problem.source == "config.yaml:4"


def test_secret_file_that_is_a_directory(write_config: WriteConfig, tmp_path: Path) -> None:
    block = tenant(client_secret_file=str(tmp_path))
    del block["client_secret"]
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(settings_tree(tenants=[block])), env={})
    assert "is a directory" in problems_of(exc)["tenants.acme.client_secret_file"].message


def test_value_and_file_together_are_refused(write_config: WriteConfig, tmp_path: Path) -> None:
    path = secret_file(tmp_path, ACME_SECRET)
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(settings_tree(tenants=[tenant(client_secret_file=str(path))])), env={})
    problem = problems_of(exc)["tenants.acme.client_secret_file"]
    assert "either client_secret or client_secret_file, not both" in problem.message
    assert ACME_SECRET not in all_text(exc)


def test_file_suffix_on_a_non_secret_key_is_an_unknown_key(write_config: WriteConfig) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(settings_tree(tenants=[tenant(client_id_file="/x")])), env={})
    assert "unknown key" in problems_of(exc)["tenants.acme.client_id_file"].message


@pytest.mark.parametrize(
    ("tree_overrides", "key"),
    [
        ({"tenants": [tenant(client_secret=["acme-secret-in-a-list-0001"])]}, "tenants.acme.client_secret"),
        ({"state": {"url": 99999999, "password": "pw-secret-0002-abcdef"}}, "state.url"),
        ({"actions": {"tokens": [{"name": "t", "token": {"x": "tok-secret-0003"}, "scopes": ["read"]}]}}, None),
    ],
)
def test_bad_secret_values_are_masked(
    write_config: WriteConfig, tree_overrides: dict[str, Any], key: str | None
) -> None:
    tree = settings_tree(**tree_overrides)
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(tree), env={})
    text = all_text(exc)
    for secret in ("acme-secret-in-a-list-0001", "99999999", "pw-secret-0002-abcdef", "tok-secret-0003"):
        assert secret not in text
    if key is not None:
        assert problems_of(exc)[key].value == "****"


def test_secret_in_an_env_override_with_other_problems_never_leaks(write_config: WriteConfig) -> None:
    env = {
        "MIMECAST_SIEM__TENANTS__ACME__CLIENT_SECRET": "env-secret-value-4242",
        "MIMECAST_SIEM__TENANTS__ACME__TIMEOUT": "env-secret-value-4242",  # pasted in the wrong variable
        "MIMECAST_SIEM__STATE__URL": "postgresql://u:db-pass-word-77@h/db",
        "MIMECAST_SIEM__SERVER__PORT": "-1",
    }
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(settings_tree()), env=env)
    text = all_text(exc)
    assert "env-secret-value-4242" not in text
    assert "db-pass-word-77" not in text
    assert problems_of(exc)["tenants.acme.timeout"].value == "'****'"


_secret_text = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="\"'\\${}"),
    min_size=12,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=_secret_text)
def test_no_problem_ever_shows_a_secret(write_config: WriteConfig, secret: str) -> None:
    redactor().clear()
    tree = settings_tree(
        tenants=[tenant(client_secret=secret, timeout=secret, base_url=f"https://{secret}")],
        sinks=[{"name": "s", "type": "stdout", "token": secret, "batch_max_events": secret}],
        state={"url": secret},
    )
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(tree), env={"SECRET_IN_ENV": secret})
    assert secret not in all_text(exc)


def test_loaded_secrets_are_registered_with_the_redactor(write_config: WriteConfig) -> None:
    tree = settings_tree(state={"url": "postgresql+psycopg://siem:url-pass-1234abcd@db/siem"})
    settings = load_settings(write_config(tree), env={})
    client_id = settings.tenants[0].client_id
    basic = base64.b64encode(f"{client_id}:{ACME_SECRET}".encode()).decode()
    line = f"secret={ACME_SECRET} pw=url-pass-1234abcd Authorization: Basic {basic}"
    cleaned = scrub(line)
    assert ACME_SECRET not in cleaned
    assert "url-pass-1234abcd" not in cleaned
    assert basic not in cleaned


def test_turning_tls_verification_off_warns_naming_the_tenant(
    write_config: WriteConfig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mimecast_siem.config")
    tree = settings_tree(tenants=[tenant("acme"), tenant("globex", verify_tls=False)])
    load_settings(write_config(tree), env={})
    warnings = [r for r in caplog.records if r.name == "mimecast_siem.config" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "TLS certificate verification is OFF for tenant globex" in warnings[0].getMessage()
    assert ACME_SECRET not in caplog.text
