"""Fixtures of the actions tests: a simulator, a config file pointing at it, tokens, the audit store,
the CLI run in a worker thread (its own event loop) and the HTTP service on a test server."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from mimecast_siem import cli
from mimecast_siem.actions.access import FailedAuthThrottle
from mimecast_siem.actions.audit import AuditTrail
from mimecast_siem.actions.http import build_actions_app
from mimecast_siem.actions.service import ActionService
from mimecast_siem.checkpoints import StateStore
from mimecast_siem.config import load_settings
from mimecast_siem.config.models import Settings
from mimecast_siem.observability.metrics import reset_metrics
from mimecast_siem.simulator import RunningSimulator

#: Bearer tokens of the test configuration: name -> (clear token, scopes, tenants).
TOKENS: dict[str, tuple[str, list[str], list[str]]] = {
    "reader": ("tok-reader-6f1c2a9e", ["read"], ["*"]),
    "writer": ("tok-writer-0b7d44e1", ["write"], ["*"]),
    "admin": ("tok-admin-93aa5c02", ["admin"], ["*"]),
    "ops": ("tok-ops-5e8f1b37", ["read", "write", "admin"], ["*"]),
    "acme-only": ("tok-acmeonly-7c21d0f4", ["read", "write"], ["acme"]),
}
CLIENT_SECRET_MARK = "secret-1"  # the simulator's fake client secret: must never be logged/audited


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name][0]}"}


@dataclass
class ActionEnv:
    """Everything a test needs to call actions against the simulator."""

    sim: RunningSimulator
    settings: Settings
    config_path: Path
    state_url: str

    @property
    def world(self) -> Any:
        return self.sim.world

    def requests_seen(self) -> int:
        """API requests the simulator answered (token requests included), control calls excluded."""
        return sum(
            n for (path, _status, _client), n in self.sim.stats().requests.items() if not path.startswith("/_sim")
        )


def write_config(tmp_path: Path, sim_url: str, *, max_download_bytes: int = 100_000) -> Path:
    secret_file = tmp_path / "client_secret"
    secret_file.write_text(CLIENT_SECRET_MARK + "\n")
    tokens = [
        {
            "name": name,
            "sha256": hashlib.sha256(token.encode()).hexdigest(),
            "scopes": scopes,
            "tenants": tenants,
        }
        for name, (token, scopes, tenants) in TOKENS.items()
    ]
    config = {
        "data_dir": str(tmp_path / "data"),
        "tenants": [
            {"name": "acme", "base_url": sim_url, "client_id": "client-1", "client_secret_file": str(secret_file)},
            {"name": "beta", "base_url": sim_url, "client_id": "client-1", "client_secret_file": str(secret_file)},
        ],
        "actions": {"tokens": tokens, "default_tenant": "acme", "max_download_bytes": max_download_bytes},
        "logging": {"level": "INFO", "format": "json"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    (tmp_path / "data").mkdir(exist_ok=True)
    return path


@pytest.fixture
async def action_env(simulator: RunningSimulator, tmp_path: Path) -> ActionEnv:
    reset_metrics()
    path = write_config(tmp_path, simulator.url)
    settings = load_settings(path, env={})
    return ActionEnv(simulator, settings, path, settings.state_url())


@dataclass
class CliRun:
    code: int
    out: Any
    err: str


CliRunner = Callable[..., Awaitable[CliRun]]


@pytest.fixture
def run_cli(action_env: ActionEnv, capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """``await run_cli("action", "run", NAME, ...)``: the real CLI in a worker thread (own event loop)."""

    async def run(*argv: str, config: bool = True) -> CliRun:
        args = list(argv)
        if config:
            args += ["--config", str(action_env.config_path)]
        capsys.readouterr()
        code = await asyncio.wait_for(asyncio.to_thread(cli.main, args), timeout=60)
        captured = capsys.readouterr()
        try:
            out: Any = json.loads(captured.out) if captured.out.strip() else None
        except json.JSONDecodeError:
            out = captured.out
        return CliRun(code, out, captured.err)

    return run


@pytest.fixture
async def store(action_env: ActionEnv) -> AsyncIterator[StateStore]:
    s = await StateStore.open(action_env.state_url)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def http(action_env: ActionEnv, store: StateStore) -> AsyncIterator[TestClient[Any, Any]]:
    """The HTTP action API (standalone app) on a loopback test server, audited into ``store``."""
    service = ActionService(action_env.settings, audit=AuditTrail(store.record_audit))
    app = build_actions_app(
        service, throttle=FailedAuthThrottle(max_failures=1000), max_body_bytes=200_000, idempotency=store
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client
