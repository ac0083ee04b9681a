"""Failed-auth throttling per credential and per address without collateral lockout, the client
address behind trusted proxies, and client/channel in every audit record (issue 17, item 3)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from mimecast_siem.actions.access import FailedAuthThrottle, client_address, credential_fingerprint, proxy_networks
from mimecast_siem.actions.audit import AuditTrail
from mimecast_siem.actions.http import build_actions_app
from mimecast_siem.actions.service import ActionService
from mimecast_siem.checkpoints import StateStore
from mimecast_siem.config import load_settings
from mimecast_siem.errors import ConfigError
from tests.actions.conftest import ActionEnv, CliRunner, bearer

PROXIES = proxy_networks(["10.0.0.0/8", "2001:db8::/32"])


def test_the_same_wrong_credential_is_throttled_from_any_address() -> None:
    throttle = FailedAuthThrottle(max_failures=3, window=60.0, clock=lambda: 0.0)
    stolen = credential_fingerprint("Bearer leaked-and-revoked")
    for i in range(3):
        throttle.record_failure(f"192.0.2.{i}", stolen)
    assert throttle.retry_after("198.51.100.7", stolen) is not None  # new address, same credential
    assert throttle.retry_after("198.51.100.7", credential_fingerprint("Bearer other")) is None
    assert throttle.tracked_credentials() == 1


def test_fingerprints_are_digests() -> None:
    fp = credential_fingerprint("Bearer tok-secret-value")
    assert fp is not None
    assert "tok-secret" not in fp
    assert len(fp) == 32
    assert credential_fingerprint(None) is None


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("192.0.2.9", ["203.0.113.5"], "192.0.2.9"),  # untrusted peer: its header is ignored
        ("10.1.2.3", ["203.0.113.5"], "203.0.113.5"),
        ("10.1.2.3", ["198.51.100.1, 203.0.113.5, 10.9.9.9"], "203.0.113.5"),  # right-most untrusted
        ("10.1.2.3", ["198.51.100.1", "203.0.113.5"], "203.0.113.5"),  # several headers
        ("10.1.2.3", ["garbage, 203.0.113.5"], "203.0.113.5"),
        ("10.1.2.3", ["203.0.113.5, garbage"], "10.1.2.3"),  # unreadable hop: stop at the proxy
        ("10.1.2.3", [], "10.1.2.3"),
        ("10.1.2.3", ["10.4.4.4"], "10.4.4.4"),  # only proxies: the left-most known
        ("2001:db8::1", ["2001:db8::2, 2001:db9::7"], "2001:db9::7"),
        ("10.1.2.3", ["[2001:db9::7]:443"], "2001:db9::7"),
        ("10.1.2.3", ["203.0.113.5:5555"], "203.0.113.5"),
        (None, ["203.0.113.5"], "unknown"),
    ],
)
def test_client_address(peer: str | None, xff: list[str], expected: str) -> None:
    assert client_address(peer, xff, PROXIES) == expected


@given(st.lists(st.text(max_size=40), max_size=5), st.ip_addresses())
def test_client_address_is_always_an_address_or_the_peer(xff: list[str], peer: Any) -> None:
    got = client_address(str(peer), xff, PROXIES)
    ipaddress.ip_address(got)  # never the caller's free text
    if not any(peer in net for net in PROXIES if net.version == peer.version):
        assert got == str(peer)


def test_trusted_proxies_must_be_networks(tmp_path: Any) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        '{"tenants": [{"name": "a", "client_id": "x", "client_secret": "y"}],'
        ' "actions": {"trusted_proxies": ["10.0.0.0/8", "not-a-net"]}}'
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert "trusted_proxies[1]" in str(info.value)
    assert "CIDR" in str(info.value)


async def test_forwarded_for_is_used_only_behind_a_trusted_proxy(action_env: ActionEnv, store: StateStore) -> None:
    throttle = FailedAuthThrottle(max_failures=2, window=60.0, clock=lambda: 0.0)
    actions = action_env.settings.actions.model_copy(update={"trusted_proxies": ["127.0.0.0/8"]})
    settings = action_env.settings.model_copy(update={"actions": actions})
    service = ActionService(settings, audit=AuditTrail(store.record_audit))
    app = build_actions_app(service, throttle=throttle)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        # two clients behind the same ingress: one fails, the other is not affected
        for _ in range(3):
            await client.post(
                "/v1/actions/get-current-account-details",
                headers={"Authorization": "Bearer wrong", "X-Forwarded-For": "203.0.113.66"},
            )
        other = await client.post(
            "/v1/actions/get-current-account-details",
            headers={"Authorization": "Bearer also-wrong", "X-Forwarded-For": "198.51.100.7"},
        )
        assert other.status == 401  # not 429: another address, another credential
        ok = await client.post(
            "/v1/actions/get-current-account-details", headers={**bearer("reader"), "X-Forwarded-For": "198.51.100.7"}
        )
        assert ok.status == 200
    rows = await store.list_audit(limit=10)
    assert [r.client for r in rows[:2]] == ["198.51.100.7", "198.51.100.7"]
    assert {r.client for r in rows[2:]} == {"203.0.113.66"}
    assert rows[2].outcome == "throttled"
    assert all(r.channel == "http" for r in rows)


async def test_cli_calls_are_audited_with_channel_and_client(
    action_env: ActionEnv, run_cli: CliRunner, store: StateStore
) -> None:
    run = await run_cli("action", "run", "get-current-account-details")
    assert run.code == 0, run.err
    row = (await store.list_audit(limit=1))[0]
    assert (row.channel, row.client) == ("cli", "local")
    listed = await run_cli("action", "audit", "--limit", "1")
    assert listed.out[0]["channel"] == "cli"
    assert listed.out[0]["client"] == "local"
