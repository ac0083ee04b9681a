"""Request statistics of the simulator: what was asked, answered and served, per client id."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SimulatorStats:
    """Counters since start or the last reset.

    Attributes:
        requests: (path, status, client id or ``-``) -> count.
        rate_limited: client id -> number of 429 answers.
        tokens_issued: client id -> access tokens issued.
        records_served: (stream, client id) -> records sent in successful answers.
        faults: fault kind -> times injected.
    """

    requests: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    rate_limited: Counter[str] = field(default_factory=Counter)
    tokens_issued: Counter[str] = field(default_factory=Counter)
    records_served: Counter[tuple[str, str]] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    def count(self, path: str | None = None, status: int | None = None, client_id: str | None = None) -> int:
        """Requests matching every given criterion."""
        return sum(
            n
            for (p, s, c), n in self.requests.items()
            if (path is None or p == path) and (status is None or s == status) and (client_id is None or c == client_id)
        )

    def served(self, stream: str | None = None, client_id: str | None = None) -> int:
        """Records served, optionally for one stream and/or client id."""
        return sum(
            n
            for (s, c), n in self.records_served.items()
            if (stream is None or s == stream) and (client_id is None or c == client_id)
        )

    def copy(self) -> SimulatorStats:
        """An independent snapshot."""
        return SimulatorStats(
            Counter(self.requests),
            Counter(self.rate_limited),
            Counter(self.tokens_issued),
            Counter(self.records_served),
            Counter(self.faults),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON form served by ``GET /_sim/stats``."""
        return {
            "requests_total": sum(self.requests.values()),
            "requests": [
                {"endpoint": p, "status": s, "client_id": c, "count": n}
                for (p, s, c), n in sorted(self.requests.items())
            ],
            "rate_limited": dict(self.rate_limited),
            "rate_limited_total": sum(self.rate_limited.values()),
            "tokens_issued": dict(self.tokens_issued),
            "records_served": [
                {"stream": s, "client_id": c, "count": n} for (s, c), n in sorted(self.records_served.items())
            ],
            "records_served_total": sum(self.records_served.values()),
            "faults": dict(self.faults),
        }
