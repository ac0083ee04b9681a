"""The simulated world: the clock, the tenants (one per API app) and their data, tokens, faults, stats.

Endpoints receive the :class:`World`; an :class:`Account` holds one tenant's log streams, its held
queue and free-form extension state for stateful endpoints (groups, policies, managed URLs ...).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from mimecast_siem.simulator.auth import TokenStore
from mimecast_siem.simulator.clock import Clock
from mimecast_siem.simulator.config import (
    GROUND_TRUTH_STREAMS,
    RATED_STREAMS,
    SIEM_GROUND_TRUTH_STREAMS,
    THREAT_FEEDS,
    SimulatorConfig,
)
from mimecast_siem.simulator.faults import FaultState
from mimecast_siem.simulator.holds import HoldQueue
from mimecast_siem.simulator.log_records import ALL_BUILDERS
from mimecast_siem.simulator.logstore import BUCKET_SECONDS, BucketCache, LogStream, collect
from mimecast_siem.simulator.pagetoken import PageTokenCodec
from mimecast_siem.simulator.records import AccountProfile
from mimecast_siem.simulator.stats import SimulatorStats
from mimecast_siem.simulator.threat_feed_store import ThreatFeed

T = TypeVar("T")


class Account:
    """One tenant: the data an API app sees.

    Attributes:
        client_id: The app's client id.
        profile: Its people and domains.
        streams: Rated log streams by name.
        holds: Its held-message queue.
        feeds: Its threat-intel feeds by stream name (``threat-intel-customer``, ``threat-intel-grid``).
    """

    def __init__(
        self,
        client_id: str,
        profile: AccountProfile,
        streams: dict[str, LogStream],
        holds: HoldQueue,
        feeds: dict[str, ThreatFeed] | None = None,
    ) -> None:
        self.client_id = client_id
        self.profile = profile
        self.streams = streams
        self.holds = holds
        self.feeds = feeds or {}
        self._extensions: dict[str, Any] = {}

    def extension(self, name: str, factory: Callable[[], T]) -> T:
        """Per-tenant state owned by an endpoint module, created by ``factory`` on first use.

        Example: ``groups = request.account.extension("groups", dict)``.
        """
        if name not in self._extensions:
            self._extensions[name] = factory()
        value: T = self._extensions[name]
        return value


class World:
    """Everything the simulator knows.

    Args:
        config: Simulator settings (validated).
    """

    def __init__(self, config: SimulatorConfig) -> None:
        config.validate()
        self.config = config
        self.clock = Clock(config.frozen_at)
        self.seed = config.seed
        start = self.clock.time()
        #: Oldest possible record, on a bucket boundary so the same seed gives the same buckets.
        self.origin = int(start - config.history) // BUCKET_SECONDS * BUCKET_SECONDS
        self.started_at = start
        self.cache = BucketCache(config.cache_records)
        self.tokens = TokenStore(dict(config.apps), config.token_lifetime, self.clock)
        self.faults = FaultState(config.faults, config.seed)
        self.stats = SimulatorStats()
        self.page_tokens = PageTokenCodec(hashlib.sha256(f"page-tokens|{config.seed}".encode()).digest())
        #: Requests to ``get-email-queues`` so far (drives the ``alternate`` shape).
        self.email_queue_calls = 0
        self.accounts: dict[str, Account] = {}
        for client_id, _secret in config.apps:
            profile = AccountProfile.build(config.seed, client_id)
            streams = {
                name: LogStream(
                    name,
                    ALL_BUILDERS[name],
                    rate=float(config.rates.get(name, 0.0)),
                    seed=config.seed,
                    profile=profile,
                    origin=self.origin,
                    late=config.late,
                    cache=self.cache,
                )
                for name in RATED_STREAMS
            }
            holds = HoldQueue(
                config.holds, seed=config.seed, profile=profile, origin=self.origin, clock=self.clock, cache=self.cache
            )
            feed_settings = config.threat_feeds
            feeds = {
                name: ThreatFeed(
                    name,
                    rate=float(feed_settings.rates.get(name, 0.0)),
                    update_share=feed_settings.update_share,
                    seed=config.seed,
                    profile=profile,
                    origin=self.origin,
                    cache=self.cache,
                )
                for name in THREAT_FEEDS
            }
            self.accounts[client_id] = Account(client_id, profile, streams, holds, feeds)

    def account(self, client_id: str | None = None) -> Account:
        """The tenant of ``client_id`` (the first app when ``None``).

        Raises:
            ValueError: Unknown client id.
        """
        if client_id is None:
            return next(iter(self.accounts.values()))
        try:
            return self.accounts[client_id]
        except KeyError:
            raise ValueError(f"client_id={client_id!r} is unknown; allowed: {', '.join(self.accounts)}") from None

    def ground_truth(
        self,
        stream: str,
        start: float,
        end: float,
        *,
        client_id: str | None = None,
        include_future_visible: bool = False,
    ) -> list[dict[str, Any]]:
        """Every record of ``stream`` with a timestamp in ``[start, end)``, oldest first.

        Exactly what the API serves now for that range (``include_future_visible`` adds records
        that will become visible later: late arrivals, scheduled release-log entries). For
        ``held-messages`` the timestamp is ``dateReceived`` and the records are every message that
        entered hold in the range (whether or not still held); for ``held-release`` (also named
        ``message-release``) it is the time the message left hold; for the threat-intel feeds it is
        the indicator version's ``modified`` time.

        Raises:
            ValueError: Unknown stream or client id.
        """
        account = self.account(client_id)
        lo, hi = int(-(-start // 1)), int(-(-end // 1))  # ceil: timestamps are whole seconds
        visible_by = None if include_future_visible else self.clock.time()
        # Nothing exists before the origin, and nothing is visible before its own timestamp: clamping
        # keeps an over-wide request (from=0) from walking millions of empty minutes.
        lo = max(lo, self.origin)
        if visible_by is not None:
            hi = min(hi, int(visible_by) + 1)
        if stream in account.streams:
            return collect(account.streams[stream].bucket, lo, hi, visible_by)
        if stream in account.feeds:
            return collect(account.feeds[stream].bucket, lo, hi, visible_by)
        if stream in ("held-release", "message-release"):
            return collect(account.holds.release_log, lo, hi, visible_by)
        if stream == "held-messages":
            return collect(account.holds.entries, lo, hi, visible_by)
        if stream in SIEM_GROUND_TRUTH_STREAMS:
            from mimecast_siem.simulator.siem import siem_ground_truth

            return siem_ground_truth(
                self, stream, start, end, client_id=client_id, include_future_visible=include_future_visible
            )
        raise ValueError(f"stream={stream!r} is unknown; allowed: {', '.join(GROUND_TRUTH_STREAMS)}")
