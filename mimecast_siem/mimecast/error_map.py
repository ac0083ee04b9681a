"""The error map: (HTTP status, Mimecast failure code) -> what the client does, as data.

Mimecast reports failures three ways (mimecast-api.md sections 1.3 and 2.2): the envelope's
``fail[].errors[]{code, message, retryable}`` (also a flat ``fail[]{code, message}``), OAuth
``{"error", "error_description"}`` from the token endpoint, and SIEM/REST ``{"error": {"code",
"message"}}``. HTTP 200 with a non-empty ``fail`` is an error. :func:`parse_failures` reads all the
shapes; :func:`classify` turns a status plus failures into a :class:`Verdict` using the tables below.

Deciding, in order:

1. ``429`` is always rate limiting, ``401`` is always "refresh the token and replay".
2. Each failure: an exact code rule, else a prefix rule, else ``retryable: true`` means retry,
   else the status rule.
3. Several failures: the least recoverable wins (permanent auth > permanent > rate limited > retry),
   because one bad item makes the whole request fail again if replayed.
4. No failures: the status rule, else 5xx retry and any other non-2xx permanent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mimecast_siem.errors import MimecastFailure

#: Longest server-provided message kept (server text is not under our control; keep it bounded).
MAX_MESSAGE_CHARS = 300
#: Failures kept from one body (a 500-item request could fail 500 times).
MAX_FAILURES = 20


class Action(StrEnum):
    """What the client does about a failed request."""

    RETRY = "retry"  # TransientError: back off and send again
    REAUTH = "reauth"  # refresh the access token once and replay the same request
    RATE_LIMITED = "rate_limited"  # pause every caller of the app, then send again
    PERMANENT = "permanent"  # PermanentError (or AuthError when ``auth``): do not retry


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """One row of the error map.

    Attributes:
        action: what to do.
        message: an operator-facing sentence explaining the cause and the fix.
        auth: a permanent failure about credentials or permissions (raised as ``AuthError``).
    """

    action: Action
    message: str
    auth: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision for one response: the rule that won and the failure that triggered it."""

    rule: ErrorRule
    failure: MimecastFailure | None = None

    @property
    def action(self) -> Action:
        return self.rule.action


_FORBIDDEN = ErrorRule(
    Action.PERMANENT,
    "The Mimecast API 2.0 application is not allowed to call this endpoint. In the Administration "
    "Console (Integrations > API and Platform Integrations) give the application a role and the "
    "products that include it",
    auth=True,
)
_BAD_CREDENTIALS = ErrorRule(
    Action.PERMANENT,
    "Mimecast refused the client credentials. Check the tenant's client_id and client_secret "
    "(an API 2.0 application on the right regional base URL)",
    auth=True,
)

#: HTTP status -> rule, for statuses with a fixed meaning.
STATUS_RULES: Mapping[int, ErrorRule] = {
    400: ErrorRule(Action.PERMANENT, "Mimecast rejected the request as malformed"),
    401: ErrorRule(Action.REAUTH, "Mimecast rejected the access token"),
    403: _FORBIDDEN,
    404: ErrorRule(Action.PERMANENT, "Mimecast does not know this endpoint or object"),
    405: ErrorRule(Action.PERMANENT, "Mimecast does not allow this HTTP method on this endpoint"),
    408: ErrorRule(Action.RETRY, "Mimecast timed out waiting for the request"),
    409: ErrorRule(Action.PERMANENT, "Mimecast reported a conflict with the current state of the object"),
    413: ErrorRule(Action.PERMANENT, "the request is too large for Mimecast"),
    418: ErrorRule(
        Action.PERMANENT,
        "Mimecast reported an expired API 1.0 binding; this client speaks API 2.0 - use an API 2.0 "
        "application and a *.services.mimecast.com base URL",
        auth=True,
    ),
    422: ErrorRule(Action.PERMANENT, "Mimecast could not process the request"),
    425: ErrorRule(Action.RETRY, "Mimecast asked to retry later"),
    429: ErrorRule(Action.RATE_LIMITED, "the Mimecast application's request quota is exhausted"),
    500: ErrorRule(Action.RETRY, "Mimecast reported an internal error"),
    502: ErrorRule(Action.RETRY, "a gateway in front of Mimecast failed"),
    503: ErrorRule(Action.RETRY, "Mimecast is unavailable"),
    504: ErrorRule(Action.RETRY, "a gateway in front of Mimecast timed out"),
    509: ErrorRule(Action.RETRY, "Mimecast reported its bandwidth limit"),
}

