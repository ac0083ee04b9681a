"""OAuth2 client-credentials tokens of the simulator (``POST /oauth/token``).

Tokens are random, live ``token_lifetime`` seconds of simulated time, and are never logged.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from mimecast_siem.simulator.clock import Clock


class TokenRejected(Exception):
    """A bearer token is unknown or expired; ``str(exc)`` is the reason (never the token)."""


@dataclass(slots=True)
class IssuedToken:
    """An access token and the app it was issued to."""

    client_id: str
    expires_at: float


class TokenStore:
    """Issues and checks access tokens.

    Args:
        apps: client id -> client secret.
        lifetime: Token lifetime, seconds.
        clock: World clock.
    """

    def __init__(self, apps: dict[str, str], lifetime: float, clock: Clock) -> None:
        self._apps = apps
        self.lifetime = lifetime
        self._clock = clock
        self._tokens: dict[str, IssuedToken] = {}

    def check_credentials(self, client_id: str, client_secret: str) -> bool:
        """Whether the pair names a registered app (constant-time on the secret)."""
        expected = self._apps.get(client_id)
        return expected is not None and hmac.compare_digest(expected.encode(), client_secret.encode())

    def issue(self, client_id: str) -> tuple[str, int]:
        """A new token for ``client_id`` and its ``expires_in`` seconds."""
        now = self._clock.time()
        # Drop expired tokens so a long run with tiny lifetimes does not grow without bound.
        if len(self._tokens) > 1000:
            self._tokens = {t: i for t, i in self._tokens.items() if i.expires_at > now}
        token = secrets.token_urlsafe(32)
        self._tokens[token] = IssuedToken(client_id, now + self.lifetime)
        return token, max(1, int(self.lifetime))

    def client_for(self, token: str) -> str:
        """The client id owning a valid ``token``; raises :class:`TokenRejected` otherwise."""
        issued = self._tokens.get(token)
        if issued is None:
            raise TokenRejected("Access token is invalid")
        if self._clock.time() >= issued.expires_at:
            raise TokenRejected("Access token has expired")
        return issued.client_id

    def expire(self, token: str) -> None:
        """Make ``token`` expired now (the forced-401 fault)."""
        issued = self._tokens.get(token)
        if issued is not None:
            issued.expires_at = min(issued.expires_at, self._clock.time())
