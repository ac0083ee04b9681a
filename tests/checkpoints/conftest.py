"""Fixtures of the state-store tests: every store test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mimecast_siem.checkpoints import StateStore

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty state database: a SQLite file, or a fresh database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(state_url: str) -> AsyncIterator[StateStore]:
    """An opened (migrated) store on ``state_url``, closed after the test."""
    opened = await StateStore.open(state_url)
    try:
        yield opened
    finally:
        await opened.close()


#: Where the manual clock starts.
CLOCK_START = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


class ManualClock:
    """A clock the test moves by hand (``StateStore.open(url, clock=...)``)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at :data:`CLOCK_START`."""
    return ManualClock(CLOCK_START)


@pytest.fixture
async def clocked(state_url: str, clock: ManualClock) -> AsyncIterator[StateStore]:
    """A store on ``state_url`` whose "now" is ``clock`` instead of the database clock."""
    opened = await StateStore.open(state_url, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()
