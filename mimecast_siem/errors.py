"""Exceptions grouped by what the caller should do about them.

The supervisor, the router and the action service decide what to do from the class alone:

* ``ConfigError``     - the operator must fix configuration; exit code 2, never retried.
* ``AuthError``       - credentials refused; re-authenticate once, then treat as permanent.
* ``RateLimited``     - the app's quota is exhausted; wait ``retry_after`` seconds, then retry.
* ``TransientError``  - network trouble, 5xx, timeouts, busy receivers; retry with backoff.
* ``PermanentError``  - the request or the data is wrong; retrying will not help.

Messages must never contain secrets (client secrets, access tokens, HEC tokens, action tokens,
passwords). Build messages from names and bounded values only.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class MimecastSiemError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(MimecastSiemError):
    """Configuration is invalid. ``problems`` lists every problem found (all reported at once)."""

    def __init__(self, message: str, problems: list[ConfigProblem] | None = None) -> None:
        super().__init__(message)
        self.problems: list[ConfigProblem] = problems or []


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One configuration problem: which key, what was wrong, which value, where it came from.

    ``value`` is already masked when the key holds a secret.
    """

    key: str
    message: str
    value: str | None = None
    source: str | None = None

    def render(self) -> str:
        parts = [f"{self.key}: {self.message}"]
        if self.value is not None:
            parts.append(f"(got {self.value})")
        if self.source:
            parts.append(f"[from {self.source}]")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class MimecastFailure:
    """One entry of a Mimecast ``fail[].errors[]`` list (or an OAuth / SIEM-style error body)."""

    code: str
    message: str
    retryable: bool = False
    key: dict[str, Any] | None = field(default=None)


class ApiError(MimecastSiemError):
    """An error from talking to an API (Mimecast, a sink's HTTP endpoint, ...).

    Attributes:
        endpoint: bounded endpoint name (a path such as ``/api/ttp/url/get-logs``), never a full URL
            with a query string.
        status: HTTP status, or ``None`` when no response arrived.
        failures: parsed Mimecast ``fail[]`` entries, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        failures: list[MimecastFailure] | None = None,
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status
        self.failures: list[MimecastFailure] = failures or []


class AuthError(ApiError):
    """Credentials were refused (bad client id/secret, token rejected twice, 403 app_forbidden)."""


class RateLimited(ApiError):
    """Quota exhausted; ``retry_after`` seconds until at least one request is allowed again."""

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TransientError(ApiError):
    """Worth retrying: connection reset, timeout, 5xx, malformed/truncated body, busy receiver."""


class WriteOutcomeUnknown(TransientError):
    """A write that is not safe to repeat may have reached the server, and no answer says whether it
    took effect (timeout, connection lost after sending, 5xx). It is never re-sent automatically:
    the caller must check the effect before trying again."""


class PermanentError(ApiError):
    """Retrying will not help: bad request, validation failure, unknown object, rejected data."""


class ResponseFormatError(TransientError):
    """The body was not what the protocol promises (malformed JSON, wrong content type, truncated)."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'ttp-url'?"`` when ``value`` is close to one of ``choices``, else ``""``."""
    options = [c for c in choices if c]
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower().replace("-", "_"): c for c in options}
        close = [lowered[m] for m in difflib.get_close_matches(value.lower().replace("-", "_"), list(lowered), n=1)]
    return f"; did you mean {close[0]!r}?" if close else ""
