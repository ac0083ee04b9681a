"""A whole daemon cycle at DEBUG leaks no secret: not raw, not URL-encoded, not base64, not in a traceback.

Secrets in play, each from a different source:

* the client secret of ``acme`` (``${ACME_SECRET}`` in the YAML) and a wrong one for ``globex``
  (an environment override), which fails every login - with tracebacks at DEBUG;
* every access token the simulator issued (several: forced 401s make the client refresh);
* the HEC token (``token_env``), with HEC busy at first;
* the action API token (``token_file``), used for an allowed read, a write Mimecast refuses and a
  call with a wrong token (the presented wrong token must not be logged either);
* the PostgreSQL password (``state.password_file``); the daemon's database connections are
  killed mid-run, so the store's error and reconnect paths run.

Besides the daemon, the same configuration runs ``config check``, a daemon whose state store is
unreachable and a daemon whose port is taken (an uncaught exception with a traceback). Everything
those processes wrote (stdout, stderr) and every file in the working directory is searched.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
import orjson
import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.simulator import FaultSettings, LateArrivals, RunningSimulator, ScriptedFault
from tests.sinks.hec_receiver import HecReceiver, HecToken, run_hec_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]

HEC_TOKEN = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
ACTION_TOKEN = "act-5c4b3a29180f7e6d5c4b"
WRONG_ACTION_TOKEN = "act-wrong-0123456789abcdef"
GLOBEX_SECRET = "globex-not-the-secret-4d2e"
WAIT = 90.0


def forms(secret: str, client_id: str | None = None) -> dict[str, str]:
    """The shapes a secret can take in output: raw, URL-encoded, base64 (standard, URL-safe, unpadded), JSON."""
    raw = secret.encode()
    b64 = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    found = {
        "raw": secret,
        "url": quote(secret, safe=""),
        "form": quote_plus(secret, safe=""),
        "base64": b64,
        "base64-unpadded": b64.rstrip("="),
        "base64-urlsafe": urlsafe.rstrip("="),
        "json": orjson.dumps(secret).decode()[1:-1],
    }
    if client_id is not None:  # HTTP Basic credentials of the app
        found["basic"] = base64.b64encode(f"{client_id}:{secret}".encode()).decode().rstrip("=")
    return found


def leaks(text: str, secrets: dict[str, dict[str, str]]) -> list[str]:
    """``"<secret name> as <form>"`` for every form found in ``text``."""
    return [f"{name} as {form}" for name, shapes in secrets.items() for form, value in shapes.items() if value in text]


def test_the_leak_search_finds_every_form() -> None:
    secrets = {"db": forms("p@ss/word+1=2&x y", "user")}
    for form, value in secrets["db"].items():
        assert f"db as {form}" in leaks(f"prefix {value} suffix", secrets)
    assert leaks("nothing here", secrets) == []


class Run:
    def __init__(self, tmp: Path, sim: RunningSimulator, hec: HecReceiver, postgres_url: str) -> None:
        self.tmp = tmp
        self.sim = sim
        self.hec = hec
        url = make_url(postgres_url)
        assert url.password is not None
        self.db_password = str(url.password)
        self.db_name = str(url.database)
        self.db_url = url
        self.state_url = url.render_as_string(hide_password=False)
        secrets_dir = tmp / "secrets"
        secrets_dir.mkdir()
        (secrets_dir / "db-password").write_text(self.db_password + "\n")
        (secrets_dir / "action-token").write_text(ACTION_TOKEN + "\n")
        self.secret_files = [secrets_dir / "db-password", secrets_dir / "action-token"]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_SIEM")}
        self.env.update(
            {
                "ACME_SECRET": sim.client_secret,
                "HEC_TOKEN_VALUE": HEC_TOKEN,
                "MIMECAST_SIEM__TENANTS__GLOBEX__CLIENT_SECRET": GLOBEX_SECRET,
            }
        )
        self.outputs: list[Path] = []

    def config(self, name: str, *, state_port: int | None = None, server_port: int = 0) -> Path:
        state_url = self.db_url.set(password=None)
        if state_port is not None:
            state_url = state_url.set(port=state_port)
        stream = {"poll_interval": "2s", "lag": "2s", "overlap": "20s", "max_window": "1m", "start_from": "3m"}
        raw: dict[str, Any] = {
            "data_dir": str(self.tmp / "data"),
            "tenants": [
                {
                    "name": "acme",
                    "base_url": self.sim.url,
                    "client_id": self.sim.client_id,
                    "client_secret": "${ACME_SECRET}",
                    "streams": ["ttp-url", "held-messages"],
                },
                {
                    "name": "globex",
                    "base_url": self.sim.url,
                    "client_id": "client-2",
                    "client_secret": "placeholder-overridden-by-env",
                    "streams": ["ttp-url"],
                },
            ],
            "streams": {"ttp-url": stream, "held-messages": stream},
            "sinks": [
                {"name": "archive", "type": "file", "path": str(self.tmp / "out")},
                {"name": "splunk", "type": "hec", "url": self.hec.url, "token_env": "HEC_TOKEN_VALUE"},
            ],
            "state": {
                "url": state_url.render_as_string(hide_password=False),
                "password_file": str(self.secret_files[0]),
                "lease_ttl": "5s",
            },
            "server": {"enabled": True, "host": "127.0.0.1", "port": server_port},
            "daemon": {"shutdown_grace": "10s", "stream_backoff_max": "2s"},
            "actions": {
                "tokens": [{"name": "soc", "token_file": str(self.secret_files[1]), "scopes": ["read", "write"]}]
            },
            "logging": {"level": "DEBUG", "format": "json"},
        }
        path = self.tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path

    async def start(self, name: str, *args: str) -> asyncio.subprocess.Process:
        out, err = self.tmp / f"{name}.stdout", self.tmp / f"{name}.stderr"
        self.outputs += [out, err]
        with out.open("wb") as stdout, err.open("wb") as stderr:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "mimecast_siem", *args, stdout=stdout, stderr=stderr, env=self.env, cwd=self.tmp
            )

    async def finish(self, proc: asyncio.subprocess.Process, timeout: float = 60) -> int:
        try:
            return await asyncio.wait_for(proc.wait(), timeout)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    def text(self, name: str) -> str:
        return "".join(p.read_text(errors="replace") for p in self.outputs if p.stem == name)

    def lines(self, name: str) -> list[dict[str, Any]]:
        out = []
        for raw in (self.tmp / f"{name}.stderr").read_bytes().splitlines():
            if raw.startswith(b"{"):
                out.append(orjson.loads(raw))
        return out

    async def checkpoint(self) -> datetime | None:
        store = await StateStore.open(self.state_url)
        try:
            return await store.get_checkpoint("acme", "ttp-url")
        finally:
            await store.close()

    async def wait(self, proc: asyncio.subprocess.Process, what: str, condition: Any) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            assert proc.returncode is None, f"the daemon exited early:\n{self.text('daemon')[-3000:]}"
            if await condition():
                return
            await asyncio.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}:\n{self.text('daemon')[-3000:]}")

    def kill_database_connections(self) -> int:
        admin = self.db_url.set(database="postgres")
        with psycopg.connect(
            host=admin.host, port=admin.port, user=admin.username, password=self.db_password, dbname="postgres",
            autocommit=True, connect_timeout=10,
        ) as conn:  # fmt: skip
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.db_name,),
            ).fetchall()
        return len(rows)


async def _call_actions(base: str) -> dict[str, int]:
    statuses: dict[str, int] = {}
    calls = {
        "read": ("get-held-message-list", {}, ACTION_TOKEN),
        "refused-write": ("release-held-message", {"id": ["no-such-held-message-0001"]}, ACTION_TOKEN),
        "wrong-token": ("get-held-message-list", {}, WRONG_ACTION_TOKEN),
    }
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        for label, (action, params, token) in calls.items():
            async with http.post(
                f"{base}/v1/actions/{action}",
                json={"tenant": "acme", "params": params},
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                statuses[label] = resp.status
    return statuses


async def test_a_whole_cycle_at_debug_leaks_no_secret(
    simulator_factory: Any, postgres_url: str, tmp_path: Path
) -> None:
    sim = await simulator_factory(
        apps=[("client-1", "secret-1-for-acme-9b8a"), ("client-2", "secret-2-for-globex-7c6d")],
        rates={"ttp-url": 5.0},
        late=LateArrivals(fraction=0.0),
        faults=FaultSettings(
            force_401=2,  # two tokens expire mid-walk: refreshed and replayed
            script=[ScriptedFault("/oauth/token", count=1, status=503)],  # the first login is retried
        ),
    )
    receiver = HecReceiver([HecToken(HEC_TOKEN)])
    async with run_hec_receiver(receiver) as hec:
        hec.fail_next(1, status=503, code=9)
        run = Run(tmp_path, sim, hec, postgres_url)

        check = await run.start("config-check", "config", "check", "--config", str(run.config("daemon")))
        assert await run.finish(check) == 0, run.text("config-check")

        daemon = await run.start("daemon", "run", "--config", str(run.config("daemon")), "--port-file", "port")
        try:
            port_file = tmp_path / "port"

            async def listening() -> bool:
                return port_file.exists() and bool(port_file.read_text().strip())

            await run.wait(daemon, "the daemon to listen", listening)
            port = int(port_file.read_text())
            target = datetime.now(UTC) - timedelta(seconds=10)

            async def caught_up() -> bool:
                cp = await run.checkpoint()
                return cp is not None and cp >= target and bool(hec.events)

            await run.wait(daemon, "acme to catch up", caught_up)

            async def globex_refused() -> bool:
                return any(line.get("tenant") == "globex" and "exc" in line for line in run.lines("daemon"))

            await run.wait(daemon, "globex's refused login with a traceback", globex_refused)
            statuses = await _call_actions(f"http://127.0.0.1:{port}")
            assert statuses == {"read": 200, "refused-write": 422, "wrong-token": 401}

            assert run.kill_database_connections() >= 1
            after_kill = datetime.now(UTC)

            async def recovered() -> bool:
                cp = await run.checkpoint()
                return cp is not None and cp >= after_kill - timedelta(seconds=2)

            await run.wait(daemon, "commits to resume after the database cut the connections", recovered)

            # Two more processes with the same secrets fail in other places.
            unreachable = await run.start("no-store", "run", "--config", str(run.config("no-store", state_port=9)))
            assert await run.finish(unreachable) != 0
            taken = await run.start("port-taken", "run", "--config", str(run.config("port-taken", server_port=port)))
            assert await run.finish(taken) == 2  # a taken port: one clear line and exit 2, no traceback

            daemon.terminate()
            assert await run.finish(daemon, 40) == 0
        finally:
            if daemon.returncode is None:
                daemon.kill()
                await daemon.wait()

    tokens = list(sim.world.tokens._tokens)  # every access token the simulator handed out
    assert len(tokens) >= 3
    secrets = {
        "acme client secret": forms(sim.client_secret, sim.client_id),
        "globex client secret": forms(GLOBEX_SECRET, "client-2"),
        "HEC token": forms(HEC_TOKEN),
        "action token": forms(ACTION_TOKEN),
        "presented wrong action token": forms(WRONG_ACTION_TOKEN),
        "PostgreSQL password": forms(run.db_password),
        **{f"access token {i}": forms(t) for i, t in enumerate(tokens)},
    }
    # The run went through the paths it was meant to (else a clean result would prove nothing).
    lines = run.lines("daemon")
    assert any(line["level"] == "debug" for line in lines)
    assert any("Traceback" in line.get("exc", "") for line in lines)
    assert any(line.get("tenant") == "globex" and line.get("error_kind") == "auth" for line in lines)
    assert any("window_start" in line and "checkpoint" in line for line in lines)
    assert any(line.get("logger", "").startswith("mimecast_siem.actions") for line in lines)
    taken_text = run.text("port-taken")
    assert "already in use" in taken_text
    assert "Traceback" not in taken_text
    assert run.text("no-store").strip()

    found: dict[str, list[str]] = {}
    for path in sorted(p for p in tmp_path.rglob("*") if p.is_file()):
        if path in run.secret_files or path.suffix == ".yaml":
            continue  # where the secrets are configured
        hits = leaks(path.read_bytes().decode("utf-8", errors="replace"), secrets)
        if hits:
            found[str(path.relative_to(tmp_path))] = hits
    assert not found, f"secrets leaked: {found}"
