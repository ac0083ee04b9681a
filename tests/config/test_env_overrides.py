"""Environment overrides: MIMECAST_SIEM__<KEY>__<KEY>... for every key, and their mistakes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.config import load_settings
from mimecast_siem.config.overrides import apply_env_overrides, override_variables
from mimecast_siem.config.sources import SourceMap
from mimecast_siem.errors import ConfigError
from tests.config.builders import ACME_SECRET, GLOBEX_SECRET, problems_of, settings_tree, tenant
from tests.config.conftest import WriteConfig


def test_precedence_default_then_yaml_then_env(write_config: WriteConfig) -> None:
    path = write_config(settings_tree(tenants=[tenant(timeout=30)], server={"port": 9200}))
    settings = load_settings(path, env={})
    assert settings.tenants[0].timeout == 30  # YAML beats the default 15
    assert settings.server.host == "127.0.0.1"  # default untouched
    settings = load_settings(path, env={"MIMECAST_SIEM__TENANTS__ACME__TIMEOUT": "60"})
    assert settings.tenants[0].timeout == 60  # env beats YAML
    assert settings.server.port == 9200


def test_keys_are_case_insensitive_and_underscores_match_dashes(write_config: WriteConfig) -> None:
    path = write_config(settings_tree())
    env = {
        "mimecast_siem__streams__TTP_URL__lag": "2m",
        "MIMECAST_SIEM__Server__Port": "9300",
    }
    settings = load_settings(path, env=env)
    assert settings.streams["ttp-url"].lag == timedelta(minutes=2)
    assert settings.server.port == 9300


def test_list_items_by_index_and_by_name(write_config: WriteConfig) -> None:
    path = write_config(settings_tree(tenants=[tenant("acme"), tenant("globex")]))
    env = {
        "MIMECAST_SIEM__TENANTS__0__TIMEOUT": "20",
        "MIMECAST_SIEM__TENANTS__GLOBEX__CLIENT_SECRET": GLOBEX_SECRET,
    }
    settings = load_settings(path, env=env)
    assert settings.tenants[0].timeout == 20
    assert settings.tenant("globex").client_secret.get_secret_value() == GLOBEX_SECRET
    assert settings.tenant("acme").client_secret.get_secret_value() == ACME_SECRET


def test_whole_tenant_from_environment_without_a_file() -> None:
    env = {
        "MIMECAST_SIEM__TENANTS__ACME__CLIENT_ID": "acme-id",
        "MIMECAST_SIEM__TENANTS__ACME__CLIENT_SECRET": ACME_SECRET,
        "MIMECAST_SIEM__TENANTS__ACME__BASE_URL": "uk",
        "MIMECAST_SIEM__TENANTS__ACME__STREAMS": "[ttp-url, audit]",
    }
    settings = load_settings(None, env=env)
    (acme,) = settings.tenants
    assert acme.name == "acme"
    assert acme.base_url == "https://uk-api.services.mimecast.com"
    assert settings.enabled_streams(acme) == ["ttp-url", "audit"]


def test_values_are_parsed_as_yaml_but_text_keys_stay_text(write_config: WriteConfig) -> None:
    path = write_config(settings_tree())
    env = {
        "MIMECAST_SIEM__TENANTS__ACME__VERIFY_TLS": "true",
        "MIMECAST_SIEM__TENANTS__ACME__CLIENT_ID": "00123",  # text: not the number 123
        "MIMECAST_SIEM__TENANTS__ACME__CLIENT_SECRET": "12345678",  # secret: kept as given
        "MIMECAST_SIEM__ROUTES": "[{sinks: [out]}]",
        "MIMECAST_SIEM__SINKS__OUT__TYPE": "stdout",
    }
    settings = load_settings(path, env=env)
    assert settings.tenants[0].client_id == "00123"
    assert settings.tenants[0].client_secret.get_secret_value() == "12345678"
    assert settings.routes[0].sinks == ["out"]
    assert settings.sinks[0].name == "out"


def test_tenant_stream_override_through_a_list_of_names(write_config: WriteConfig) -> None:
    path = write_config(settings_tree(tenants=[tenant(streams=["ttp-url", "audit"])]))
    settings = load_settings(path, env={"MIMECAST_SIEM__TENANTS__ACME__STREAMS__AUDIT__LAG": "10m"})
    acme = settings.tenants[0]
    assert settings.enabled_streams(acme) == ["ttp-url", "audit"]
    assert settings.stream_settings(acme, "audit").lag == timedelta(minutes=10)


def test_env_value_that_is_not_yaml_is_taken_as_text(write_config: WriteConfig) -> None:
    path = write_config(settings_tree())
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={"MIMECAST_SIEM__TENANTS__ACME__TIMEOUT": "{not yaml"})
    problem = problems_of(exc)["tenants.acme.timeout"]
    assert problem.value == "'{not yaml'"
    assert problem.source == "env MIMECAST_SIEM__TENANTS__ACME__TIMEOUT"


# --- bad overrides -------------------------------------------------------------------------------


def test_bad_value_names_the_variable(write_config: WriteConfig) -> None:
    path = write_config(settings_tree())
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={"MIMECAST_SIEM__TENANTS__ACME__TIMEOUT": "abc"})
    problem = problems_of(exc)["tenants.acme.timeout"]
    assert problem.source == "env MIMECAST_SIEM__TENANTS__ACME__TIMEOUT"
    assert problem.value == "'abc'"
    assert "15 and 120" in problem.message


def test_unknown_key_suggests_the_right_one(write_config: WriteConfig) -> None:
    path = write_config(settings_tree())
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={"MIMECAST_SIEM__TENANTS__ACME__TIMOUT": "30"})
    problem = problems_of(exc)["tenants.acme.timout"]
    assert "did you mean 'timeout'?" in problem.message
    assert problem.source == "env MIMECAST_SIEM__TENANTS__ACME__TIMOUT"


def test_unknown_key_without_a_close_match_lists_the_allowed_ones(write_config: WriteConfig) -> None:
    path = write_config(settings_tree())
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={"MIMECAST_SIEM__SERVER__ZZZZ": "1"})
    message = problems_of(exc)["server.zzzz"].message
    assert "allowed under server: enabled, host, port" in message


def test_index_out_of_range(write_config: WriteConfig) -> None:
    path = write_config(settings_tree())
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={"MIMECAST_SIEM__TENANTS__5__TIMEOUT": "30"})
    problem = problems_of(exc)["tenants[5]"]
    assert "out of range" in problem.message
    assert "1 item(s)" in problem.message
    assert problem.source == "env MIMECAST_SIEM__TENANTS__5__TIMEOUT"


def test_malformed_variable_name(write_config: WriteConfig) -> None:
    path = write_config(settings_tree())
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={"MIMECAST_SIEM__TENANTS____TIMEOUT": "30"})
    problem = problems_of(exc)["MIMECAST_SIEM__TENANTS____TIMEOUT"]
    assert "two underscores" in problem.message


def test_key_inside_a_single_value(write_config: WriteConfig) -> None:
    path = write_config(settings_tree())
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={"MIMECAST_SIEM__TENANTS__ACME__TIMEOUT__X": "1"})
    assert "holds a single value" in problems_of(exc)["tenants.acme.timeout"].message


def test_list_of_plain_values_has_no_names(write_config: WriteConfig) -> None:
    path = write_config(settings_tree(routes=[{"sinks": ["a"]}], sinks=[{"name": "a", "type": "stdout"}]))
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={"MIMECAST_SIEM__ROUTES__0__SINKS__FIRST": "a"})
    assert "address them by index" in problems_of(exc)["routes[0].sinks.first"].message


def test_unrelated_variables_are_ignored(write_config: WriteConfig) -> None:
    path = write_config(settings_tree())
    settings = load_settings(path, env={"MIMECAST_SIEMX": "1", "MIMECAST_SIEM_CONFIG_OTHER": "2", "HOME": "/"})
    assert settings.tenants[0].name == "acme"


def test_shallow_overrides_apply_before_deep_ones() -> None:
    env = {
        "MIMECAST_SIEM__TENANTS__ACME__TIMEOUT": "40",
        "MIMECAST_SIEM__TENANTS": f"[{{name: acme, client_id: x, client_secret: {ACME_SECRET}}}]",
    }
    assert [k for k, _ in override_variables(env)] == [
        "MIMECAST_SIEM__TENANTS",
        "MIMECAST_SIEM__TENANTS__ACME__TIMEOUT",
    ]
    settings = load_settings(None, env=env)
    assert settings.tenants[0].timeout == 40


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=15, max_value=120), st.integers(min_value=0, max_value=65535))
def test_any_numeric_override_round_trips(timeout: int, port: int) -> None:
    tree = settings_tree()
    sources = SourceMap()
    env = {"MIMECAST_SIEM__TENANTS__0__TIMEOUT": str(timeout), "MIMECAST_SIEM__SERVER__PORT": str(port)}
    assert apply_env_overrides(tree, env, sources) == []
    assert tree["tenants"][0]["timeout"] == timeout
    assert tree["server"]["port"] == port
    assert sources.origin(("server", "port")) == "env MIMECAST_SIEM__SERVER__PORT"


def test_a_misspelt_item_name_adds_an_item_and_says_so(write_config: WriteConfig) -> None:
    path = write_config(settings_tree())
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={"MIMECAST_SIEM__TENANTS__ACMEE__TIMEOUT": "30"})
    problem = problems_of(exc)["tenants.acmee.client_id"]
    assert problem.source == "env MIMECAST_SIEM__TENANTS__ACMEE__TIMEOUT (which adds this item)"
