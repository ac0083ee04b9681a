"""Bad URLs, unreachable databases and misuse give clear errors that never show the password."""

from __future__ import annotations

import logging
import socket
import traceback
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mimecast_siem.checkpoints import StateStore, StateStoreError, StateStoreUnavailable
from mimecast_siem.errors import ConfigError, TransientError
from tests.fixtures.postgres import PostgresServer

PASSWORD = "Pa55-word-that-must-not-leak"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _everything_said(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


async def test_a_malformed_url_is_a_config_error_naming_state_url() -> None:
    with pytest.raises(ConfigError) as caught:
        await StateStore.open("not a url at all")
    (problem,) = caught.value.problems
    assert problem.key == "state.url"
    assert "sqlite:///" in problem.message


async def test_an_unsupported_database_is_a_config_error_with_the_password_masked() -> None:
    with pytest.raises(ConfigError) as caught:
        await StateStore.open(f"mysql://user:{PASSWORD}@db.example/state")
    (problem,) = caught.value.problems
    assert problem.key == "state.url"
    assert "allowed: sqlite, postgresql" in problem.message
    assert problem.value is not None
    assert "***" in problem.value
    assert PASSWORD not in _everything_said(caught.value) + problem.render()


async def test_an_unreachable_postgresql_is_transient_and_never_shows_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"postgresql://mimecast:{PASSWORD}@127.0.0.1:{_closed_port()}/state"
    with caplog.at_level(logging.DEBUG), pytest.raises(StateStoreUnavailable) as caught:
        await StateStore.open(url)
    assert isinstance(caught.value, TransientError)
    assert "is unavailable" in str(caught.value)
    assert "127.0.0.1" in str(caught.value)
    assert PASSWORD not in _everything_said(caught.value)
    assert PASSWORD not in caplog.text


async def test_a_wrong_password_is_reported_without_either_password(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = postgres_server.url().replace(postgres_server.password, PASSWORD)
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(StateStoreUnavailable, match="password authentication failed") as caught,
    ):
        await StateStore.open(url)
    said = _everything_said(caught.value) + caplog.text
    assert PASSWORD not in said
    assert postgres_server.password not in said


async def test_opening_logs_the_masked_url_only(postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    password = postgres_url.split(":")[2].split("@", maxsplit=1)[0]
    with caplog.at_level(logging.DEBUG):
        store = await StateStore.open(postgres_url)
        await store.close()
    assert "State store open at postgresql+psycopg://mimecast:***@" in caplog.text
    assert password not in caplog.text
    assert password not in store.display_url


async def test_a_sqlite_file_in_a_missing_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    store = await StateStore.open(f"sqlite:///{path}")
    await store.ping()
    await store.close()
    assert path.exists()


async def test_an_unwritable_sqlite_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError) as caught:
        await StateStore.open(f"sqlite:///{blocker}/sub/state.db")
    (problem,) = caught.value.problems
    assert problem.key == "state.url"
    assert "cannot create the directory" in problem.message
    assert problem.value == str(blocker / "sub")


async def test_a_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = await StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(StateStoreError, match="closed"):
        await store.get_checkpoint("acme", "ttp-url")


async def test_the_store_works_as_an_async_context_manager(tmp_path: Path) -> None:
    async with await StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        await store.commit_window("acme", "ttp-url", datetime(2026, 1, 1, tzinfo=UTC), owner=None)
    with pytest.raises(StateStoreError, match="closed"):
        await store.ping()


async def test_async_driver_names_are_replaced_by_the_sync_ones(tmp_path: Path) -> None:
    async with await StateStore.open(f"sqlite+aiosqlite:///{tmp_path / 'state.db'}") as store:
        await store.ping()
        assert store.display_url.startswith("sqlite+pysqlite:///")


async def test_in_memory_sqlite_works_for_quick_tools() -> None:
    async with await StateStore.open("sqlite://") as store:
        await store.commit_window("acme", "ttp-url", datetime(2026, 1, 1, tzinfo=UTC), owner=None)
        assert await store.get_checkpoint("acme", "ttp-url") == datetime(2026, 1, 1, tzinfo=UTC)


async def test_ping_fails_transiently_when_postgresql_goes_away(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    store = await StateStore.open(postgres_url)
    try:
        await store.ping()
        name = postgres_url.rsplit("/", 1)[1]
        postgres_server.drop_database(name)  # disconnects the store's session, like a server restart
        with pytest.raises(StateStoreUnavailable):
            await store.ping()
    finally:
        await store.close()