#: Statuses whose meaning no body can change.
DECISIVE_STATUSES: frozenset[int] = frozenset({401, 429})

#: Mimecast / OAuth failure code -> rule (exact match, case-insensitive).
CODE_RULES: Mapping[str, ErrorRule] = {
    # permissions (mimecast-api.md 1.3, quirk 14)
    "app_forbidden": _FORBIDDEN,
    "err_xdk_forbidden": _FORBIDDEN,
    "err_xdk_operation_forbidden_for_address": ErrorRule(
        Action.PERMANENT, "Mimecast forbids this operation for the given address"
    ),
    "err_developer_key": _BAD_CREDENTIALS,
    # token layer (quirk 2)
    "err_xdk_client_unauthorized": ErrorRule(Action.REAUTH, "Mimecast rejected the access token"),
    "err_xdk_invalid_signature": ErrorRule(Action.REAUTH, "Mimecast rejected the request signature"),
    "err_xdk_binding_expired": STATUS_RULES[418],
    # OAuth 2.0 token endpoint (RFC 6749 section 5.2)
    "invalid_client": _BAD_CREDENTIALS,
    "unauthorized_client": _BAD_CREDENTIALS,
    "invalid_grant": _BAD_CREDENTIALS,
    "access_denied": _BAD_CREDENTIALS,
    "invalid_scope": ErrorRule(Action.PERMANENT, "Mimecast refused the requested OAuth scope", auth=True),
    "unsupported_grant_type": ErrorRule(
        Action.PERMANENT, "Mimecast does not support the client-credentials grant for this application", auth=True
    ),
    "invalid_request": ErrorRule(Action.PERMANENT, "Mimecast rejected the token request as malformed", auth=True),
    "invalid_token": ErrorRule(Action.REAUTH, "Mimecast rejected the access token"),
    "server_error": ErrorRule(Action.RETRY, "Mimecast reported an internal error"),
    "temporarily_unavailable": ErrorRule(Action.RETRY, "Mimecast is temporarily unavailable"),
    # request-level refusals seen in the field (quirk 1)
    "err_track_and_trace_invalid_start_date": ErrorRule(
        Action.PERMANENT, "the message-finder start date is too far in the past (about 30 days at most)"
    ),
    "err_invalid_search_xml": ErrorRule(Action.PERMANENT, "the archive search query is not valid Mimecast XML"),
    "err_audit_log_incorrect_region": ErrorRule(
        Action.PERMANENT, "the audit log lives in another region; use that region's base URL"
    ),
    "err_audit_siem_invalid_token": ErrorRule(Action.PERMANENT, "Mimecast rejected the SIEM log token"),
    "err_managed_url_exists_code": ErrorRule(Action.PERMANENT, "the managed URL already exists"),
    "err_managed_url_not_found": ErrorRule(Action.PERMANENT, "the managed URL does not exist"),
    "err_rate_limit_exceeded": STATUS_RULES[429],
    "err_too_many_requests": STATUS_RULES[429],
}

#: Code prefix -> rule, tried after the exact codes (longest prefix first).
PREFIX_RULES: tuple[tuple[str, ErrorRule], ...] = (
    ("err_validation_", ErrorRule(Action.PERMANENT, "Mimecast rejected the request's filters or fields")),
    ("err_xdk_", ErrorRule(Action.PERMANENT, "Mimecast's API gateway refused the request", auth=True)),
)

#: Rule for a 2xx answer whose ``fail[]`` matches nothing above and is not marked retryable.
REFUSED_ON_SUCCESS = ErrorRule(Action.PERMANENT, "Mimecast refused the request")
#: Fallbacks when no table row matches.
SERVER_ERROR = ErrorRule(Action.RETRY, "Mimecast answered with a server error")
CLIENT_ERROR = ErrorRule(Action.PERMANENT, "Mimecast refused the request")
RETRYABLE_FAILURE = ErrorRule(Action.RETRY, "Mimecast marked the failure as retryable")

