"""Shared state and helpers of the simulator's stateful response-action endpoints (``actions_*.py``).

Each tenant (API app) gets an :class:`ActionsState` (through ``Account.extension``) seeded with a
few groups, policies, managed URLs and archived messages derived from the seed and the client id,
so read actions have something to find. Ids are long opaque base64 strings like Mimecast's secure
ids. Error codes follow mimecast-api.md where documented; the simulator's own inventions are listed
in docs/actions.md ("Simulator").

Imports nothing of mimecast_siem outside the simulator package.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from mimecast_siem.simulator.records import derive_seed
from mimecast_siem.simulator.registry import ApiRequest, ApiResult, RequestFailed
from mimecast_siem.simulator.wire import ERR_BAD_VALUE, ERR_BLANK, ERR_NULL, ERR_PAGE_TOKEN, failure, parse_time
from mimecast_siem.simulator.world import Account, World

ERR_NOT_FOUND_OBJECT = "err_object_not_found"  # simulator invention: an id that names nothing
ERR_INVALID_EMAIL = "err_validation_invalid_email_address"  # mimecast-api.md section 6
ERR_TOO_MANY = "err_validation_too_many_items"  # simulator invention: per-call item limits

_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


@dataclass
class ActionsState:
    """A tenant's objects, keyed by id, in insertion order."""

    counter: int = 0
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # group id -> members
    alteration_sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # family -> id -> policy
    managed_senders: dict[str, dict[str, Any]] = field(default_factory=dict)
    managed_urls: dict[str, dict[str, Any]] = field(default_factory=dict)
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # archive id -> message
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file id -> (name, content)
    #: When set (a test sets the simulator's URL), the file endpoints answer JSON with a download URL
    #: under this base instead of the file itself (mimecast-api.md section 5.8: the answer may be either).
    file_link_base: str | None = None

    def family(self, name: str) -> dict[str, dict[str, Any]]:
        return self.policies.setdefault(name, {})


def new_id(state: ActionsState, account: Account, kind: str, length: int = 120) -> str:
    """A fresh Mimecast-looking secure id (``eNo`` + base64url), ``length`` characters at least."""
    state.counter += 1
    text = f"{kind}:{account.client_id}:{state.counter}"
    body = base64.urlsafe_b64encode(zlib.compress(text.encode())).decode().rstrip("=")
    filler = hashlib.sha256(text.encode()).hexdigest()
    out = "eNo" + body
    while len(out) < length:
        out += filler
    return out[: max(length, len(out))]


def state_of(account: Account, world: World) -> ActionsState:
    """The tenant's state, seeded on first use."""
    from mimecast_siem.simulator.actions_seed import seed_state  # the seed module imports this one

    return account.extension("actions", lambda: seed_state(account, world))


def items(request: ApiRequest, max_items: int | None = None) -> list[dict[str, Any]]:
    """Every ``data[]`` item as an object; refuses non-objects and more than ``max_items``."""
    out: list[dict[str, Any]] = []
    for item in request.items:
        if not isinstance(item, dict):
            raise RequestFailed(ERR_BAD_VALUE, "every data[] item must be a JSON object", key=item)
        out.append(item)
    if max_items is not None and len(out) > max_items:
        raise RequestFailed(ERR_TOO_MANY, f"at most {max_items} data[] items are allowed per request (got {len(out)})")
    return out


def need(item: dict[str, Any], key: str) -> Any:
    """A required field: missing/None -> ``err_validation_null``, blank string -> ``err_validation_blank``."""
    value = item.get(key)
    if value is None:
        raise RequestFailed(ERR_NULL, f"{key} is required", key=item)
    if isinstance(value, str) and not value.strip():
        raise RequestFailed(ERR_BLANK, f"{key} must not be blank", key=item)
    return value


def need_str(item: dict[str, Any], key: str) -> str:
    value = need(item, key)
    if not isinstance(value, str):
        raise RequestFailed(ERR_BAD_VALUE, f"{key} must be a string", key=item)
    return value


