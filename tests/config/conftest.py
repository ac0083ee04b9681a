"""Fixtures for config tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mimecast_siem.observability.logging import redactor

WriteConfig = Callable[..., Path]


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Each test starts and ends with an empty redactor (loading registers every secret it sees)."""
    redactor().clear()
    yield
    redactor().clear()


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write YAML text (or a tree dumped as YAML) to ``config.yaml`` and return its path."""

    def write(content: str | dict[str, Any], name: str = "config.yaml") -> Path:
        path = tmp_path / name
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write
