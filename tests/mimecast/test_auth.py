"""Token cache: proactive renewal, exactly one refresh in flight, shared outcome, no secret in repr."""

from __future__ import annotations

import asyncio

import pytest

from mimecast_siem.errors import AuthError, ResponseFormatError
from mimecast_siem.mimecast.auth import (
    DEFAULT_LIFETIME,
    AccessToken,
    TokenCache,
    TokenGrant,
    parse_token_grant,
    refresh_delay,
)

WAIT = 5.0


class FakeTokenEndpoint:
    """Counts fetches; each fetch yields to the loop so concurrent callers really overlap."""

    def __init__(self, lifetime: float = 1799, fail: Exception | None = None) -> None:
        self.calls = 0
        self.lifetime = lifetime
        self.fail = fail

    async def __call__(self) -> TokenGrant:
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.fail is not None:
            raise self.fail
        return TokenGrant(access_token=f"token-{self.calls}", expires_in=self.lifetime)


def test_refresh_delay() -> None:
    assert refresh_delay(1799) == 1739
    assert refresh_delay(1800, margin=60) == 1740
    assert refresh_delay(30) == 15  # short lifetimes renew half way, not immediately


async def test_fifty_concurrent_callers_cause_one_token_request() -> None:
    endpoint = FakeTokenEndpoint()
    cache = TokenCache(endpoint)
    async with asyncio.timeout(WAIT):
        tokens = await asyncio.gather(*(cache.get() for _ in range(50)))
    assert endpoint.calls == 1
    assert {t.value for t in tokens} == {"token-1"}


async def test_fifty_401s_on_the_same_token_cause_one_refresh() -> None:
    endpoint = FakeTokenEndpoint()
    cache = TokenCache(endpoint)
    rejected = await cache.get()
    async with asyncio.timeout(WAIT):
        fresh = await asyncio.gather(*(cache.refresh(rejected) for _ in range(50)))
    assert endpoint.calls == 2
    assert {t.value for t in fresh} == {"token-2"}


async def test_a_late_401_on_an_old_token_reuses_the_new_one() -> None:
    endpoint = FakeTokenEndpoint()
    cache = TokenCache(endpoint)
    old = await cache.get()
    new = await cache.refresh(old)
    again = await cache.refresh(old)
    assert again is new
    assert endpoint.calls == 2


async def test_renewal_happens_at_refresh_time_not_before() -> None:
    now = [1000.0]
    endpoint = FakeTokenEndpoint(lifetime=1799)
    cache = TokenCache(endpoint, clock=lambda: now[0])
    first = await cache.get()
    now[0] += 1738
    assert await cache.get() is first
    now[0] += 2
    second = await cache.get()
    assert second is not first
    assert endpoint.calls == 2


async def test_a_failed_fetch_is_shared_by_the_waiters_not_repeated() -> None:
    endpoint = FakeTokenEndpoint(fail=AuthError("Mimecast refused the client credentials"))
    cache = TokenCache(endpoint)
    async with asyncio.timeout(WAIT):
        results = await asyncio.gather(*(cache.get() for _ in range(10)), return_exceptions=True)
    assert endpoint.calls == 1
    assert all(isinstance(r, AuthError) for r in results)
    # A later, independent call tries again.
    with pytest.raises(AuthError):
        await cache.get()
    assert endpoint.calls == 2


def test_token_repr_and_str_hide_the_secret() -> None:
    grant = TokenGrant(access_token="s3cr3t-token-value", expires_in=10)
    token = AccessToken(value="s3cr3t-token-value", token_type="bearer", refresh_at=1, expires_at=2)
    assert "s3cr3t" not in repr(grant)
    assert "s3cr3t" not in repr(token)
    assert token.authorization == "Bearer s3cr3t-token-value"


def test_parse_token_grant() -> None:
    grant = parse_token_grant({"access_token": "abc", "token_type": "Bearer", "expires_in": "1799", "scope": ""})
    assert (grant.access_token, grant.expires_in, grant.token_type) == ("abc", 1799.0, "Bearer")


@pytest.mark.parametrize("expires_in", [None, "soon", -5, 0, True, float("inf")])
def test_unusable_lifetimes_fall_back_to_the_documented_ttl(expires_in: object) -> None:
    assert parse_token_grant({"access_token": "abc", "expires_in": expires_in}).expires_in == DEFAULT_LIFETIME


@pytest.mark.parametrize("document", [[], "x", {}, {"access_token": ""}, {"access_token": 5}])
def test_token_response_without_a_token_is_a_format_error(document: object) -> None:
    with pytest.raises(ResponseFormatError, match="access_token"):
        parse_token_grant(document)


async def test_callers_starting_during_a_refresh_never_get_the_rejected_token() -> None:
    endpoint = FakeTokenEndpoint()
    cache = TokenCache(endpoint)
    rejected = await cache.get()
    refreshing = asyncio.create_task(cache.refresh(rejected))
    await asyncio.sleep(0)  # the refresh has started and is waiting on the token endpoint
    async with asyncio.timeout(WAIT):
        during = await cache.get()
        await refreshing
    assert during is not rejected
    assert during.value == "token-2"
    assert endpoint.calls == 2