def one_of(item: dict[str, Any], key: str, allowed: tuple[str, ...], *, required: bool = True) -> str | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if value not in allowed:
        raise RequestFailed(ERR_BAD_VALUE, f"{key}={value!r} is invalid; allowed: {', '.join(allowed)}", key=item)
    return str(value)


def email(item: dict[str, Any], key: str) -> str:
    value = need_str(item, key)
    if not _EMAIL.match(value):
        raise RequestFailed(ERR_INVALID_EMAIL, f"{key}={value!r} is not a valid email address", key=item)
    return value.lower()


def optional_time(item: dict[str, Any], key: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise RequestFailed("err_validation_invalid_date", f"{key}: {exc}", key=item) from None


def per_item(request: ApiRequest, handle: Any, max_items: int | None = None) -> ApiResult:
    """Run ``handle(item)`` for each ``data[]`` item: successes in ``data``, failures in ``fail``."""
    data: list[Any] = []
    fail: list[dict[str, Any]] = []
    for item in items(request, max_items):
        try:
            data.append(handle(item))
        except RequestFailed as exc:
            fail.append(failure(exc.key if exc.key is not None else item, exc.code, exc.message))
        except (TypeError, ValueError, KeyError, AttributeError):
            # A value of an unexpected type or form (a list where an id goes, an unparsable URL):
            # the item fails the way Mimecast fails one, never the whole answer with a 500.
            fail.append(failure(item, ERR_BAD_VALUE, "the item has a value of the wrong type or form"))
    return ApiResult(data=data, fail=fail)


def not_found(what: str, key: Any, code: str = ERR_NOT_FOUND_OBJECT) -> RequestFailed:
    return RequestFailed(code, f"{what} was not found", key=key)


# --- pagination of in-memory lists --------------------------------------------------------------------


def _token_key(world: World) -> bytes:
    return hashlib.sha256(f"actions-page-tokens|{world.seed}".encode()).digest()


def _digest(item: Any) -> str:
    return hashlib.sha256(repr(sorted(item.items())).encode() if isinstance(item, dict) else b"-").hexdigest()[:16]


def page(request: ApiRequest, world: World, rows: list[Any], scope: str) -> tuple[list[Any], dict[str, Any]]:
    """One page of ``rows`` per ``meta.pagination`` with an opaque token bound to the filters.

    A token replayed with other filters or on another endpoint -> ``err_invalid_page_token``.
    """
    size = request.page_size()
    digest = _digest(request.items[0] if request.items else {})
    offset = 0
    token = request.page_token
    if token is not None:
        if not isinstance(token, str):
            raise RequestFailed(ERR_PAGE_TOKEN, "pageToken must be the string a previous answer gave")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            mac, body = raw.split("|", 1)
            expected = hmac.new(_token_key(world), body.encode(), "sha256").hexdigest()[:16]
            t_scope, t_client, t_digest, t_offset = body.split("|")
            if not hmac.compare_digest(mac, expected) or (t_scope, t_client, t_digest) != (
                scope,
                request.account.client_id,
                digest,
            ):
                raise ValueError("mismatch")
            offset = int(t_offset)
        except (ValueError, UnicodeDecodeError):
            raise RequestFailed(ERR_PAGE_TOKEN, "pageToken is invalid or belongs to another query") from None
    chunk = rows[offset : offset + size]
    pagination: dict[str, Any] = {"pageSize": size, "totalCount": len(rows)}
    if offset + size < len(rows):
        body = f"{scope}|{request.account.client_id}|{digest}|{offset + size}"
        mac = hmac.new(_token_key(world), body.encode(), "sha256").hexdigest()[:16]
        pagination["next"] = base64.urlsafe_b64encode(f"{mac}|{body}".encode()).decode().rstrip("=")
    return chunk, pagination


def rng_for(world: World, account: Account, *parts: object) -> random.Random:
    return random.Random(derive_seed(world.seed, account.client_id, "actions", *parts))
