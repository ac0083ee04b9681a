"""Outcomes of an action call and how each maps to an HTTP problem and a CLI exit code (data, pure).

Problems follow RFC 9457 (``application/problem+json``): ``type``, ``title``, ``status``, ``detail``,
``instance`` plus extensions (``action``, ``tenant``, ``errors`` for validation problems with the
key and allowed values, ``mimecast_status`` and ``fail`` with Mimecast's codes and messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:mimecast-siem:problem:"


class Outcome(StrEnum):
    """What happened to a call (the audit's ``outcome`` and the ``action_calls`` metric label)."""

    OK = "ok"
    PARTIAL = "partial"  # a batch partly succeeded: the result lists what succeeded and what failed
    DRY_RUN = "dry_run"  # the request was rendered, not sent
    INVALID = "invalid"  # parameters, tenant or request body refused before any request was sent
    UNKNOWN_ACTION = "unknown_action"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    THROTTLED = "throttled"  # too many failed authentications from this client
    TOO_LARGE = "too_large"  # request body over the limit
    REFUSED = "refused"  # Mimecast answered fail[] or a 4xx
    RATE_LIMITED = "rate_limited"  # Mimecast's quota for the app is exhausted
    TRANSPORT = "transport"  # network, TLS, timeout, 5xx after retries, malformed response
    UNKNOWN = "unknown"  # a write may have reached Mimecast without an answer; not re-sent
    DOWNLOAD_TOO_LARGE = "download_too_large"
    DISABLED = "disabled"  # the HTTP action API has no tokens configured
    REPLAYED = "replayed"  # a repeated Idempotency-Key: the stored answer was returned, nothing sent
    IDEMPOTENCY_MISMATCH = "idempotency_mismatch"  # the key was used with another request body
    IN_PROGRESS = "in_progress"  # the first request with this key is still running
    STORE_UNAVAILABLE = "store_unavailable"  # an Idempotency-Key could not be checked; nothing was sent
    ERROR = "error"  # a bug: logged, answered 500


@dataclass(frozen=True, slots=True)
class OutcomeRule:
    status: int  # HTTP status of the problem
    exit_code: int  # CLI exit code
    title: str


#: The table: one row per outcome. HTTP 422 for a Mimecast refusal: the request was well formed but
#: Mimecast would not do it (its ``fail[]`` is in the problem); 5xx only when Mimecast is unreachable
#: (502) or a write's effect is unknown (504). A batch that partly succeeded is HTTP 207 with a
#: result document (``outcome: partial``, ``result`` = what succeeded, ``failed`` = what did not),
#: CLI exit code 5; an unknown outcome is exit code 6.
RULES: dict[Outcome, OutcomeRule] = {
    Outcome.OK: OutcomeRule(200, 0, "OK"),
    Outcome.PARTIAL: OutcomeRule(207, 5, "Partly done"),
    Outcome.DRY_RUN: OutcomeRule(200, 0, "Dry run"),
    Outcome.INVALID: OutcomeRule(400, 2, "Invalid request"),
    Outcome.UNKNOWN_ACTION: OutcomeRule(404, 2, "Unknown action"),
    Outcome.UNAUTHORIZED: OutcomeRule(401, 2, "Authentication required"),
    Outcome.FORBIDDEN: OutcomeRule(403, 2, "Not allowed"),
    Outcome.THROTTLED: OutcomeRule(429, 2, "Too many failed authentications"),
    Outcome.TOO_LARGE: OutcomeRule(413, 2, "Request body too large"),
    Outcome.REFUSED: OutcomeRule(422, 3, "Mimecast refused the request"),
    Outcome.RATE_LIMITED: OutcomeRule(503, 3, "Mimecast rate limit reached"),
    Outcome.TRANSPORT: OutcomeRule(502, 4, "Mimecast could not be reached"),
    Outcome.UNKNOWN: OutcomeRule(504, 6, "Outcome unknown: check before retrying"),
    Outcome.DOWNLOAD_TOO_LARGE: OutcomeRule(502, 1, "Download larger than the configured cap"),
    Outcome.DISABLED: OutcomeRule(404, 2, "Action API disabled"),
    Outcome.REPLAYED: OutcomeRule(200, 0, "Replayed"),
    Outcome.IDEMPOTENCY_MISMATCH: OutcomeRule(422, 2, "Idempotency key reused with another request"),
    Outcome.IN_PROGRESS: OutcomeRule(409, 2, "A request with this idempotency key is in progress"),
    Outcome.STORE_UNAVAILABLE: OutcomeRule(503, 1, "State store unavailable"),
    Outcome.ERROR: OutcomeRule(500, 1, "Internal error"),
}


@dataclass(frozen=True, slots=True)
class Problem:
    """An RFC 9457 problem (without ``instance``, which the HTTP layer adds)."""

    outcome: Outcome
    detail: str
    extensions: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None

    @property
    def status(self) -> int:
        return RULES[self.outcome].status

    @property
    def exit_code(self) -> int:
        return RULES[self.outcome].exit_code

    def document(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.outcome.value.replace("_", "-"),
            "title": RULES[self.outcome].title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            doc["instance"] = instance
        doc.update(self.extensions)
        return doc


def problem_schema() -> dict[str, Any]:
    """JSON schema of the problem documents (used in the OpenAPI document)."""
    return {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "action": {"type": "string"},
            "tenant": {"type": ["string", "null"]},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"},
                        "message": {"type": "string"},
                        "value": {"type": "string"},
                        "allowed": {"type": "array"},
                    },
                },
            },
            "mimecast_status": {"type": ["integer", "null"]},
            "check": {"type": "string", "description": "Outcome unknown only: how to find out whether it took effect."},
            "fail": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }
