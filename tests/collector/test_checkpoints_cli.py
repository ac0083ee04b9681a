"""``mimecast-siem checkpoints list|set|reset`` through the real CLI entry point and a real SQLite store."""

from __future__ import annotations

import asyncio
import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.cli import main
from mimecast_siem.collector.commands import confirm, parse_checkpoint_time


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "data"),
                "tenants": [
                    {
                        "name": "acme",
                        "base_url": "http://127.0.0.1:9",
                        "client_id": "id",
                        "client_secret": "s3cr3t-value",
                    }
                ],
            }
        )
    )
    monkeypatch.delenv("MIMECAST_SIEM_CONFIG", raising=False)
    return path


async def _commit(config: Path, when: datetime) -> None:
    store = await StateStore.open(f"sqlite:///{config.parent / 'data' / 'state.db'}")
    try:
        assert await store.acquire("acme", "ttp-url", "daemon-1", timedelta(seconds=30))
        await store.commit_window("acme", "ttp-url", when, owner="daemon-1")
    finally:
        await store.close()


async def _checkpoint(config: Path) -> datetime | None:
    store = await StateStore.open(f"sqlite:///{config.parent / 'data' / 'state.db'}")
    try:
        return await store.get_checkpoint("acme", "ttp-url")
    finally:
        await store.close()


def _run(*argv: str, monkeypatch: pytest.MonkeyPatch, stdin: str | None = None) -> int:
    if stdin is not None:
        fake = io.StringIO(stdin)
        fake.isatty = lambda: True  # type: ignore[method-assign]
        monkeypatch.setattr(sys, "stdin", fake)
    else:
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    return main(list(argv))


def test_list_set_and_reset(config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (config.parent / "data").mkdir()
    committed = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    asyncio.run(_commit(config, committed))
    assert _run("checkpoints", "list", "--config", str(config), monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    assert "acme" in out
    assert "ttp-url" in out
    assert "2026-11-25T10:00:00Z" in out
    assert "daemon-1" in out

    code = _run(
        "checkpoints", "set", "--config", str(config), "--tenant", "acme", "--stream", "ttp-url",
        "--to", "2026-11-25T09:00:00Z", "--yes", monkeypatch=monkeypatch,
    )  # fmt: skip
    assert code == 0
    assert asyncio.run(_checkpoint(config)) == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    code = _run(
        "checkpoints", "reset", "--config", str(config), "--tenant", "acme", "--stream", "ttp-url",
        monkeypatch=monkeypatch, stdin="y\n",
    )  # fmt: skip
    assert code == 0
    assert asyncio.run(_checkpoint(config)) is None
    assert "s3cr3t-value" not in capsys.readouterr().out


def test_refuses_without_a_tty_and_without_yes(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (config.parent / "data").mkdir()
    asyncio.run(_commit(config, datetime(2026, 11, 25, 10, 0, tzinfo=UTC)))
    code = _run(
        "checkpoints", "set", "--config", str(config), "--tenant", "acme", "--stream", "ttp-url", "--to", "1h",
        monkeypatch=monkeypatch,
    )  # fmt: skip
    assert code == 2
    assert "pass --yes" in capsys.readouterr().err
    assert asyncio.run(_checkpoint(config)) == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    # A person answering "no" changes nothing either.
    code = _run(
        "checkpoints", "reset", "--config", str(config), "--tenant", "acme", "--stream", "ttp-url",
        monkeypatch=monkeypatch, stdin="n\n",
    )  # fmt: skip
    assert code == 1
    assert asyncio.run(_checkpoint(config)) is not None


def test_bad_input_names_the_flag_and_what_is_allowed(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("checkpoints", "set", "--config", str(config), "--yes")
    assert _run(*base, "--tenant", "nope", "--stream", "ttp-url", "--to", "1h", monkeypatch=monkeypatch) == 2
    assert "--tenant 'nope' is not configured; configured tenants: acme" in capsys.readouterr().err
    assert _run(*base, "--tenant", "acme", "--stream", "ttp-foo", "--to", "1h", monkeypatch=monkeypatch) == 2
    assert "allowed: ttp-url" in capsys.readouterr().err
    assert _run(*base, "--tenant", "acme", "--stream", "ttp-url", "--to", "soon", monkeypatch=monkeypatch) == 2
    assert "--to 'soon' is not a time" in capsys.readouterr().err


def test_checkpoint_time_parsing() -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, 500, tzinfo=UTC)
    assert parse_checkpoint_time("2h", now) == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert parse_checkpoint_time("2026-11-25T11:00:00", now) == datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="in the future"):
        parse_checkpoint_time("2026-11-26T00:00:00Z", now)


def test_confirm_only_asks_a_terminal() -> None:
    assert confirm("ok?", assume_yes=True) is True
    assert confirm("ok?", assume_yes=False, stdin=io.StringIO("y\n")) is None
