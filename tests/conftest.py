"""Root conftest: shared fixtures live in tests/fixtures/ and are loaded as plugins.

It also applies the test-lane markers (pyproject.toml declares them; ``--strict-markers`` is on):

* ``e2e`` - every test under ``tests/e2e/`` (whole processes, real receivers);
* ``external`` - every test that needs a binary outside the virtualenv: rsyslog or syslog-ng
  (the receiver fixtures) or helm (``tests/helm/``);
* ``postgres`` - added by ``tests/fixtures/postgres.py`` to every test using the server;
* ``slow`` - set in the test modules themselves (``pytestmark``) for tests over ~10 s.

``bash scripts/test.sh --fast`` runs what carries none of these: the unit and contract tests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from mimecast_siem.config import use_sink_types
from mimecast_siem.observability.logging import reset_logging
from mimecast_siem.sinks import SINK_TYPES

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.postgres",
    "tests.fixtures.receivers",
]


def pytest_configure(config: pytest.Config) -> None:
    """Wire config to the sink types as the CLI does (tests call config functions in-process)."""
    use_sink_types(SINK_TYPES)


#: Fixtures that start a binary from outside the virtualenv.
_EXTERNAL_FIXTURES = frozenset({"rsyslog_receiver", "syslog_ng_receiver", "syslog_receiver", "helm"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by where they live and what they need (see the module docstring)."""
    for item in items:
        parts = item.path.parts
        if "e2e" in parts:
            item.add_marker(pytest.mark.e2e)
        if "helm" in parts or _EXTERNAL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.external)


@pytest.fixture(autouse=True)
def _independent_logging() -> Iterator[None]:
    """A command run in-process installs our log handler and root level; undo both after each test."""
    root = logging.getLogger()
    level = root.level
    yield
    reset_logging()
    root.setLevel(level)
