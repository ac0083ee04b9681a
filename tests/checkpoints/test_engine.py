"""The SQLite engine's connection set-up: switching to WAL waits for the lock (pure logic, a scripted cursor)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.checkpoints import engine as engine_module
from mimecast_siem.checkpoints.engine import _use_wal


class ScriptedCursor:
    """Answers PRAGMA journal_mode from a script: an exception is raised, a string is the mode."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.statements: list[str] = []

    def execute(self, statement: str) -> ScriptedCursor:
        self.statements.append(statement)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        self._row = (answer,)
        return self

    def fetchone(self) -> tuple[Any]:
        return self._row


def test_a_locked_switch_is_tried_again_until_it_succeeds() -> None:
    # What several processes opening a new state file together met: "database is locked" at once,
    # without SQLite's busy handler (about one open in twenty failed before).
    locked = sqlite3.OperationalError("database is locked")
    cursor = ScriptedCursor(["delete", locked, "delete", locked, "delete", "wal"])
    _use_wal(cursor)
    assert cursor.statements.count("PRAGMA journal_mode=WAL") == 3


def test_a_database_already_in_wal_is_not_switched_again() -> None:
    cursor = ScriptedCursor(["wal"])
    _use_wal(cursor)
    assert cursor.statements == ["PRAGMA journal_mode"]


def test_other_errors_and_a_lock_past_the_busy_timeout_are_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        _use_wal(ScriptedCursor([sqlite3.OperationalError("disk I/O error")]))
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_S", 0.0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _use_wal(ScriptedCursor([sqlite3.OperationalError("database is locked")]))


def test_a_real_file_ends_in_wal(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    try:
        _use_wal(connection.cursor())
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        connection.close()
