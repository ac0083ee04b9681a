"""Every allowed value and limit is enforced with a clear message before any request is sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mimecast_siem.actions.catalogue import CATALOGUE
from tests.actions.conftest import ActionEnv, CliRunner, bearer
from tests.actions.invalid_cases import BOGUS, INVALID_CASES, InvalidCase

REQUIRED = [
    (name, key)
    for name, spec in sorted(CATALOGUE.items())
    for key in spec.params.model_json_schema().get("required", [])
]


def _assert_problem_names(errors: list[dict[str, Any]], case: InvalidCase) -> None:
    match = [e for e in errors if e["key"] == case.key]
    assert match, f"no problem names {case.key}: {errors}"
    problem = match[0]
    if case.allowed:
        assert problem["allowed"] == list(case.allowed)
        assert BOGUS in problem["value"].lower()
    if case.max_items is not None:
        assert f"at most {case.max_items}" in problem["message"]


def test_the_generated_cases_cover_the_catalogue_limits() -> None:
    limits = {(c.action, c.key): c.max_items for c in INVALID_CASES if c.max_items}
    # the limits the catalogue states, each enforced
    assert limits[("decode-url", "encoded_urls")] == 25
    assert limits[("release-held-message", "id")] == 25
    assert limits[("create-address-alteration-policy", "policy_information")] == 50
    assert limits[("create-anti-spoofing-policy", "policy_information")] == 50
    assert limits[("update-group", "groups_information")] == 10
    assert limits[("delete-address-alteration-policy", "policy_id")] == 500
    assert limits[("delete-anti-spoofing-policy", "policy_id")] == 500
    assert limits[("get-address-alteration-policy", "policy_id")] == 500
    assert limits[("delete-policy-with-targets", "id")] == 10
    assert limits[("create-policy-with-targets", "urls")] == 5000


@pytest.mark.parametrize("case", INVALID_CASES, ids=lambda c: c.id)
async def test_http_refuses_before_any_request(case: InvalidCase, action_env: ActionEnv, http: Any) -> None:
    action_env.sim.reset_stats()
    resp = await http.post(f"/v1/actions/{case.action}", json={"params": case.params}, headers=bearer("ops"))
    doc = await resp.json(content_type=None)
    assert resp.status == 400, doc
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert doc["type"].endswith(":invalid")
    assert doc["instance"] == f"/v1/actions/{case.action}"
    _assert_problem_names(doc["errors"], case)
    assert action_env.requests_seen() == 0


@pytest.mark.parametrize("case", INVALID_CASES[::3], ids=lambda c: c.id)
async def test_cli_refuses_before_any_request(case: InvalidCase, action_env: ActionEnv, run_cli: CliRunner) -> None:
    action_env.sim.reset_stats()
    run = await run_cli("action", "run", case.action, "--params", json.dumps(case.params))
    assert run.code == 2, (run.out, run.err)
    _assert_problem_names(run.out["errors"], case)
    assert case.key in run.err  # the one-line summary names the key
    assert action_env.requests_seen() == 0


@pytest.mark.parametrize(("name", "key"), REQUIRED, ids=[f"{n}:{k}" for n, k in REQUIRED])
async def test_missing_required_parameter(name: str, key: str, action_env: ActionEnv, http: Any) -> None:
    action_env.sim.reset_stats()
    resp = await http.post(f"/v1/actions/{name}", json={"params": {}}, headers=bearer("ops"))
    doc = await resp.json(content_type=None)
    assert resp.status == 400
    assert {"key": key, "message": "is required"} in doc["errors"]
    assert action_env.requests_seen() == 0


@pytest.mark.parametrize(
    ("name", "params", "key", "fragment"),
    [
        (
            "create-blocked-sender-policy",
            {"policy_action": "block_sender", "policy_information": {"description": "d", "from": {"type": "bogus"}}},
            "policy_information.from.type",
            "allowed",
        ),
        (
            "create-blocked-sender-policy",
            {
                "policy_action": "block_sender",
                "policy_information": {"description": "d", "from": {"type": "individual_email_address"}},
            },
            "policy_information.from",
            "needs emailAddress",
        ),
        (
            "create-blocked-sender-policy",
            {"policy_action": "block_sender", "policy_information": {"description": "d", "frm": 1}},
            "policy_information.frm",
            "not a known parameter",
        ),
        ("get-ttp-url-logs", {"start": "2026-11-25T10:00:00"}, "start", "offset"),
        (
            "get-ttp-url-logs",
            {"start": "2026-11-25T10:00:00+0000", "end": "2026-11-24T10:00:00+0000"},
            "params",
            "start is after end",
        ),
        ("get-ttp-url-logs", {"page_size": 501}, "page_size", "500"),
        ("search", {}, "params", "exactly one"),
        (
            "add-group-member",
            {"member_information": [{"id": "abc", "emailAddress": "not-an-address"}]},
            "member_information[0].emailAddress",
            "an email address such as",
        ),
        ("create-remediation-incident", {"reason": "r", "search_by": "url"}, "params", "url is required"),
        (
            "create-remediation-incident",
            {"reason": "r", "search_by": "hash", "hash_or_message_id": "xyz"},
            "params",
            "MD5, SHA-1 or SHA-256",
        ),
        ("get-address-alteration-definition", {}, "params", "at least one"),
        ("find-remediation-incidents", {}, "params", "at least one"),
        ("get-ttp-impersonation-protect-logs", {"search_field": "subject"}, "params", "query is required"),
        ("get-managed-urls", {"sort_order": "desc"}, "params", "sort_by_url"),
        ("get-held-message-list", {"anything": 1}, "anything", "not a known parameter"),
    ],
)
async def test_cross_field_and_format_rules(
    name: str, params: dict[str, Any], key: str, fragment: str, action_env: ActionEnv, http: Any
) -> None:
    action_env.sim.reset_stats()
    resp = await http.post(f"/v1/actions/{name}", json={"params": params}, headers=bearer("ops"))
    doc = await resp.json(content_type=None)
    assert resp.status == 400, doc
    match = [e for e in doc["errors"] if e["key"] == key]
    assert match, doc["errors"]
    assert fragment in json.dumps(match[0]), match
    assert action_env.requests_seen() == 0


async def test_cli_bad_params_argument_is_bad_input(action_env: ActionEnv, run_cli: CliRunner) -> None:
    run = await run_cli("action", "run", "decode-url", "--params", "{not json")
    assert run.code == 2
    assert "not valid JSON" in run.err
    run = await run_cli("action", "run", "decode-url", "-p", "novalue")
    assert run.code == 2
    assert "key=value" in run.err
    run = await run_cli("action", "run", "no-such-action")
    assert run.code == 2
    assert "unknown action" in run.err
    assert action_env.requests_seen() == 0


async def test_unknown_tenant_is_refused(action_env: ActionEnv, http: Any, run_cli: CliRunner) -> None:
    resp = await http.post("/v1/actions/get-current-account-details", json={"tenant": "nope"}, headers=bearer("ops"))
    doc = await resp.json(content_type=None)
    assert resp.status == 400
    assert "acme, beta" in doc["detail"]
    run = await run_cli("action", "run", "get-current-account-details", "--tenant", "nope")
    assert run.code == 2
    assert "unknown or disabled tenant" in run.err
    assert action_env.requests_seen() == 0
