"""Who may call which action (pure): bearer tokens, scopes, tenant restrictions, failed-auth throttling.

Tokens come from ``settings.actions.tokens``: each has a name (shown in the audit), either the SHA-256
of the token or the token itself (from the environment or a mounted file; hashed here at load and
never kept in clear), its scopes and the tenants it may act on.

Verification hashes the presented token and compares the digest against *every* configured digest
with :func:`hmac.compare_digest`, so neither the result nor the time taken tells which prefix or
which entry was close. 401 means "no valid token"; 403 means "valid token, not allowed this".
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from mimecast_siem.actions.spec import ActionSpec, Scope
from mimecast_siem.config.models import ActionTokenSettings

ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """One configured token, as kept in memory: name, digest (never the token), scopes, tenants."""

    name: str
    digest: bytes
    scopes: frozenset[Scope]
    tenants: frozenset[str]  # "*" = every tenant

    def allows_tenant(self, tenant: str) -> bool:
        return "*" in self.tenants or tenant in self.tenants


def token_digest(token: str) -> bytes:
    """SHA-256 of a bearer token (what is stored and compared)."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def grants_from_settings(tokens: Iterable[ActionTokenSettings]) -> list[TokenGrant]:
    """Hash configured tokens at load; the clear token is not kept."""
    grants: list[TokenGrant] = []
    for t in tokens:
        if t.sha256 is not None:
            digest = bytes.fromhex(t.sha256)
        else:
            assert t.token is not None  # the settings model guarantees exactly one
            digest = token_digest(t.token.get_secret_value())
        grants.append(
            TokenGrant(
                name=t.name,
                digest=digest,
                scopes=frozenset(Scope(s) for s in t.scopes),
                tenants=frozenset(t.tenants or ["*"]),
            )
        )
    return grants


class Decision(StrEnum):
    """The answer of an access check."""

    ALLOWED = "allowed"
    UNAUTHORIZED = "unauthorized"  # 401: missing, malformed or unknown token
    FORBIDDEN = "forbidden"  # 403: valid token without the scope or the tenant


@dataclass(frozen=True, slots=True)
class AccessResult:
    decision: Decision
    who: str
    reason: str


class TokenRegistry:
    """The configured tokens; answers "who is this?" and "may they do that?"."""

    def __init__(self, grants: Sequence[TokenGrant]) -> None:
        self._grants = tuple(grants)

    @property
    def enabled(self) -> bool:
        """The HTTP action API is disabled when no token is configured."""
        return bool(self._grants)

    def identify(self, authorization: str | None) -> TokenGrant | None:
        """The grant matching an ``Authorization: Bearer <token>`` header, or ``None``.

        Every grant is compared (no early exit) in constant time per comparison.
        """
        token = bearer_token(authorization)
        if token is None:
            return None
        presented = token_digest(token)
        match: TokenGrant | None = None
        for grant in self._grants:
            if hmac.compare_digest(presented, grant.digest) and match is None:
                match = grant
        return match

    def check(self, authorization: str | None, spec: ActionSpec | None, tenant: str | None) -> AccessResult:
        """Decide a call: 401 without a valid token, 403 without the scope or tenant, else allowed.

        ``spec`` None means a catalogue read (any valid token may list actions and the OpenAPI document).
        """
        grant = self.identify(authorization)
        if grant is None:
            reason = "missing bearer token" if not authorization else "invalid bearer token"
            return AccessResult(Decision.UNAUTHORIZED, ANONYMOUS, reason)
        if spec is not None and spec.scope not in grant.scopes:
            return AccessResult(
                Decision.FORBIDDEN, grant.name, f"the token lacks the {spec.scope.value} scope needed by {spec.name}"
            )
        if tenant is not None and not grant.allows_tenant(tenant):
            return AccessResult(Decision.FORBIDDEN, grant.name, f"the token may not act on tenant {tenant}")
        return AccessResult(Decision.ALLOWED, grant.name, "allowed")


def bearer_token(authorization: str | None) -> str | None:
    """The token of a ``Bearer`` Authorization header (scheme case-insensitive), else ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 4096 or " " in token:
        return None
    return token


class FailedAuthThrottle:
    """Limits failed authentications per client address, with bounded memory.

    After ``max_failures`` failures within ``window`` seconds an address is refused (429) until the
    window has passed, before its token is even checked. At most ``max_clients`` addresses are
    tracked; the least recently seen is forgotten first, so a flood of addresses cannot grow memory.
    """

    def __init__(
        self,
        max_failures: int = 10,
        window: float = 60.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()  # addr -> (window start, count)

    def retry_after(self, client: str) -> float | None:
        """Seconds the client must wait, or ``None`` when it may try."""
        entry = self._failures.get(client)
        if entry is None:
            return None
        start, count = entry
        elapsed = self._clock() - start
        if elapsed >= self.window:
            del self._failures[client]
            return None
        if count >= self.max_failures:
            return max(self.window - elapsed, 0.001)
        return None

    def record_failure(self, client: str) -> None:
        now = self._clock()
        start, count = self._failures.pop(client, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        self._failures[client] = (start, count + 1)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)

    def tracked(self) -> int:
        """Number of addresses currently tracked (for tests and metrics)."""
        return len(self._failures)
