"""Fixtures of the simulator tests: an HTTP session and a caller bound to the default simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from mimecast_siem.simulator import RunningSimulator
from tests.simulator.helpers import TIMEOUT, Caller, caller_for

#: A fixed instant for frozen-clock worlds (tests that need exact, repeatable times).
FROZEN = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
        yield s


@pytest.fixture
async def api(session: aiohttp.ClientSession, simulator: RunningSimulator) -> Caller:
    caller = caller_for(session, simulator)
    await caller.authenticate()
    return caller
