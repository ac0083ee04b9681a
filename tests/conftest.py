"""Root conftest: shared fixtures live in tests/fixtures/ and are loaded as plugins."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from mimecast_siem.observability.logging import reset_logging

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.postgres",
    "tests.fixtures.receivers",
]


@pytest.fixture(autouse=True)
def _independent_logging() -> Iterator[None]:
    """A command run in-process installs our log handler and root level; undo both after each test."""
    root = logging.getLogger()
    level = root.level
    yield
    reset_logging()
    root.setLevel(level)
