"""The action API mounted on the daemon's health app through the collector's hook."""

from __future__ import annotations

from types import SimpleNamespace

from aiohttp.test_utils import TestClient, TestServer

from mimecast_siem.actions import configure_daemon_app
from mimecast_siem.checkpoints import StateStore
from mimecast_siem.mimecast import MimecastClient
from mimecast_siem.observability.health import HealthState, build_health_app
from tests.actions.conftest import ActionEnv, bearer


async def test_mounted_next_to_health_and_shares_the_daemon_clients(action_env: ActionEnv, store: StateStore) -> None:
    tenant = action_env.settings.tenants[0]
    async with MimecastClient(tenant) as shared:
        app = build_health_app(HealthState())
        services = SimpleNamespace(settings=action_env.settings, store=store, clients={tenant.name: shared})
        configure_daemon_app(app, services)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            assert (await client.get("/healthz")).status == 200
            resp = await client.post("/v1/actions/get-current-account-details", json={}, headers=bearer("reader"))
            assert resp.status == 200, await resp.text()
            assert (await client.get("/v1/openapi.json", headers=bearer("reader"))).status == 200
        # the daemon's client was not closed by the action API's cleanup
        again = await shared.request("/api/account/get-account", [])
        assert again.status == 200
    rows = await store.list_audit(limit=1)
    assert (rows[0].action, rows[0].outcome, rows[0].actor) == ("get-current-account-details", "ok", "reader")


async def test_not_mounted_when_turned_off(action_env: ActionEnv, store: StateStore) -> None:
    settings = action_env.settings.model_copy(deep=True)
    settings.actions.enabled = False
    app = build_health_app(HealthState())
    configure_daemon_app(app, SimpleNamespace(settings=settings, store=store, clients={}))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.post("/v1/actions/get-current-account-details", json={}, headers=bearer("reader"))
        assert resp.status == 404
        assert resp.content_type != "application/problem+json"  # no route at all
