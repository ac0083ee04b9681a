"""CLI commands of the collector room (placeholder until the room registers its commands)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this room's sub-commands to ``sub``."""
