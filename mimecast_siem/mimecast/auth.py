"""OAuth2 client-credentials token cache: one refresh in flight, however many tasks wait.

Tokens are requested with ``POST {base}/oauth/token`` (form-encoded ``client_id``,
``client_secret``, ``grant_type=client_credentials``) and live ``expires_in`` seconds (30 minutes
in practice, mimecast-api.md section 1.2). The cache renews a token 60 s before it expires (half
way through for lifetimes under two minutes), and after a 401 renews exactly once for all the
tasks that saw the same rejected token.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mimecast_siem.errors import ResponseFormatError

#: Renew this many seconds before a token expires (Elastic and TF do the same).
REFRESH_MARGIN = 60.0
#: Lifetime assumed when the token response has no usable ``expires_in`` (the documented TTL).
DEFAULT_LIFETIME = 1800.0


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A successful token response.

    Attributes:
        access_token: the bearer token (a secret; never logged, never in ``repr``).
        expires_in: lifetime in seconds.
        token_type: ``Bearer`` as sent by Mimecast.
    """

    access_token: str = field(repr=False)
    expires_in: float
    token_type: str = "Bearer"  # noqa: S105 - the token kind, not a secret


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A cached token with the monotonic times at which to renew it and at which it expires."""

    value: str = field(repr=False)
    token_type: str
    refresh_at: float
    expires_at: float

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value (``Bearer <token>``)."""
        kind = self.token_type.strip().capitalize() or "Bearer"
        return f"{kind} {self.value}"


def parse_token_grant(document: Any, *, endpoint: str = "/oauth/token", status: int = 200) -> TokenGrant:
    """Read a token response (``{"access_token", "token_type", "expires_in"}``).

    Raises:
        ResponseFormatError: the document is not an object or has no usable ``access_token``.
    """
    if not isinstance(document, Mapping):
        raise ResponseFormatError(
            f"Mimecast answered {endpoint} with HTTP {status} and a JSON {type(document).__name__}; "
            "expected an object with access_token",
            endpoint=endpoint,
            status=status,
        )
    token = document.get("access_token")
    if not isinstance(token, str) or not token.strip():
        raise ResponseFormatError(
            f"Mimecast answered {endpoint} with HTTP {status} but without an access_token",
            endpoint=endpoint,
            status=status,
        )
    token = token.strip()
    if not _header_safe(token):
        # It goes into the Authorization header: CR/LF would inject headers, and aiohttp refuses
        # control characters with a bare ValueError. The value is never quoted (it is a secret).
        raise ResponseFormatError(
            f"Mimecast answered {endpoint} with HTTP {status} and an access_token of {len(token)} characters "
            "that contains whitespace, control or non-ASCII characters; expected a plain bearer token",
            endpoint=endpoint,
            status=status,
        )
    token_type = document.get("token_type")
    return TokenGrant(
        access_token=token,
        expires_in=_lifetime(document.get("expires_in")),
        token_type=token_type.strip() if isinstance(token_type, str) and _scheme_name(token_type.strip()) else "Bearer",
    )


def _scheme_name(text: str) -> bool:
    return text.isascii() and text.isalpha()


def _header_safe(token: str) -> bool:
    """Visible ASCII only (RFC 6750 ``b64token`` and more): safe in an ``Authorization`` header."""
    return token.isascii() and all("!" <= c <= "~" for c in token)


def _lifetime(value: Any) -> float:
    if isinstance(value, bool):
        return DEFAULT_LIFETIME
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_LIFETIME
    if not math.isfinite(seconds) or seconds <= 0:
        return DEFAULT_LIFETIME
    return seconds


def refresh_delay(expires_in: float, margin: float = REFRESH_MARGIN) -> float:
    """Seconds after issue at which to renew a token living ``expires_in`` seconds.

    ``expires_in - margin`` for normal lifetimes; half the lifetime when it is shorter than twice the
    margin, so a short-lived token is neither used until it dies nor renewed on every call.
    """
    if expires_in > 2 * margin:
        return expires_in - margin
    return expires_in / 2


class TokenCache:
    """Caches one access token and renews it with a single request at a time.

    Args:
        fetch: obtains a new grant from the token endpoint (raises on refusal).
        clock: monotonic seconds.
        margin: renew this many seconds before expiry.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[TokenGrant]],
        *,
        clock: Callable[[], float] = time.monotonic,
        margin: float = REFRESH_MARGIN,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = margin
        self._lock = asyncio.Lock()
        self._token: AccessToken | None = None
        self._rejected: AccessToken | None = None  # the cached token a 401 refused, until replaced
        self._fetches = 0  # token requests started
        self._completed = 0  # token requests finished; lets a waiter see that someone else renewed
        self._last_error: Exception | None = None

    @property
    def current(self) -> AccessToken | None:
        """The cached token, fresh or not."""
        return self._token

    @property
    def fetches(self) -> int:
        """How many token requests this cache has made."""
        return self._fetches

    def invalidate(self) -> None:
        """Drop the cached token; the next :meth:`get` requests a new one."""
        self._token = None
        self._rejected = None

    async def get(self) -> AccessToken:
        """A token that is not due for renewal, renewing it first when needed."""
        token = self._token
        if token is not None and token is not self._rejected and self._clock() < token.refresh_at:
            return token
        return await self._renew(seen=self._completed, rejected=self._rejected)

    async def refresh(self, rejected: AccessToken | None) -> AccessToken:
        """Replace ``rejected`` (the token a 401 refused).

        When another task already replaced it, that newer token is returned without a new request,
        so N tasks refused at once cause one token request. The rejection is recorded before the
        first suspension, so callers that start meanwhile wait for the new token instead of
        sending the refused one.
        """
        if rejected is not None and rejected is self._token:
            self._rejected = rejected
        return await self._renew(seen=self._completed, rejected=rejected)

    async def _renew(self, *, seen: int, rejected: AccessToken | None) -> AccessToken:
        async with self._lock:
            now = self._clock()
            token = self._token
            if self._completed != seen:
                # Someone renewed while this task queued: share the outcome instead of asking again.
                if self._last_error is not None:
                    raise self._last_error
                if token is not None and token is not rejected and now < token.expires_at:
                    return token
            if token is not None and token is not rejected and now < token.refresh_at:
                return token
            self._fetches += 1
            self._last_error = None  # a cancelled fetch must not replay an older failure
            try:
                grant = await self._fetch()
            except Exception as exc:
                self._last_error = exc
                raise
            finally:
                self._completed += 1
            issued = self._clock()
            self._rejected = None
            self._token = AccessToken(
                value=grant.access_token,
                token_type=grant.token_type,
                refresh_at=issued + refresh_delay(grant.expires_in, self._margin),
                expires_at=issued + grant.expires_in,
            )
            return self._token
