"""Pure parts, property-tested: the path guard, -p parsing, times, tokens, digests, request builders."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from mimecast_siem.actions.access import Decision, TokenRegistry, bearer_token, grants_from_settings
from mimecast_siem.actions.audit import audit_action_name, audit_code, params_digest
from mimecast_siem.actions.catalogue import CATALOGUE
from mimecast_siem.actions.catalogue.policies import nullifying_policy
from mimecast_siem.actions.commands import ParamsArgumentError, parse_param_pairs, parse_since
from mimecast_siem.actions.params import parse_action_time
from mimecast_siem.actions.pathguard import UnsafePath, join_on_base, safe_relative_path
from mimecast_siem.actions.spec import Scope
from mimecast_siem.actions.validation import ParamsInvalid, validate_params
from mimecast_siem.config.models import ActionTokenSettings
from mimecast_siem.times import format_mimecast_time

BASE = "https://uk-api.services.mimecast.com"


# --- path guard ---------------------------------------------------------------------------------------

segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..")
)


@given(st.lists(segment, min_size=1, max_size=6), st.booleans())
def test_accepted_paths_stay_on_the_base_url(parts: list[str], leading_slash: bool) -> None:
    raw = ("/" if leading_slash else "") + "/".join(parts)
    try:
        path = safe_relative_path(raw)
    except UnsafePath:
        assert raw.lower().lstrip("/").startswith("oauth")
        return
    url = join_on_base(BASE, path)
    assert urlsplit(url).hostname == "uk-api.services.mimecast.com"
    assert url.startswith(BASE + "/")


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_no_input_escapes_the_base_url(raw: str) -> None:
    try:
        path = safe_relative_path(raw)
    except UnsafePath:
        return
    parts = urlsplit(join_on_base(BASE, path))
    assert parts.hostname == "uk-api.services.mimecast.com"
    assert ".." not in parts.path.split("/")
    assert "%" not in parts.path
    assert "\\" not in parts.path


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("https://evil.example.com/x", "':'"),
        ("//evil.example.com/x", "'//'"),
        ("api/../x", "'..'"),
        ("api/%2e%2e/x", "percent"),
        ("api/%252e%252e/x", "percent"),
        ("api\\x", "backslash"),
        ("api/x\ty", "whitespace"),
        ("", "empty"),
        ("oauth/token", "/oauth"),
        ("a" * 600, "longer"),
    ],
)
def test_path_guard_reasons(raw: str, reason: str) -> None:
    with pytest.raises(UnsafePath, match=reason):
        safe_relative_path(raw)


def test_join_on_base_refuses_a_changed_authority() -> None:
    with pytest.raises(UnsafePath):
        join_on_base(BASE, "@evil.example.com/x")


# --- -p parsing ---------------------------------------------------------------------------------------

key = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)


@given(
    st.dictionaries(
        key,
        st.one_of(st.integers(-(2**63), 2**63 - 1), st.booleans(), st.text(alphabet="abc xyz", max_size=8)),
        max_size=5,
    )
)
def test_param_pairs_round_trip(values: dict[str, Any]) -> None:
    import json

    pairs = [f"{k}={json.dumps(v)}" for k, v in values.items()]
    assert parse_param_pairs(pairs) == values


def test_param_pairs_strings_and_nesting() -> None:
    out = parse_param_pairs(["a.b.c=1", "a.b.d=hello world", "e=[1,2]", "f=eNo123"], {"x": 1})
    assert out == {"x": 1, "a": {"b": {"c": 1, "d": "hello world"}}, "e": [1, 2], "f": "eNo123"}
    with pytest.raises(ParamsArgumentError):
        parse_param_pairs(["a=1", "a.b=2"])
    with pytest.raises(ParamsArgumentError):
        parse_param_pairs(["a..b=1"])


def test_parse_since() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("2026-11-01T00:00:00", now) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="duration"):
        parse_since("last tuesday", now)


# --- times --------------------------------------------------------------------------------------------


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)))
def test_time_round_trip(dt: datetime) -> None:
    text = format_mimecast_time(dt)
    assert text.endswith("+0000")
    assert parse_action_time(text) == dt.replace(microsecond=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T10:00:00+0000", "2026-11-25T10:00:00+0000"),
        ("2026-11-25T10:00:00+00:00", "2026-11-25T10:00:00+0000"),
        ("2026-11-25T10:00:00Z", "2026-11-25T10:00:00+0000"),
        ("2026-11-25t10:00:00z", "2026-11-25T10:00:00+0000"),
        ("2026-11-25T12:00:00.250+0200", "2026-11-25T10:00:00+0000"),
    ],
)
def test_times_are_normalised(text: str, expected: str) -> None:
    assert format_mimecast_time(parse_action_time(text)) == expected


@pytest.mark.parametrize("text", ["2026-11-25T10:00:00", "2026-13-25T10:00:00Z", "yesterday", "2026-11-25"])
def test_bad_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected|calendar"):
        parse_action_time(text)


# --- tokens and audit fields ------------------------------------------------------------------------------


def _registry() -> TokenRegistry:
    return TokenRegistry(
        grants_from_settings(
            [
                ActionTokenSettings(name="hashed", sha256=hashlib.sha256(b"t1").hexdigest(), scopes=["read"]),
                ActionTokenSettings(name="clear", token=SecretStr("t2"), scopes=["write", "admin"], tenants=["acme"]),
            ]
        )
    )


def test_tokens_hashed_or_clear_both_verify_and_no_clear_token_is_kept() -> None:
    registry = _registry()
    hashed, clear = registry.identify("Bearer t1"), registry.identify("bearer t2")
    assert hashed is not None
    assert clear is not None
    assert (hashed.name, clear.name) == ("hashed", "clear")
    assert clear.digest == hashlib.sha256(b"t2").digest()
    assert "t2" not in repr(clear)
    assert registry.identify("Bearer t3") is None
    assert registry.identify("Token t1") is None


@pytest.mark.parametrize(
    ("header", "scope", "tenant", "decision"),
    [
        ("Bearer t1", Scope.READ, "acme", Decision.ALLOWED),
        ("Bearer t1", Scope.WRITE, "acme", Decision.FORBIDDEN),
        ("Bearer t2", Scope.ADMIN, "acme", Decision.ALLOWED),
        ("Bearer t2", Scope.READ, "acme", Decision.FORBIDDEN),  # admin does not imply read
        ("Bearer t2", Scope.WRITE, "beta", Decision.FORBIDDEN),
        ("Bearer nope", Scope.READ, "acme", Decision.UNAUTHORIZED),
        (None, Scope.READ, "acme", Decision.UNAUTHORIZED),
    ],
)
def test_access_decisions(header: str | None, scope: Scope, tenant: str, decision: Decision) -> None:
    spec = next(s for s in CATALOGUE.values() if s.scope is scope)
    assert _registry().check(header, spec, tenant).decision is decision


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("BEARER  abc ") == "abc"
    assert bearer_token("Bearer a b") is None
    assert bearer_token("Bearer " + "x" * 5000) is None


@given(st.dictionaries(st.text(max_size=5), st.integers(), max_size=5))
def test_params_digest_ignores_key_order(values: dict[str, int]) -> None:
    reordered = dict(reversed(list(values.items())))
    assert params_digest(values) == params_digest(reordered)
    assert len(params_digest(values)) == 64


def test_audit_fields_are_sanitised() -> None:
    assert audit_action_name("release-held-message") == "release-held-message"
    assert audit_action_name("../../etc/passwd") == "invalid-name"
    assert audit_code("err_validation_null") == "err_validation_null"
    assert audit_code("bad code; drop table") == "bad_code__drop_table"


# --- builders -----------------------------------------------------------------------------------------------


def test_nullifying_policy_copies_items_and_sets_override() -> None:
    original = {
        "description": "Block x",
        "from": {"type": "individual_email_address", "emailAddress": "x@bad.example.net"},
        "to": {"type": "everyone"},
        "override": False,
        "id": "eNoPolicy",
        "lastUpdated": "2026-11-25T10:00:00+0000",
        "conditions": {"sourceIPs": ["192.0.2.0/24"]},
    }
    policy = nullifying_policy(original)
    assert policy["override"] is True
    assert policy["from"] == original["from"]
    assert policy["conditions"] == original["conditions"]
    assert "id" not in policy
    assert "lastUpdated" not in policy


def test_builders_send_the_wire_names() -> None:
    spec = CATALOGUE["get-ttp-url-logs"]
    params = validate_params(spec.name, spec.params, {"start": "2026-11-25T10:00:00Z", "scan_result": "malicious"})
    call = spec.build(params)[0]
    assert call.path == "/api/ttp/url/get-logs"
    assert call.body == {
        "data": [{"oldestFirst": False, "from": "2026-11-25T10:00:00+0000", "route": "all", "scanResult": "malicious"}],
        "meta": {"pagination": {"pageSize": 100}},
    }
    spec = CATALOGUE["create-remediation-incident"]
    params = validate_params(
        spec.name, spec.params, {"reason": "r", "search_by": "messageId", "hash_or_message_id": "abc@x"}
    )
    assert spec.build(params)[0].data == [{"reason": "r", "searchBy": "messageId", "hashOrMessageId": "<abc@x>"}]
    spec = CATALOGUE["list-messages"]
    params = validate_params(spec.name, spec.params, {"view": "sent"})
    assert spec.build(params)[0].data[0]["view"] == "SENT"


def test_every_spec_is_complete() -> None:
    assert len(CATALOGUE) == 50
    for spec in CATALOGUE.values():
        assert spec.title
        assert spec.summary
        assert spec.source, spec.name
        assert spec.name == spec.title.lower().replace(" ", "-"), spec.name
    scopes = {s.name: s.scope for s in CATALOGUE.values()}
    assert [n for n, s in scopes.items() if s is Scope.ADMIN] == ["generic-action"]
    for name, scope in scopes.items():
        verb = name.split("-")[0]
        if verb in ("get", "list", "search", "decode", "find"):
            assert scope is Scope.READ, name
        elif name != "generic-action":
            assert scope is Scope.WRITE, name


def test_no_params_actions_refuse_extras() -> None:
    spec = CATALOGUE["get-current-account-details"]
    with pytest.raises(ParamsInvalid, match="not a known parameter"):
        validate_params(spec.name, spec.params, {"x": 1})