# Least recoverable first: one bad item makes a replay fail again.
_SEVERITY = {Action.PERMANENT: 0, Action.REAUTH: 1, Action.RATE_LIMITED: 2, Action.RETRY: 3}


def rule_for_status(status: int) -> ErrorRule:
    """The rule for an HTTP status alone (no body)."""
    rule = STATUS_RULES.get(status)
    if rule is not None:
        return rule
    if status >= 500:
        return SERVER_ERROR
    if 200 <= status < 300:
        return REFUSED_ON_SUCCESS
    return CLIENT_ERROR


def rule_for_failure(status: int, failure: MimecastFailure) -> ErrorRule:
    """The rule for one failure entry seen with ``status``."""
    code = failure.code.strip().lower()
    rule = CODE_RULES.get(code)
    if rule is not None:
        return rule
    for prefix, prefixed in PREFIX_RULES:
        if code.startswith(prefix):
            return prefixed
    if failure.retryable:
        return RETRYABLE_FAILURE
    return rule_for_status(status)


def classify(status: int, failures: Sequence[MimecastFailure]) -> Verdict | None:
    """Decide what to do with a response. ``None`` means success (2xx and no failures).

    Args:
        status: the HTTP status.
        failures: the parsed failure entries (see :func:`parse_failures`).
    """
    if status in DECISIVE_STATUSES:
        return Verdict(STATUS_RULES[status], failures[0] if failures else None)
    if not failures:
        return None if 200 <= status < 300 else Verdict(rule_for_status(status))
    verdicts = [Verdict(rule_for_failure(status, f), f) for f in failures]
    return min(verdicts, key=lambda v: (_SEVERITY[v.action], not v.rule.auth))


def parse_failures(body: Any) -> list[MimecastFailure]:
    """Read every known failure shape out of a decoded JSON body; ``[]`` when there is none.

    Shapes: ``{"fail": [{"key": {...}, "errors": [{code, message, retryable}]}]}``,
    ``{"fail": [{code, message}]}``, ``{"errors": [{code, message}]}`` (REST families),
    ``{"error": "code", "error_description": "..."}`` (OAuth) and
    ``{"error": {"code": ..., "message": ...}}`` (SIEM / REST). Messages are shortened to
    :data:`MAX_MESSAGE_CHARS`; at most :data:`MAX_FAILURES` entries are kept.
    """
    if not isinstance(body, Mapping):
        return []
    found: list[MimecastFailure] = []
    fail = body.get("fail")
    if isinstance(fail, list):
        for entry in fail:
            if not isinstance(entry, Mapping):
                continue
            key = entry.get("key") if isinstance(entry.get("key"), Mapping) else None
            errors = entry.get("errors")
            if isinstance(errors, list) and errors:
                found.extend(_failure(e, key) for e in errors if isinstance(e, Mapping))
            else:
                found.append(_failure(entry, key))
    errors = body.get("errors")
    if isinstance(errors, list):
        found.extend(_failure(e, None) for e in errors if isinstance(e, Mapping))
    error = body.get("error")
    if isinstance(error, str) and error:
        description = body.get("error_description")
        found.append(
            MimecastFailure(code=_bounded(error), message=_bounded(description if isinstance(description, str) else ""))
        )
    elif isinstance(error, Mapping):
        found.append(_failure(error, None))
    return found[:MAX_FAILURES]


def _failure(entry: Mapping[str, Any], key: Mapping[str, Any] | None) -> MimecastFailure:
    code = entry.get("code")
    message = entry.get("message")
    retryable = entry.get("retryable")
    return MimecastFailure(
        code=_bounded(code if isinstance(code, str | int) and not isinstance(code, bool) else "unknown"),
        message=_bounded(message if isinstance(message, str) else ""),
        retryable=retryable is True or (isinstance(retryable, str) and retryable.lower() == "true"),
        key=dict(key) if key is not None else None,
    )


def _bounded(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
