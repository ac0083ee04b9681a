"""No secret - client secret, access token, Authorization header - in any log line, error or traceback."""

from __future__ import annotations

import traceback

import pytest

from mimecast_siem.errors import ApiError
from mimecast_siem.mimecast import MimecastClient
from mimecast_siem.observability.logging import scrub
from mimecast_siem.simulator import FaultSettings, RequestQuota, RunningSimulator, ScriptedFault
from tests.mimecast.conftest import CLIENT_SECRET, FAST_RETRY, tenant_for

SUMMARY = "/api/gateway/get-hold-summary-list"


def full_text(exc: BaseException) -> str:
    return str(exc) + repr(exc) + "".join(traceback.format_exception(exc))


async def test_no_secret_anywhere_across_every_failure_path(
    sim: RunningSimulator, debug_logs: pytest.LogCaptureFixture
) -> None:
    errors: list[BaseException] = []
    tokens: set[str] = set()

    async def attempt(client: MimecastClient, path: str = SUMMARY) -> None:
        try:
            await client.request(path, data=[], max_wait=0.3)
        except ApiError as exc:
            errors.append(exc)
        if client.tokens.current is not None:
            tokens.add(client.tokens.current.value)

    wrong = "wrong-" + CLIENT_SECRET[::-1]
    async with MimecastClient(tenant_for(sim.url, secret=wrong), retry=FAST_RETRY) as bad:
        await attempt(bad)
    async with MimecastClient(tenant_for(sim.url, timeout=0.3), retry=FAST_RETRY) as client:
        await attempt(client)  # success: token issued and logged about
        sim.set_faults(force_401=2)
        await attempt(client)  # 401 twice
        for kind in ("invalid_json", "truncated", "html", "drop"):
            sim.set_faults(FaultSettings(script=[ScriptedFault(path=SUMMARY, count=10, kind=kind)]))
            await attempt(client)
        sim.set_faults(FaultSettings(script=[ScriptedFault(path=SUMMARY, count=10, kind="delay", delay=1.0)]))
        await attempt(client)
        sim.set_faults(FaultSettings(script=[ScriptedFault(path=SUMMARY, count=10, status=403)]))
        await attempt(client)
        sim.set_faults(quota=RequestQuota(limit=1, period=300))
        await attempt(client)
        await attempt(client)
        sim.clear_faults()
        await attempt(client, "/api/no/such-thing")

    assert len(errors) >= 9
    assert len(tokens) >= 2
    secrets = [CLIENT_SECRET, wrong, *tokens]
    log_text = debug_logs.text + "".join(
        str(r.__dict__) for r in debug_logs.records
    )  # message, args and extras of every record
    assert debug_logs.records  # the scenario did log
    for secret in secrets:
        assert secret not in log_text
        for exc in errors:
            assert secret not in full_text(exc)
    assert "Bearer " not in log_text
    for exc in errors:
        assert "Bearer " not in full_text(exc)


async def test_tls_off_warns_once_per_tenant(sim: RunningSimulator, debug_logs: pytest.LogCaptureFixture) -> None:
    tenant = tenant_for(sim.url, verify_tls=False).model_copy(update={"name": "tls-off-tenant"})
    for _ in range(2):
        async with MimecastClient(tenant, retry=FAST_RETRY) as client:
            await client.authenticate()
    warnings = [r for r in debug_logs.records if "verification is OFF" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelname == "WARNING"
    assert "tls-off-tenant" in warnings[0].getMessage()


async def test_the_secret_and_every_access_token_reach_the_log_redactor(sim: RunningSimulator) -> None:
    async with MimecastClient(tenant_for(sim.url), retry=FAST_RETRY) as client:
        await client.authenticate()
        first = client.tokens.current
        sim.set_faults(force_401=1)
        await client.request(SUMMARY, data=[])
        second = client.tokens.current
    assert first is not None
    assert second is not None
    assert first.value != second.value
    for secret in (CLIENT_SECRET, first.value, second.value):
        assert secret not in scrub(f"a line that mentions {secret} by accident")
