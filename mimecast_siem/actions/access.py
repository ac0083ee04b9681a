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
import ipaddress
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


class _FailureWindows:
    """Failure counts per key within a fixed window, bounded (least recently seen forgotten first)."""

    def __init__(self, max_failures: int, window: float, max_keys: int, clock: Callable[[], float]) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()  # key -> (window start, count)

    def retry_after(self, key: str) -> float | None:
        entry = self._failures.get(key)
        if entry is None:
            return None
        start, count = entry
        elapsed = self._clock() - start
        if elapsed >= self.window:
            del self._failures[key]
            return None
        if count >= self.max_failures:
            return max(self.window - elapsed, 0.001)
        return None

    def record(self, key: str) -> None:
        now = self._clock()
        start, count = self._failures.pop(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        self._failures[key] = (start, count + 1)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def __len__(self) -> int:
        return len(self._failures)


def credential_fingerprint(authorization: str | None) -> str | None:
    """A short fingerprint of the presented credential (SHA-256 of the header), ``None`` without one.

    Only a digest is kept in memory, never the credential; two callers presenting the same wrong
    token share a fingerprint, two different wrong tokens do not.
    """
    if not authorization:
        return None
    return hashlib.sha256(authorization.strip().encode("utf-8", "replace")).hexdigest()[:32]


class FailedAuthThrottle:
    """Limits failed authentications per presented credential and per client address.

    Only requests whose credential does not verify are ever throttled: a valid token is checked
    first and always gets through, so nobody's failures - not even a flood from the same address,
    as seen behind a shared ingress - can lock out a working playbook. A failing request is
    refused with 429 (instead of 401) once its credential's fingerprint *or* its client address
    has ``max_failures`` failures within ``window`` seconds, until that window has passed. At most
    ``max_clients`` keys of each kind are tracked (least recently seen forgotten first), so a flood
    of addresses or garbage tokens cannot grow memory.
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
        self._clients = _FailureWindows(max_failures, window, max_clients, clock)
        self._credentials = _FailureWindows(max_failures, window, max_clients, clock)

    def retry_after(self, client: str, credential: str | None = None) -> float | None:
        """Seconds a failing request must wait (its address or credential is over the limit), else ``None``."""
        waits = [self._clients.retry_after(client)]
        if credential is not None:
            waits.append(self._credentials.retry_after(credential))
        found = [w for w in waits if w is not None]
        return max(found) if found else None

    def record_failure(self, client: str, credential: str | None = None) -> None:
        """Count one failed authentication for the address and (if one was presented) the credential."""
        self._clients.record(client)
        if credential is not None:
            self._credentials.record(credential)

    def tracked(self) -> int:
        """Number of addresses currently tracked (for tests and metrics)."""
        return len(self._clients)

    def tracked_credentials(self) -> int:
        """Number of credential fingerprints currently tracked."""
        return len(self._credentials)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def proxy_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """The configured trusted proxies as networks (entries are validated by the settings)."""
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_address(peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[Network]) -> str:
    """The caller's address: the direct peer, or - only when the peer is a trusted proxy - the right-most
    ``X-Forwarded-For`` entry that is not itself a trusted proxy (entries to its left are whatever the
    client chose to send and are ignored). An unreadable entry stops the walk at the last good one.
    """
    if not peer:
        return "unknown"
    peer_ip = _ip(peer)
    if peer_ip is None or not proxies or not _trusted(peer_ip, proxies):
        return str(peer_ip) if peer_ip is not None else peer[:64]
    chosen = peer_ip
    hops = [h for header in forwarded_for for h in header.split(",")]
    for hop in reversed(hops[-64:]):
        address = _ip(hop)
        if address is None:
            break
        chosen = address
        if not _trusted(address, proxies):
            break
    return str(chosen)
