"""Root conftest: shared fixtures live in tests/fixtures/ and are loaded as plugins."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.postgres",
    "tests.fixtures.receivers",
]
