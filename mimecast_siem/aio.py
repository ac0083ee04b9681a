"""asyncio helpers shared by every layer.

:func:`wait_for` replaces :func:`asyncio.wait_for`, which on Python 3.11 swallows a cancellation that
arrives in the same loop turn as the awaited operation completes: the cancelled task carries on as if
nothing happened. A drainer or poller cancelled by ``close()`` at that moment then runs forever and the
``await task`` of the shutdown hangs (a CI run hung 300 s on exactly that). ``asyncio.timeout`` counts
cancellations (``Task.uncancel``) and never loses one. ``asyncio.wait_for`` is banned in the package by
ruff (``[tool.ruff.lint.flake8-tidy-imports.banned-api]`` in pyproject.toml).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_for(awaitable: Awaitable[T], seconds: float | None) -> T:
    """Await ``awaitable`` for at most ``seconds`` (None: no limit).

    Raises:
        TimeoutError: the time ran out; the awaited operation was cancelled.
        asyncio.CancelledError: the calling task was cancelled, even if the operation had just finished.
    """
    async with asyncio.timeout(seconds):
        return await awaitable
