"""Every kind of bad input gives a problem naming the key, the value, what is allowed and the source."""

from __future__ import annotations

from typing import Any

import pytest

from mimecast_siem.config import load_settings
from mimecast_siem.errors import ConfigError
from tests.config.builders import problems_of, settings_tree, tenant
from tests.config.conftest import WriteConfig


def load_tree(write_config: WriteConfig, tree: dict[str, Any]) -> pytest.ExceptionInfo[ConfigError]:
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(tree), env={})
    return exc


@pytest.mark.parametrize(
    ("overrides", "key", "value", "message"),
    [
        ({"timeout": 5}, "tenants.acme.timeout", "5", "must be between 15 and 120"),
        ({"timeout": 121}, "tenants.acme.timeout", "121", "must be between 15 and 120"),
        ({"timeout": "soon"}, "tenants.acme.timeout", "'soon'", "allowed: between 15 and 120"),
        ({"verify_tls": "maybe"}, "tenants.acme.verify_tls", "'maybe'", "expected a valid boolean"),
        ({"base_url": "http://10.1.2.3"}, "tenants.acme.base_url", "'http://10.1.2.3'", "only allowed to a loopback"),
        ({"base_url": "https://eu-api.mimecast.com"}, "tenants.acme.base_url", None, "API 1.0 host"),
        ({"base_url": "ftp://x"}, "tenants.acme.base_url", "'ftp://x'", "expected an https URL"),
        ({"streams": ["ttp-url", "tp-url2"]}, "tenants.acme.streams", None, "did you mean 'ttp-url'?"),
        ({"proxy": "socks5://p:1080"}, "tenants.acme.proxy", "'socks5://p:1080'", "http:// or https:// proxy"),
        ({"rate_limit": {"max_concurrency": 0}}, "tenants.acme.rate_limit.max_concurrency", "0", "between 1 and 64"),
        (
            {"streams": {"audit": {"page_size": 501}}},
            "tenants.acme.streams.audit.page_size",
            "501",
            "between 1 and 500",
        ),
        ({"streams": {"audit": {"lag": "-5m"}}}, "tenants.acme.streams.audit.lag", "'-5m'", "expected a duration"),
    ],
)
def test_bad_tenant_value(
    write_config: WriteConfig, overrides: dict[str, Any], key: str, value: str | None, message: str
) -> None:
    exc = load_tree(write_config, settings_tree(tenants=[tenant(**overrides)]))
    found = problems_of(exc)
    assert set(found) == {key}
    problem = found[key]
    assert message in problem.message
    if value is not None:
        assert problem.value == value
    assert problem.source is not None
    assert problem.source.startswith("config.yaml:")


def test_bad_tenant_name_is_explained(write_config: WriteConfig) -> None:
    exc = load_tree(write_config, settings_tree(tenants=[tenant("Acme Corp")]))
    problem = problems_of(exc)["tenants[0].name"]
    assert "pattern" in problem.message
    assert problem.value == "'Acme Corp'"


def test_missing_required_keys_say_where_they_were_looked_for(write_config: WriteConfig) -> None:
    exc = load_tree(write_config, {"tenants": [{"name": "acme"}]})
    found = problems_of(exc)
    assert set(found) == {"tenants.acme.client_id", "tenants.acme.client_secret"}
    secret = found["tenants.acme.client_secret"]
    assert "required key is missing" in secret.message
    assert "client_secret_file" in secret.message
    assert "MIMECAST_SIEM__TENANTS__ACME__CLIENT_SECRET" in secret.message
    assert secret.source == "config.yaml:2"


def test_no_tenants_at_all(write_config: WriteConfig) -> None:
    found = problems_of(load_tree(write_config, {"tenants": []}))
    assert "needs at least one entry" in found["tenants"].message
    found = problems_of(load_tree(write_config, {"server": {"port": 1}}))
    assert "required key is missing" in found["tenants"].message


def test_unknown_top_level_key_suggests(write_config: WriteConfig) -> None:
    found = problems_of(load_tree(write_config, settings_tree(sink=[])))
    assert found["sink"].message == "unknown key; did you mean 'sinks'?"
    assert found["sink"].source == "config.yaml:5"


def test_unknown_key_far_from_any_lists_the_allowed_keys(write_config: WriteConfig) -> None:
    found = problems_of(load_tree(write_config, settings_tree(server={"qqq": 1})))
    assert found["server.qqq"].message == "unknown key; allowed here: enabled, host, port"


def test_unknown_stream_at_top_level_and_in_routes(write_config: WriteConfig) -> None:
    tree = settings_tree(
        streams={"ttp-urls": {"lag": "1m"}},
        sinks=[{"name": "out", "type": "stdout"}],
        routes=[{"streams": ["audits"], "sinks": ["out"]}],
    )
    found = problems_of(load_tree(write_config, tree))
    assert "did you mean 'ttp-url'?" in found["streams"].message
    assert "did you mean 'audit'?" in found["routes[0].streams"].message


