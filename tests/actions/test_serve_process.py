"""``mimecast-siem serve-actions`` as a real process: serves, audits, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from mimecast_siem.checkpoints import StateStore
from tests.actions.conftest import CLIENT_SECRET_MARK, TOKENS, ActionEnv, bearer, write_config

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


async def _wait_for_port(port_file: Path, proc: subprocess.Popen[bytes]) -> int:
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT
    while asyncio.get_running_loop().time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve-actions exited early with {proc.returncode}")
        if port_file.exists() and port_file.read_text().strip():
            return int(port_file.read_text())
        await asyncio.sleep(0.1)
    raise AssertionError("serve-actions did not write its port file in time")


async def test_serve_actions_process(action_env: ActionEnv, tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mimecast_siem", "serve-actions", "--config", str(action_env.config_path),
             "--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            port = await _wait_for_port(port_file, proc)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                url = f"http://127.0.0.1:{port}/v1/actions/get-current-account-details"
                async with session.post(url, json={}, headers=bearer("reader")) as resp:
                    assert resp.status == 200, await resp.text()
                    doc = await resp.json()
                    assert doc["result"]["accountCode"]
                async with session.post(url, json={}) as resp:
                    assert resp.status == 401
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
                raise
    assert code == 0
    output = log_path.read_text()
    assert CLIENT_SECRET_MARK not in output
    assert not any(token in output for token, _s, _t in TOKENS.values())
    store = await StateStore.open(action_env.state_url)
    try:
        rows = await store.list_audit(limit=5)
    finally:
        await store.close()
    assert [(r.outcome, r.actor) for r in rows] == [("unauthorized", "anonymous"), ("ok", "reader")]


async def test_serve_actions_refuses_without_tokens(action_env: ActionEnv, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    config = write_config(bare, action_env.sim.url)
    data = json.loads(config.read_text())
    data["actions"]["tokens"] = []
    config.write_text(json.dumps(data))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mimecast_siem", "serve-actions", "--config", str(config), "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(proc.communicate(), timeout=START_TIMEOUT)
    assert proc.returncode == 2
    assert b"at least one token" in err
