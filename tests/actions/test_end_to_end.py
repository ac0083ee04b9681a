"""Every action end to end against the simulator, through the CLI and through the HTTP API."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.actions.catalogue import CATALOGUE
from mimecast_siem.actions.spec import ResultKind
from mimecast_siem.checkpoints import StateStore
from tests.actions.cases import CASES, World
from tests.actions.conftest import ActionEnv, CliRunner, bearer

NAMES = sorted(CATALOGUE)


@pytest.mark.parametrize("name", NAMES)
async def test_every_action_through_the_cli(
    name: str, action_env: ActionEnv, run_cli: CliRunner, tmp_path: Path
) -> None:
    case = CASES[name]
    w = World(action_env.world)
    params = case.params(w)
    argv = ["action", "run", name, "--params", json.dumps(params)]
    if case.limit:
        argv += ["--limit", str(case.limit)]
    output = tmp_path / "download.bin"
    if CATALOGUE[name].kind is ResultKind.BINARY:
        argv += ["--output", str(output)]
    run = await run_cli(*argv)
    assert run.code == 0, (run.out, run.err)
    assert run.out["action"] == name
    assert run.out["tenant"] == "acme"
    assert run.out["dry_run"] is False
    case.check(run.out["result"], w)
    if CATALOGUE[name].kind is ResultKind.BINARY:
        data = output.read_bytes()
        assert len(data) == run.out["result"]["bytes"] > 0
        assert hashlib.sha256(data).hexdigest() == run.out["result"]["sha256"]
    if CATALOGUE[name].kind is ResultKind.PAGED and case.limit:
        assert run.out["result"]["count"] <= case.limit


@pytest.mark.parametrize("name", NAMES)
async def test_every_action_through_http(name: str, action_env: ActionEnv, http: Any, store: StateStore) -> None:
    case = CASES[name]
    w = World(action_env.world)
    body: dict[str, Any] = {"params": case.params(w)}
    if case.limit:
        body["limit"] = case.limit
    resp = await http.post(f"/v1/actions/{name}", json=body, headers=bearer("ops"))
    if CATALOGUE[name].kind is ResultKind.BINARY:
        assert resp.status == 200, await resp.text()
        data = await resp.read()
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert hashlib.sha256(data).hexdigest() == resp.headers["X-Content-SHA256"]
        assert len(data) > 0
    else:
        doc = await resp.json()
        assert resp.status == 200, doc
        assert doc["action"] == name
        assert doc["tenant"] == "acme"
        case.check(doc["result"], w)
    rows = await store.list_audit(limit=5, action=name)
    assert rows
    assert rows[0].outcome == "ok"
    assert rows[0].actor == "ops"
    assert rows[0].tenant == "acme"