def test_bad_format_literal(write_config: WriteConfig) -> None:
    tree = settings_tree(sinks=[{"name": "out", "type": "stdout", "format": "jsn"}])
    found = problems_of(load_tree(write_config, tree))
    problem = found["sinks.out.format"]
    assert "must be one of 'json', 'raw', 'cef', 'leef' or 'ocsf'" in problem.message
    assert "did you mean 'json'?" in problem.message


def test_duplicate_tenant_points_at_both(write_config: WriteConfig) -> None:
    found = problems_of(load_tree(write_config, settings_tree(tenants=[tenant("acme"), tenant("acme")])))
    problem = found["tenants[1].name"]
    assert "duplicate tenant name" in problem.message
    assert "tenants[0]" in problem.message
    assert "config.yaml:2" in problem.message
    assert problem.source == "config.yaml:5"


def test_route_to_unknown_sink_and_tenant(write_config: WriteConfig) -> None:
    tree = settings_tree(
        sinks=[{"name": "splunk", "type": "stdout"}],
        routes=[{"sinks": ["splnk"], "tenants": ["acmee"]}],
        actions={"default_tenant": "nobody"},
    )
    found = problems_of(load_tree(write_config, tree))
    assert "no sink named 'splnk'" in found["routes[0].sinks[0]"].message
    assert "did you mean 'splunk'?" in found["routes[0].sinks[0]"].message
    assert "did you mean 'acme'?" in found["routes[0].tenants[0]"].message
    assert "no tenant named 'nobody'" in found["actions.default_tenant"].message


def test_missing_ca_bundle(write_config: WriteConfig, tmp_path: Any) -> None:
    found = problems_of(load_tree(write_config, settings_tree(tenants=[tenant(ca_bundle=str(tmp_path / "ca.pem"))])))
    assert "CA bundle file not found" in found["tenants.acme.ca_bundle"].message


def test_action_token_needs_exactly_one_secret(write_config: WriteConfig) -> None:
    tree = settings_tree(actions={"tokens": [{"name": "soar", "scopes": ["read"]}]})
    found = problems_of(load_tree(write_config, tree))
    assert "exactly one of sha256 or token" in found["actions.tokens.soar"].message


def test_several_errors_reported_at_once_sorted_by_key(write_config: WriteConfig) -> None:
    tree = {
        "tenants": [
            tenant("acme", timeout=1, base_url="http://example.com"),
            tenant("globex", client_id=None, streams=["nope"]),
            tenant("acme"),
        ],
        "server": {"port": 70000},
        "logging": {"level": "LOUD"},
        "routes": [{"sinks": ["missing"]}],
    }
    exc = load_tree(write_config, tree)
    keys = [p.key for p in exc.value.problems]
    assert keys == sorted(keys)
    assert set(keys) == {
        "logging.level",
        "routes[0].sinks[0]",
        "server.port",
        "tenants[0].base_url",
        "tenants[0].timeout",
        "tenants.globex.client_id",
        "tenants.globex.streams",
        "tenants[2].name",
    }
    assert str(exc.value).startswith("configuration has 8 problems:")
    for problem in exc.value.problems:
        assert problem.source, problem


def test_valid_full_featured_tree_loads(write_config: WriteConfig) -> None:
    tree = settings_tree(
        tenants=[
            tenant("acme", base_url="us", timeout=30, streams={"ttp-url": {"lag": "2m"}, "audit": None}),
            tenant("globex", base_url="http://127.0.0.1:8080", streams=["held-messages"]),
        ],
        streams={"ttp-url": {"poll_interval": "PT30S", "start_from": "2026-11-01T00:00:00Z"}},
        sinks=[{"name": "out", "type": "stdout", "format": "cef"}],
        routes=[{"streams": ["ttp-url"], "tenants": ["acme"], "sinks": ["out"]}],
    )
    settings = load_settings(write_config(tree), env={})
    acme = settings.tenant("acme")
    assert acme.base_url == "https://us-api.services.mimecast.com"
    assert settings.enabled_streams(acme) == ["ttp-url", "audit"]
    assert settings.stream_settings(acme, "ttp-url").lag.total_seconds() == 120
    assert settings.stream_settings(acme, "ttp-url").poll_interval.total_seconds() == 30
    assert [s.name for s in settings.sinks_for("acme", "ttp-url")] == ["out"]
    assert settings.sinks_for("globex", "held-messages") == []


@pytest.mark.parametrize(
    ("tree", "key", "message"),
    [
        ({"state": {"lease_ttl": "1s"}}, "state.lease_ttl", "allowed: at least 3s"),
        ({"daemon": {"shutdown_grace": "0s"}}, "daemon.shutdown_grace", "allowed: 1s to 1h"),
        ({"daemon": {"shutdown_grace": "2h"}}, "daemon.shutdown_grace", "allowed: 1s to 1h"),
    ],
)
def test_lease_and_grace_lifetimes_are_bounded(
    write_config: WriteConfig, tree: dict[str, Any], key: str, message: str
) -> None:
    exc = load_tree(write_config, settings_tree(**tree))
    found = problems_of(exc)
    assert set(found) == {key}
    assert message in found[key].message
