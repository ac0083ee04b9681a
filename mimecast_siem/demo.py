"""``mimecast-siem demo`` (placeholder until the collector work lands)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add the ``demo`` sub-command."""
