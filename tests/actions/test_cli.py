"""The CLI as an operator uses it: list, describe, -p parsing, dry runs, downloads and their cap,
exit codes for refusals and transport failures, and ``action audit``."""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import json
from pathlib import Path

import pytest

from mimecast_siem import cli
from mimecast_siem.actions import service as service_module
from mimecast_siem.config import load_settings
from mimecast_siem.mimecast import RetryPolicy
from tests.actions.cases import World
from tests.actions.conftest import CLIENT_SECRET_MARK, ActionEnv, CliRunner, write_config


async def test_list_and_describe(run_cli: CliRunner) -> None:
    listing = await run_cli("action", "list", config=False)
    assert listing.code == 0
    assert len(listing.out) == 50
    assert {a["scope"] for a in listing.out} == {"read", "write", "admin"}
    desc = await run_cli("action", "describe", "reject-held-message", config=False)
    assert desc.code == 0
    rows = {p["name"]: p for p in desc.out["parameters"]}
    assert rows["ids"]["required"] is True
    assert rows["ids"]["maxItems"] == 25
    assert "INAPPROPRIATE COMMUNICATION" in rows["reason_type"]["allowed"]
    assert desc.out["schema"]["additionalProperties"] is False
    assert (await run_cli("action", "describe", "nope", config=False)).code == 2


async def test_dash_p_values_and_dotted_keys(action_env: ActionEnv, run_cli: CliRunner) -> None:
    held = World(action_env.world).held_id()
    run = await run_cli("action", "run", "release-held-message", "-p", f"id={held}")
    assert run.code == 0, run.err
    assert run.out["result"] == [{"id": held, "release": True}]
    run = await run_cli(
        "action", "run", "create-blocked-sender-policy", "--dry-run",
        "-p", "policy_action=block_sender",
        "-p", "policy_information.description=Block them",
        "-p", 'policy_information.from={"type": "email_domain", "emailDomain": "bad.example.net"}',
        "-p", "policy_information.override=true",
    )  # fmt: skip
    assert run.code == 0, run.err
    body = run.out["requests"][0]["body"]
    assert body == {
        "data": [
            {
                "option": "block_sender",
                "policy": {
                    "description": "Block them",
                    "from": {"type": "email_domain", "emailDomain": "bad.example.net"},
                    "override": True,
                },
            }
        ]
    }


async def test_params_from_file(action_env: ActionEnv, run_cli: CliRunner, tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"groups_information": [{"description": "From a file"}]}))
    run = await run_cli("action", "run", "create-group", "--params", f"@{params}")
    assert run.code == 0, run.err
    assert run.out["result"][0]["description"] == "From a file"
    missing = await run_cli("action", "run", "create-group", "--params", f"@{tmp_path / 'missing.json'}")
    assert missing.code == 2


async def test_dry_run_prints_the_exact_request_and_sends_nothing(action_env: ActionEnv, run_cli: CliRunner) -> None:
    action_env.sim.reset_stats()
    run = await run_cli(
        "action", "run", "decode-url", "--dry-run", "--params", '{"encoded_urls": ["https://protect-eu.mimecast.com/s/abc"]}'
    )  # fmt: skip
    assert run.code == 0
    assert run.out["dry_run"] is True
    assert run.out["requests"] == [
        {
            "method": "POST",
            "url": f"{action_env.sim.url}/api/ttp/url/decode-url",
            "body": {"data": [{"url": "https://protect-eu.mimecast.com/s/abc"}]},
        }
    ]
    assert CLIENT_SECRET_MARK not in json.dumps(run.out)
    assert action_env.requests_seen() == 0  # not even a token request


async def test_paged_read_stops_at_the_limit(run_cli: CliRunner) -> None:
    run = await run_cli("action", "run", "get-ttp-url-logs", "-p", "page_size=5", "--limit", "7")
    assert run.code == 0, run.err
    result = run.out["result"]
    assert (result["count"], result["pages"], result["truncated"]) == (7, 2, True)
    assert len(result["records"]) == 7
    assert (await run_cli("action", "run", "get-current-account-details", "--limit", "3")).code == 2


