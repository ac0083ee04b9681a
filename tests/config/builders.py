"""Small builders for config tests: valid trees, and views of a raised ConfigError."""

from __future__ import annotations

from typing import Any

import pytest

from mimecast_siem.errors import ConfigError, ConfigProblem

#: Distinctive secrets: long enough to be registered, never found in ordinary text.
ACME_SECRET = "acme-client-secret-7f3c9a1e5b"
GLOBEX_SECRET = "globex-client-secret-2d8e4b6a0c"


def tenant(name: str = "acme", **overrides: Any) -> dict[str, Any]:
    """A valid tenant block."""
    block: dict[str, Any] = {"name": name, "client_id": f"{name}-client-id", "client_secret": ACME_SECRET}
    block.update(overrides)
    return block


def settings_tree(**overrides: Any) -> dict[str, Any]:
    """A valid settings tree with one tenant."""
    tree: dict[str, Any] = {"tenants": [tenant()]}
    tree.update(overrides)
    return tree


def problems_of(exc: pytest.ExceptionInfo[ConfigError]) -> dict[str, ConfigProblem]:
    """The problems of a raised ConfigError keyed by key (each key must appear once)."""
    found: dict[str, ConfigProblem] = {}
    for problem in exc.value.problems:
        assert problem.key not in found, f"key reported twice: {problem.key}"
        found[problem.key] = problem
    return found


def all_text(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    """Every piece of text the error carries: str(error) and each problem's fields."""
    parts = [str(exc.value)]
    for p in exc.value.problems:
        parts += [p.key, p.message, p.value or "", p.source or "", p.render()]
    return "\n".join(parts)
