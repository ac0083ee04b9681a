"""``--output json`` of ``checkpoints list`` and ``backfill list``: stable shapes (docs/operations.md)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.cli import main


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.yaml"
    tenant = {"name": "acme", "base_url": "http://127.0.0.1:9", "client_id": "id", "client_secret": "s3cr3t-value"}
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "tenants": [tenant]}))
    (tmp_path / "data").mkdir()
    monkeypatch.delenv("MIMECAST_SIEM_CONFIG", raising=False)
    return path


async def _seed(config: Path) -> None:
    store = await StateStore.open(f"sqlite:///{config.parent / 'data' / 'state.db'}")
    try:
        assert await store.acquire("acme", "ttp-url", "daemon-1", timedelta(seconds=300))
        await store.commit_window("acme", "ttp-url", datetime(2026, 11, 25, 10, 0, tzinfo=UTC), owner="daemon-1")
        await store.create_backfill_job(
            "acme",
            ["audit", "ttp-url"],
            datetime(2026, 10, 1, tzinfo=UTC),
            datetime(2026, 10, 2, tzinfo=UTC),
            timedelta(hours=1),
            ["archive"],
        )
    finally:
        await store.close()


def test_checkpoints_list_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["checkpoints", "list", "--config", str(config), "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"checkpoints": []}
    asyncio.run(_seed(config))
    assert main(["checkpoints", "list", "--config", str(config), "-o", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["checkpoints"]
    assert set(row) == {"tenant", "stream", "checkpoint", "lag_seconds", "updated_by", "lease_holder", "note"}
    assert row["note"] is None  # only SIEM streams keep notes (a gap, a replaced cursor: docs/siem.md)
    assert row["tenant"] == "acme"
    assert row["stream"] == "ttp-url"
    assert row["checkpoint"] == "2026-11-25T10:00:00Z"
    assert row["lease_holder"] == "daemon-1"
    expected_lag = (datetime.now(UTC) - datetime(2026, 11, 25, 10, 0, tzinfo=UTC)).total_seconds()
    assert abs(row["lag_seconds"] - expected_lag) < 60


def test_backfill_list_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backfill", "list", "--config", str(config), "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"jobs": []}
    asyncio.run(_seed(config))
    assert main(["backfill", "list", "--config", str(config), "--output", "json"]) == 0
    (job,) = json.loads(capsys.readouterr().out)["jobs"]
    assert job | {"id": 0, "updated_at": ""} == {
        "id": 0,
        "tenant": "acme",
        "status": "queued",
        "streams": ["audit", "ttp-url"],
        "sinks": ["archive"],
        "since": "2026-10-01T00:00:00Z",
        "until": "2026-10-02T00:00:00Z",
        "window_seconds": 3600,
        "windows_done": 0,
        "windows_total": 48,
        "events": 0,
        "owner": None,
        "updated_at": "",
        "error": None,
    }
    assert isinstance(job["id"], int)


def test_output_belongs_to_backfill_list_only(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backfill", "cancel", "1", "--config", str(config), "--output", "json"]) == 2
    assert "--output applies to 'backfill list' only" in capsys.readouterr().err
