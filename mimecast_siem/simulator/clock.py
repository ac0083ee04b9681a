"""The simulator's clock: wall time plus an offset, optionally frozen.

Tests move it forward instead of sleeping (token expiry, late arrivals, held messages leaving), and
the whole world reads time only from here.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """UTC clock in epoch seconds that tests can advance or freeze.

    Args:
        frozen_at: Start frozen at this instant; ``None`` follows the wall clock.
    """

    def __init__(self, frozen_at: datetime | None = None) -> None:
        self._offset = 0.0
        self._frozen: float | None = frozen_at.timestamp() if frozen_at is not None else None

    def time(self) -> float:
        """Current simulated time, epoch seconds."""
        if self._frozen is not None:
            return self._frozen
        return time.time() + self._offset

    def now(self) -> datetime:
        """Current simulated time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), UTC)

    @property
    def frozen(self) -> bool:
        """Whether the clock only moves when advanced."""
        return self._frozen is not None

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (never backward); return the new time."""
        if seconds < 0:
            raise ValueError(f"clock advance seconds={seconds!r} is invalid; allowed: a number >= 0")
        if self._frozen is not None:
            self._frozen += seconds
        else:
            self._offset += seconds
        return self.time()

    def freeze(self) -> float:
        """Stop the clock at the current simulated time; return it."""
        self._frozen = self.time()
        return self._frozen

    def unfreeze(self) -> float:
        """Let the clock run again from where it stands (keeps the accumulated offset)."""
        if self._frozen is not None:
            self._offset = self._frozen - time.time()
            self._frozen = None
        return self.time()
