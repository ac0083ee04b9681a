"""Whatever the file and environment hold, loading returns Settings or raises ConfigError: never a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mimecast_siem.config import Settings, load_settings
from mimecast_siem.config.schema import model_fields
from mimecast_siem.errors import ConfigError

# Keys the models know (so the trees reach deep validation) mixed with noise.
KNOWN_KEYS = sorted(
    {name for model in (Settings,) for name in model_fields(model)}
    | {
        "name",
        "client_id",
        "client_secret",
        "client_secret_file",
        "timeout",
        "base_url",
        "streams",
        "type",
        "format",
        "sinks",
        "tenants",
        "verify_tls",
        "lag",
        "ttp-url",
        "audit",
        "url",
        "password",
        "tokens",
        "scopes",
        "token",
        "port",
        "level",
    }
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(min_size=1, max_size=8))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["global", "uk", "http://127.0.0.1:1", "https://eu-api.mimecast.com", "5m", "${X}", "${X:-y}"]),
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)),
    max_leaves=25,
)
env_names = st.lists(st.sampled_from([*KNOWN_KEYS, "0", "1", "acme", ""]), min_size=1, max_size=4).map(
    lambda parts: "MIMECAST_SIEM__" + "__".join(p.upper() for p in parts)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=st.dictionaries(keys, trees, max_size=6), env=st.dictionaries(env_names, st.text(max_size=12), max_size=3))
def test_loading_never_crashes(tmp_path: Path, tree: dict[str, Any], env: dict[str, str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    outcome = _load(path, env)
    if isinstance(outcome, ConfigError):
        assert outcome.problems
        for problem in outcome.problems:
            assert problem.key
            assert problem.message
    else:
        assert isinstance(outcome, Settings)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_any_text_file_is_a_config_error_or_settings(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    outcome = _load(path, {})
    assert isinstance(outcome, Settings) or outcome.problems


def _load(path: Path, env: dict[str, str]) -> Settings | ConfigError:
    """The settings, or the ConfigError raised; any other exception fails the test."""
    try:
        return load_settings(path, env=env)
    except ConfigError as exc:
        return exc
