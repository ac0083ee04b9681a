"""Opaque page tokens bound to the filters of the walk that issued them.

A token carries the walk's frozen window, its visibility cutoff (so records that arrive during the
walk do not shift pages) and the key of the last record served, signed so a client cannot edit it.
It is bound to the stream, the client id and a digest of the request's filters: replaying it with
other filters is refused (``err_invalid_page_token``, a simulator invention documented in
docs/simulator.md). It is not bound to the access token: peers refresh the token mid-walk and
replay the same page token (mimecast-api.md quirk 7).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import orjson

from mimecast_siem.simulator.logstore import RecordKey

_VERSION = 1
_MAC_BYTES = 12


class PageTokenError(ValueError):
    """The token is malformed, forged, or belongs to another walk."""


def filter_digest(item: Any) -> str:
    """A short digest of a request's filters (key order does not matter)."""
    canonical = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where a walk stands.

    Attributes:
        stream: Stream the walk reads.
        client_id: App that started it.
        digest: :func:`filter_digest` of the first request's ``data[0]``.
        lo: Window start, epoch seconds (inclusive).
        hi: Window end, epoch seconds (inclusive).
        cutoff: Visibility snapshot, epoch seconds.
        descending: Newest first.
        after: Key of the last record served.
    """

    stream: str
    client_id: str
    digest: str
    lo: int
    hi: int
    cutoff: float
    descending: bool
    after: RecordKey | None


class PageTokenCodec:
    """Signs and checks page tokens with a key derived from the world seed.

    Args:
        secret: HMAC key.
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, cursor: PageCursor) -> str:
        """The opaque token for ``cursor``."""
        payload = orjson.dumps(
            [
                _VERSION,
                cursor.stream,
                cursor.client_id,
                cursor.digest,
                cursor.lo,
                cursor.hi,
                cursor.cutoff,
                cursor.descending,
                list(cursor.after) if cursor.after else None,
            ]
        )
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")

    def decode(self, token: object, *, stream: str, client_id: str, digest: str) -> PageCursor:
        """Check ``token`` against the request it arrives with and return its cursor.

        Raises:
            PageTokenError: Malformed, forged, or issued for another stream, app or filter set.
        """
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise PageTokenError("the page token is not a token this API issued")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            raise PageTokenError("the page token is not a token this API issued") from None
        mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        expected = hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            raise PageTokenError("the page token is not a token this API issued")
        try:
            version, t_stream, t_client, t_digest, lo, hi, cutoff, descending, after = orjson.loads(payload)
        except (orjson.JSONDecodeError, ValueError, TypeError):
            raise PageTokenError("the page token is not a token this API issued") from None
        if version != _VERSION or t_stream != stream:
            raise PageTokenError("the page token belongs to another endpoint")
        if t_client != client_id:
            raise PageTokenError("the page token belongs to another application")
        if t_digest != digest:
            raise PageTokenError("the page token was issued for different filters; re-send the original filters")
        key = (int(after[0]), int(after[1])) if after else None
        return PageCursor(t_stream, t_client, t_digest, int(lo), int(hi), float(cutoff), bool(descending), key)
