"""``action describe`` and the OpenAPI document describe every parameter and nested key; errors say
the expected form in words; a mistyped action name gets a suggestion (issue 17, item 6)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from mimecast_siem.actions.catalogue import CATALOGUE
from mimecast_siem.actions.openapi import openapi_document, parameter_table, params_schema
from mimecast_siem.actions.validation import ParamsInvalid, validate_params
from tests.actions.conftest import ActionEnv, CliRunner, bearer


def _described(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> bool:
    if prop.get("description"):
        return True
    for branch in [prop, *prop.get("anyOf", []), *prop.get("allOf", [])]:
        ref = branch.get("$ref") if isinstance(branch, Mapping) else None
        if ref and defs.get(str(ref).rsplit("/", 1)[-1], {}).get("description"):
            return True
    return False


def undescribed(schema: Any, defs: Mapping[str, Any], path: str, seen: frozenset[str] = frozenset()) -> Iterator[str]:
    """Every property (at any depth, through refs, unions, arrays and maps) without a description."""
    if not isinstance(schema, Mapping):
        return
    ref = schema.get("$ref")
    if ref:
        name = str(ref).rsplit("/", 1)[-1]
        if name not in seen:
            yield from undescribed(defs.get(name, {}), defs, path, seen | {name})
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, []):
            yield from undescribed(branch, defs, path, seen)
    yield from undescribed(schema.get("items"), defs, path + "[]", seen)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        yield from undescribed(extra, defs, path + "{}", seen)
    for name, prop in (schema.get("properties") or {}).items():
        if not _described(prop, defs):
            yield f"{path}.{name}"
        yield from undescribed(prop, defs, f"{path}.{name}", seen)


def test_describe_has_no_parameter_without_a_description() -> None:
    missing: list[str] = []
    for spec in CATALOGUE.values():
        schema = params_schema(spec)
        missing += undescribed(schema, schema.get("$defs", {}), spec.name)
        missing += [f"{spec.name}.{row['name']} (table)" for row in parameter_table(spec) if not row.get("description")]
    assert not missing, f"{len(missing)} parameters without a description: {missing[:20]}"


def test_the_openapi_document_has_no_parameter_without_a_description() -> None:
    doc = openapi_document()
    defs = doc["components"]["schemas"]
    missing: list[str] = []
    for path, ops in doc["paths"].items():
        for op in ops.values():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            missing += undescribed(body, defs, path)
    assert not missing, f"{len(missing)} parameters without a description: {missing[:20]}"


BAD_FORMS = [
    ("release-held-message", {"id": "not an id"}),
    ("add-group-member", {"member_information": [{"id": "abc", "emailAddress": "not-an-address"}]}),
    ("add-group-member", {"member_information": [{"id": "abc", "domain": "no_dots"}]}),
    ("search-file-hash", {"hashes": ["xyz"]}),
    ("search", {"message_id": "two words"}),
    ("create-managed-url", {"url_information": [{"url": "a b", "action": "block"}]}),
    ("generic-action", {"method": "GET", "endpoint": "api/x", "query_params": {"bad key": "v"}}),
    ("create-group", {"groups_information": [{"description": "line\nbreak"}]}),
]


@pytest.mark.parametrize(("action", "params"), BAD_FORMS)
def test_errors_state_the_expected_form_in_words(action: str, params: dict[str, Any]) -> None:
    spec = CATALOGUE[action]
    with pytest.raises(ParamsInvalid) as info:
        validate_params(action, spec.params, params)
    text = str(info.value)
    assert "pattern" not in text
    assert "^" not in text, text
    assert "[^" not in text, text
    assert "expected" in text, text


async def test_mistyped_action_names_get_a_suggestion(action_env: ActionEnv, run_cli: CliRunner, http: Any) -> None:
    run = await run_cli("action", "run", "relase-held-message", "-p", "id=x")
    assert run.code == 2
    assert "did you mean 'release-held-message'" in run.err
    described = await run_cli("action", "describe", "get-blocked-sender-policy", config=False)
    assert "did you mean 'get-blocked-sender-policies'" in described.err
    resp = await http.post("/v1/actions/decode-urls", json={}, headers=bearer("ops"))
    assert resp.status == 404
    assert "did you mean 'decode-url'" in (await resp.json(content_type=None))["detail"]
