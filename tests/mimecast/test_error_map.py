"""The error map as data: every failure shape parsed, every status and code classified (quirks 1, 2, 14)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.errors import MimecastFailure
from mimecast_siem.mimecast import Action, classify, parse_failures
from mimecast_siem.mimecast.error_map import MAX_FAILURES, MAX_MESSAGE_CHARS, rule_for_status


def failure(code: str, retryable: bool = False) -> MimecastFailure:
    return MimecastFailure(code=code, message="m", retryable=retryable)


# --- parsing the three shapes -----------------------------------------------------------------


def test_parses_mimecast_fail_errors_with_key() -> None:
    body = {
        "meta": {"status": 200},
        "data": [],
        "fail": [
            {
                "key": {"from": "x"},
                "errors": [{"code": "err_validation_null", "message": "date is null", "retryable": False}],
            }
        ],
    }
    assert parse_failures(body) == [
        MimecastFailure(code="err_validation_null", message="date is null", retryable=False, key={"from": "x"})
    ]


def test_parses_flat_fail_entries() -> None:
    body = {"fail": [{"code": "err_xdk_client_unauthorized", "message": "Authorization header missing"}]}
    assert [f.code for f in parse_failures(body)] == ["err_xdk_client_unauthorized"]


def test_parses_oauth_error_body() -> None:
    body = {"error": "invalid_client", "error_description": "Client authentication failed"}
    assert parse_failures(body) == [MimecastFailure(code="invalid_client", message="Client authentication failed")]


def test_parses_siem_style_error_object() -> None:
    body = {"error": {"code": "forbidden", "message": "Not allowed"}}
    assert parse_failures(body) == [MimecastFailure(code="forbidden", message="Not allowed")]


def test_parses_rest_errors_list() -> None:
    assert [f.code for f in parse_failures({"errors": [{"code": "bad", "message": "x"}]})] == ["bad"]


def test_retryable_flag_is_read() -> None:
    body = {"fail": [{"errors": [{"code": "err_x", "message": "busy", "retryable": True}]}]}
    assert parse_failures(body)[0].retryable is True


@pytest.mark.parametrize("body", [None, [], "text", {"fail": []}, {"fail": "oops"}, {"data": []}, {"error": ""}])
def test_no_failures_in_bodies_without_them(body: object) -> None:
    assert parse_failures(body) == []


def test_messages_and_counts_are_bounded() -> None:
    body = {"fail": [{"errors": [{"code": "c", "message": "x" * 5000}] * 100}]}
    parsed = parse_failures(body)
    assert len(parsed) == MAX_FAILURES
    assert all(len(f.message) <= MAX_MESSAGE_CHARS for f in parsed)


@settings(deadline=None)  # CI machines are shared; timing is not what these test
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_parse_never_crashes_on_arbitrary_json(body: object) -> None:
    for f in parse_failures(body):
        assert isinstance(f.code, str)


@settings(deadline=None)  # CI machines are shared; timing is not what these test
@given(
    st.dictionaries(
        st.sampled_from(["fail", "errors", "error", "error_description", "meta", "data"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
        ),
    )
)
def test_parse_never_crashes_on_envelope_like_json(body: dict[str, object]) -> None:
    assert len(parse_failures(body)) <= MAX_FAILURES


# --- classification ------------------------------------------------------------------------------


def test_success_is_none() -> None:
    assert classify(200, []) is None
    assert classify(204, []) is None


def test_200_with_validation_fail_is_permanent() -> None:
    verdict = classify(200, [failure("err_validation_null")])
    assert verdict is not None
    assert verdict.action is Action.PERMANENT
    assert not verdict.rule.auth


def test_200_with_retryable_fail_is_retried() -> None:
    verdict = classify(200, [failure("err_something_busy", retryable=True)])
    assert verdict is not None
    assert verdict.action is Action.RETRY


def test_200_with_unknown_non_retryable_fail_is_permanent() -> None:
    verdict = classify(200, [failure("err_unheard_of")])
    assert verdict is not None
    assert verdict.action is Action.PERMANENT


def test_403_app_forbidden_is_permanent_auth_with_actionable_message() -> None:
    verdict = classify(403, [failure("app_forbidden")])
    assert verdict is not None
    assert verdict.action is Action.PERMANENT
    assert verdict.rule.auth
    assert "role" in verdict.rule.message
    assert "products" in verdict.rule.message


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599, 408])
def test_server_errors_retry(status: int) -> None:
    verdict = classify(status, [])
    assert verdict is not None
    assert verdict.action is Action.RETRY


def test_5xx_with_unknown_code_still_retries() -> None:
    verdict = classify(500, [failure("err_internal")])
    assert verdict is not None
    assert verdict.action is Action.RETRY


@pytest.mark.parametrize("failures", [[], [failure("err_validation_null")], [failure("anything", retryable=True)]])
def test_429_is_always_rate_limited(failures: list[MimecastFailure]) -> None:
    verdict = classify(429, failures)
    assert verdict is not None
    assert verdict.action is Action.RATE_LIMITED


@pytest.mark.parametrize("failures", [[], [failure("err_xdk_client_unauthorized")], [failure("err_validation_x")]])
def test_401_is_always_reauth(failures: list[MimecastFailure]) -> None:
    verdict = classify(401, failures)
    assert verdict is not None
    assert verdict.action is Action.REAUTH


@pytest.mark.parametrize("code", ["invalid_client", "unauthorized_client", "invalid_grant"])
def test_oauth_credential_codes_are_permanent_auth(code: str) -> None:
    verdict = classify(400, [failure(code)])
    assert verdict is not None
    assert verdict.action is Action.PERMANENT
    assert verdict.rule.auth


def test_codes_match_case_insensitively() -> None:
    verdict = classify(200, [failure("ERR_VALIDATION_BLANK")])
    assert verdict is not None
    assert verdict.action is Action.PERMANENT


def test_least_recoverable_failure_wins() -> None:
    verdict = classify(200, [failure("x", retryable=True), failure("err_validation_blank")])
    assert verdict is not None
    assert verdict.action is Action.PERMANENT
    assert verdict.failure is not None
    assert verdict.failure.code == "err_validation_blank"


def test_auth_failure_outranks_plain_permanent() -> None:
    verdict = classify(200, [failure("err_validation_blank"), failure("app_forbidden")])
    assert verdict is not None
    assert verdict.rule.auth


def test_binding_expired_explains_api_1() -> None:
    verdict = classify(418, [failure("err_xdk_binding_expired")])
    assert verdict is not None
    assert verdict.action is Action.PERMANENT
    assert "API 2.0" in verdict.rule.message


@settings(deadline=None)  # CI machines are shared; timing is not what these test
@given(st.integers(min_value=100, max_value=599))
def test_every_status_has_a_rule(status: int) -> None:
    rule = rule_for_status(status)
    expected_retry = status >= 500 or status in (408, 425)
    assert (rule.action is Action.RETRY) == expected_retry or status in (401, 429)


@settings(deadline=None)  # CI machines are shared; timing is not what these test
@given(
    st.integers(min_value=300, max_value=599),
    st.lists(st.builds(failure, st.text(max_size=30), st.booleans()), max_size=5),
)
def test_errors_are_never_classified_as_success(status: int, failures: list[MimecastFailure]) -> None:
    assert classify(status, failures) is not None


@settings(deadline=None)  # CI machines are shared; timing is not what these test
@given(
    st.integers(min_value=200, max_value=299),
    st.lists(st.builds(failure, st.text(max_size=30), st.booleans()), min_size=1, max_size=5),
)
def test_success_status_with_failures_is_an_error(status: int, failures: list[MimecastFailure]) -> None:
    assert classify(status, failures) is not None