async def test_download_writes_the_file(action_env: ActionEnv, run_cli: CliRunner, tmp_path: Path) -> None:
    _mid, fid = World(action_env.world).message_with_file()
    out = tmp_path / "attachment.bin"
    run = await run_cli("action", "run", "get-file", "-p", f"file_id={fid}", "--output", str(out))
    assert run.code == 0, run.err
    content = World(action_env.world).state.files[fid][1]
    assert out.read_bytes() == content
    assert run.out["result"]["sha256"] == hashlib.sha256(content).hexdigest()
    again = await run_cli("action", "run", "get-file", "-p", f"file_id={fid}", "--output", str(out))
    assert again.code == 2  # refuses to overwrite without --overwrite
    assert (await run_cli("action", "run", "get-file", "-p", f"file_id={fid}")).code == 2  # no --output


async def test_download_over_the_cap_leaves_no_file(action_env: ActionEnv, run_cli: CliRunner, tmp_path: Path) -> None:
    big = next(fid for fid, (_n, data) in World(action_env.world).state.files.items() if len(data) > 100_000)
    out = tmp_path / "big.bin"
    run = await run_cli("action", "run", "get-archive-file", "-p", f"file_id={big}", "--output", str(out))
    assert run.code == 1, run.out
    assert run.out["type"].endswith(":download-too-large")
    assert "max_download_bytes" in run.out["detail"]
    assert not out.exists()
    assert not list(tmp_path.glob("big.bin*"))


async def test_mimecast_refusal_is_exit_3(action_env: ActionEnv, run_cli: CliRunner) -> None:
    run = await run_cli("action", "run", "get-message-info", "-p", "message_id=eNoUnknownMessage")
    assert run.code == 3
    assert run.out["fail"][0]["code"] == "err_message_not_found"
    assert run.out["status"] == 422
    assert "err_message_not_found" in run.err or "not found" in run.err


async def test_transport_failure_is_exit_4(
    action_env: ActionEnv, run_cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        service_module, "DEFAULT_RETRY", RetryPolicy(max_attempts=2, backoff_initial=0.05, backoff_max=0.1, jitter=0.0)
    )
    dead = tmp_path / "dead"
    dead.mkdir()
    config = write_config(dead, "http://127.0.0.1:9")  # discard port: nothing listens

    code = await asyncio.to_thread(cli.main, ["action", "run", "get-current-account-details", "--config", str(config)])
    assert code == 4


async def test_audit_lists_cli_calls(action_env: ActionEnv, run_cli: CliRunner) -> None:
    runs = [
        await run_cli("action", "run", "get-current-account-details"),
        await run_cli("action", "run", "decode-url", "-p", "encoded_urls=[]"),
        await run_cli("action", "run", "get-current-account-details", "--dry-run"),
    ]
    for done in runs:  # no credential in anything the CLI printed or logged
        assert CLIENT_SECRET_MARK not in done.err + json.dumps(done.out)
    run = await run_cli("action", "audit", "--limit", "10")
    assert run.code == 0
    rows = run.out
    assert [(r["action"], r["outcome"], r["dry_run"]) for r in rows] == [
        ("get-current-account-details", "dry_run", True),
        ("decode-url", "invalid", False),
        ("get-current-account-details", "ok", False),
    ]
    assert {r["who"] for r in rows} == {f"cli:{getpass.getuser()}"}
    assert rows[2]["mimecast_status"] == 200
    only = await run_cli("action", "audit", "--action", "decode-url", "--since", "1h")
    assert [r["action"] for r in only.out] == ["decode-url"]
    assert (await run_cli("action", "audit", "--since", "yesterday-ish")).code == 2
    settings = load_settings(action_env.config_path, env={})
    assert settings.actions.default_tenant == "acme"
