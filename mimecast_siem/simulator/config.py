"""Settings of the simulator: data rates, history, late arrivals, the held queue and faults.

Everything here is a plain dataclass so tests build configs in one line and the CLI maps flags onto
fields one to one. ``validate()`` raises :class:`ValueError` naming the field, the bad value and
what is allowed; :class:`SimulatorConfig` validates itself on construction.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

#: Log streams the simulator generates at a configurable rate (records per second).
RATED_STREAMS: tuple[str, ...] = (
    "ttp-url", "ttp-attachment", "ttp-impersonation", "audit",
    "dlp", "archive-search", "archive-view", "search", "rejections",
)  # fmt: skip

#: SIEM log types as ground-truth streams (``siem-<type>``, spaces as dashes; simulator/siem_records.py).
SIEM_GROUND_TRUTH_STREAMS: tuple[str, ...] = (
    "siem-receipt", "siem-process", "siem-delivery", "siem-av", "siem-spam", "siem-internal-email-protect",
    "siem-impersonation-protect", "siem-url-protect", "siem-attachment-protect", "siem-journal",
)  # fmt: skip

#: The two threat-intel feeds (``feedType`` malware_customer / malware_grid), keyed by stream name.
THREAT_FEEDS: dict[str, str] = {"threat-intel-customer": "malware_customer", "threat-intel-grid": "malware_grid"}

#: Every stream name ground truth can be asked for (``message-release`` is ``held-release``'s other name).
GROUND_TRUTH_STREAMS: tuple[str, ...] = (
    *RATED_STREAMS, "held-messages", "held-release", "message-release", *THREAT_FEEDS, *SIEM_GROUND_TRUTH_STREAMS,
)  # fmt: skip

EmailQueueShape = Literal["numbers", "samples", "alternate"]
EMAIL_QUEUE_SHAPES: tuple[str, ...] = ("numbers", "samples", "alternate")

QuotaShape = Literal["bucket", "window"]
QUOTA_SHAPES: tuple[str, ...] = ("bucket", "window")
QuotaHeaders = Literal["refused", "always"]
QUOTA_HEADERS: tuple[str, ...] = ("refused", "always")

ScriptedKind = Literal["status", "drop", "invalid_json", "truncated", "html", "delay"]
SCRIPTED_KINDS: tuple[str, ...] = ("status", "drop", "invalid_json", "truncated", "html", "delay")

#: HTTP statuses the random error fault may answer.
ERROR_STATUSES: tuple[int, ...] = (500, 502, 503)

#: Largest page the real API serves (mimecast-api.md section 2.3).
API_MAX_PAGE_SIZE = 500


#: How the batch listing reads its 7-day retention (``SimulatorConfig.siem_retention``).
SIEM_RETENTIONS = ("calendar", "rolling")


def _bad(key: str, value: object, allowed: str) -> ValueError:
    return ValueError(f"simulator setting {key}={value!r} is invalid; allowed: {allowed}")


def _check_fraction(key: str, value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
        raise _bad(key, value, "a number between 0 and 1")


def _check_non_negative(key: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise _bad(key, value, "a finite number >= 0")


@dataclass
class LateArrivals:
    """Records whose timestamp is already in the past when they first become visible.

    Attributes:
        fraction: Share of log records that arrive late (0 to 1).
        min_delay: Smallest delay between a late record's timestamp and its visibility, seconds.
        max_delay: Largest such delay, seconds.
    """

    fraction: float = 0.02
    min_delay: float = 30.0
    max_delay: float = 300.0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field."""
        _check_fraction("late.fraction", self.fraction)
        _check_non_negative("late.min_delay", self.min_delay)
        _check_non_negative("late.max_delay", self.max_delay)
        if self.max_delay < self.min_delay:
            raise _bad("late.max_delay", self.max_delay, f"a number >= late.min_delay ({self.min_delay})")


@dataclass
class HeldQueueSettings:
    """How messages enter and leave the held queue.

    Attributes:
        arrival_rate: Messages entering hold per second.
        min_hold: Shortest time a message stays held, seconds.
        max_hold: Longest time a message stays held, seconds (bounds the work per request).
        release_share: Share of holds that end released (the rest rejected or expired).
        reject_share: Share of holds that end rejected; ``1 - release - reject`` expire.
        own_share: Share of holds addressed to the API app's own mailbox: the subset returned by
            ``get-hold-message-list`` when ``admin`` is false (mimecast-api.md quirk 11).
    """

    arrival_rate: float = 0.05
    min_hold: float = 60.0
    max_hold: float = 1800.0
    release_share: float = 0.6
    reject_share: float = 0.25
    own_share: float = 0.05

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field."""
        _check_non_negative("holds.arrival_rate", self.arrival_rate)
        _check_non_negative("holds.min_hold", self.min_hold)
        if not (isinstance(self.max_hold, int | float) and 1 <= self.max_hold <= 90 * 86400):
            raise _bad("holds.max_hold", self.max_hold, "seconds between 1 and 7776000 (90 days)")
        if self.max_hold < self.min_hold:
            raise _bad("holds.max_hold", self.max_hold, f"a number >= holds.min_hold ({self.min_hold})")
        _check_fraction("holds.release_share", self.release_share)
        _check_fraction("holds.reject_share", self.reject_share)
        _check_fraction("holds.own_share", self.own_share)
        if self.release_share + self.reject_share > 1.0:
            raise _bad("holds.reject_share", self.reject_share, "release_share + reject_share <= 1")


@dataclass
class RequestQuota:
    """Per-client-id request budget: ``limit`` requests per ``period`` seconds, in one of two shapes.

    Mimecast "adds at least one request back per reset interval" and answers ``X-RateLimit-Reset``
    (milliseconds until then) with a 429 (mimecast-api.md section 3). Two quotas fit that text:

    * ``bucket``: a token bucket - one request comes back every ``period / limit`` seconds, and at
      most ``limit`` are saved up;
    * ``window``: a fixed window - all ``limit`` requests come back at once at the end of each
      ``period`` (``Reset`` then counts down to the window's end).

    Attributes:
        limit: requests per period (and the bucket's capacity).
        period: seconds.
        shape: ``bucket`` or ``window``.
        headers: ``refused`` sends the ``X-RateLimit-*`` headers only with a 429 (what Elastic saw of
            Mimecast); ``always`` sends them with every answer to an API request.
    """

    limit: int
    period: float = 60.0
    shape: QuotaShape = "bucket"
    headers: QuotaHeaders = "refused"

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field."""
        if not (isinstance(self.limit, int) and self.limit >= 1):
            raise _bad("faults.quota.limit", self.limit, "an integer >= 1")
        if not (isinstance(self.period, int | float) and self.period > 0):
            raise _bad("faults.quota.period", self.period, "a number of seconds > 0")
        if self.shape not in QUOTA_SHAPES:
            raise _bad("faults.quota.shape", self.shape, ", ".join(QUOTA_SHAPES))
        if self.headers not in QUOTA_HEADERS:
            raise _bad("faults.quota.headers", self.headers, ", ".join(QUOTA_HEADERS))


@dataclass
class ScriptedFault:
    """ "The next ``count`` requests to ``path`` answer ``status``" (or break in another way).

    Attributes:
        path: Request path (``/api/ttp/url/get-logs``, ``/oauth/token``) or ``*`` for any path.
        count: How many matching requests this applies to.
        status: HTTP status to answer when ``kind`` is ``status`` (e.g. 401, 429, 500, 503).
        kind: ``status``; ``drop`` (close the connection without a response); ``invalid_json``;
            ``truncated`` (body shorter than Content-Length); ``html`` (``text/html`` error page);
            ``delay`` (sleep ``delay`` seconds, then answer normally).
        delay: Seconds to sleep for ``kind="delay"``.
    """

    path: str
    count: int = 1
    status: int = 503
    kind: ScriptedKind = "status"
    delay: float = 0.0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field."""
        if not (self.path == "*" or (isinstance(self.path, str) and self.path.startswith("/"))):
            raise _bad("faults.script.path", self.path, "a path starting with '/' or '*'")
        if not (isinstance(self.count, int) and self.count >= 1):
            raise _bad("faults.script.count", self.count, "an integer >= 1")
        if self.kind not in SCRIPTED_KINDS:
            raise _bad("faults.script.kind", self.kind, ", ".join(SCRIPTED_KINDS))
        if not (isinstance(self.status, int) and 100 <= self.status <= 599):
            raise _bad("faults.script.status", self.status, "an HTTP status between 100 and 599")
        _check_non_negative("faults.script.delay", self.delay)


@dataclass
class FaultSettings:
    """Faults injected into ``/api/...`` requests. Random faults draw from a PRNG seeded by ``seed``.

    Attributes:
        quota: Request budget per client id; over it answers 429 with ``X-RateLimit-*`` headers.
        error_rates: HTTP status (500, 502, 503) -> probability per request.
        latency: Added delay per request, seconds.
        latency_jitter: Extra uniform random delay in ``[0, latency_jitter]`` seconds.
        invalid_json_rate: Probability of a 200 whose body is not valid JSON.
        truncated_rate: Probability of a body cut short of its Content-Length.
        html_rate: Probability of a 200 ``text/html`` page instead of JSON.
        drop_rate: Probability of closing the connection without any response.
        next_on_last_page: The final page carries ``next``; following it gives an empty page that
            again carries ``next`` (the Elastic mock quirk, mimecast-api.md quirk 6).
        repeat_page_token: ``next`` repeats the token the client sent (a pagination loop).
        force_401: The next N authenticated requests answer 401 and expire the presented token.
        script: Deterministic faults consumed in order of arrival.
        siem_expired_urls: The next N SIEM batch file URLs listed are already expired (403).
        siem_corrupt_files: The next N non-empty SIEM files downloaded carry a corrupt line (for good).
        siem_duplicate_lines: The next N non-empty SIEM files downloaded repeat one record line (for good).
        siem_stall_cursor: The SIEM stream answers an empty page with the cursor it was sent.
        seed: Seed of the PRNG behind the random faults; ``None`` derives it from the world seed.
    """

    quota: RequestQuota | None = None
    error_rates: dict[int, float] = field(default_factory=dict)
    latency: float = 0.0
    latency_jitter: float = 0.0
    invalid_json_rate: float = 0.0
    truncated_rate: float = 0.0
    html_rate: float = 0.0
    drop_rate: float = 0.0
    next_on_last_page: bool = False
    repeat_page_token: bool = False
    force_401: int = 0
    script: list[ScriptedFault] = field(default_factory=list)
    siem_expired_urls: int = 0
    siem_corrupt_files: int = 0
    siem_duplicate_lines: int = 0
    siem_stall_cursor: bool = False
    seed: int | None = None

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field."""
        if self.quota is not None:
            self.quota.validate()
        for status, rate in self.error_rates.items():
            if status not in ERROR_STATUSES:
                raise _bad("faults.error_rates", status, ", ".join(map(str, ERROR_STATUSES)))
            _check_fraction(f"faults.error_rates[{status}]", rate)
        if sum(self.error_rates.values()) > 1.0:
            raise _bad("faults.error_rates", self.error_rates, "rates summing to at most 1")
        _check_non_negative("faults.latency", self.latency)
        _check_non_negative("faults.latency_jitter", self.latency_jitter)
        for name in ("invalid_json_rate", "truncated_rate", "html_rate", "drop_rate"):
            _check_fraction(f"faults.{name}", getattr(self, name))
        if not (isinstance(self.force_401, int) and self.force_401 >= 0):
            raise _bad("faults.force_401", self.force_401, "an integer >= 0")
        for item in self.script:
            item.validate()
        for name in ("siem_expired_urls", "siem_corrupt_files", "siem_duplicate_lines"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
                raise _bad(f"faults.{name}", value, "an integer >= 0")

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the shape ``POST /_sim/faults`` accepts)."""
        out = asdict(self)
        out["error_rates"] = {str(k): v for k, v in self.error_rates.items()}
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FaultSettings:
        """Build from the JSON shape of ``POST /_sim/faults``; raise ``ValueError`` on bad input.

        Nested values may be given as dicts or as :class:`RequestQuota` / :class:`ScriptedFault`.
        """
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise _bad(f"faults.{unknown[0]}", raw[unknown[0]], "one of " + ", ".join(sorted(known)))
        values = dict(raw)
        try:
            if isinstance(values.get("quota"), dict):
                values["quota"] = RequestQuota(**values["quota"])
            if "error_rates" in values:
                values["error_rates"] = {int(k): float(v) for k, v in dict(values["error_rates"]).items()}
            if "script" in values:
                values["script"] = [
                    item if isinstance(item, ScriptedFault) else ScriptedFault(**item) for item in values["script"]
                ]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"simulator faults are malformed: {exc}") from None
        settings = cls(**values)
        settings.validate()
        return settings


def default_rates() -> dict[str, float]:
    """Records per second per log stream when a config names none."""
    return {
        "ttp-url": 2.0, "ttp-attachment": 0.5, "ttp-impersonation": 0.2, "audit": 0.1,
        "dlp": 0.2, "archive-search": 0.05, "archive-view": 0.05, "search": 0.05, "rejections": 0.5,
    }  # fmt: skip


@dataclass
class ThreatFeedSettings:
    """The threat-intel feeds (``/api/ttp/threat-intel/get-feed``): STIX 2.1 indicators over time.

    Attributes:
        rates: New indicators per second per feed stream (``threat-intel-customer``, ``threat-intel-grid``).
        update_share: Share of feed entries that are a new version (later ``modified``) of an
            indicator published earlier: same id, so a consumer must deduplicate by id and version.
        page_size: Objects per answer before the next-token header is set.
    """

    rates: dict[str, float] = field(default_factory=lambda: {"threat-intel-customer": 0.02, "threat-intel-grid": 0.1})
    update_share: float = 0.1
    page_size: int = 100

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field."""
        for stream, rate in self.rates.items():
            if stream not in THREAT_FEEDS:
                raise _bad("threat_feeds.rates", stream, ", ".join(THREAT_FEEDS))
            if not (isinstance(rate, int | float) and 0 <= rate <= 10_000):
                raise _bad(f"threat_feeds.rates[{stream}]", rate, "indicators per second between 0 and 10000")
        _check_fraction("threat_feeds.update_share", self.update_share)
        if not (isinstance(self.page_size, int) and 1 <= self.page_size <= 10_000):
            raise _bad("threat_feeds.page_size", self.page_size, "an integer between 1 and 10000")


def default_apps() -> list[tuple[str, str]]:
    """One app, ``client-1`` / ``secret-1``."""
    return [("client-1", "secret-1")]


@dataclass
class SimulatorConfig:
    """Everything the simulator needs to build its world.

    Attributes:
        host: Interface to bind; loopback by default (the control API has no auth).
        port: TCP port; 0 picks a free one.
        seed: Root of every generated value; the same seed gives the same records.
        apps: ``(client_id, client_secret)`` pairs; each app is its own tenant with its own data.
        token_lifetime: Access-token lifetime in seconds (``expires_in``).
        rates: Records per second per log stream (``ttp-url``, ``ttp-attachment``,
            ``ttp-impersonation``, ``audit``, ``dlp``, ``archive-search``, ``archive-view``,
            ``search``, ``rejections``); missing streams generate nothing.
        history: How far back data exists, seconds before start (bounded to 90 days).
        late: Late-arrival settings for the log streams.
        holds: Held-queue settings.
        threat_feeds: Threat-intel feed settings.
        email_queue_shape: ``numbers`` (documented), ``samples`` (``[{date, count}]``, as XSOAR reads
            it) or ``alternate`` (switches on every request).
        default_page_size: Page size when a request gives none.
        max_page_size: Largest accepted ``pageSize``; larger answers 200 with ``fail[]``.
        faults: Faults active from the start.
        frozen_at: Freeze the simulator clock at this UTC instant (moved only by
            ``clock.advance``/``POST /_sim/clock``); ``None`` follows the wall clock.
        cache_records: Upper bound of generated records kept in memory.
        siem_rate: Messages per second passing the gateway (each gives SIEM records of several types).
        siem_file_interval: Seconds of SIEM records per batch file (a file per type per slot).
        siem_file_delay: Seconds after its slot ends that a batch file appears.
        siem_url_ttl: Seconds a listed batch file URL stays valid.
        siem_download_delay: A pause in the middle of every batch file download, seconds (0 = none).
        siem_retention: How the batch listing applies its 7-day retention to ``dateRangeStartsAt``:
            ``calendar`` accepts the day 7 days back (whole days), ``rolling`` refuses a day that
            began more than 7 x 24 h ago (the stricter reading: the 7 days counted from now).
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 1
    apps: list[tuple[str, str]] = field(default_factory=default_apps)
    token_lifetime: float = 1800.0
    rates: dict[str, float] = field(default_factory=default_rates)
    history: float = 7200.0
    late: LateArrivals = field(default_factory=LateArrivals)
    holds: HeldQueueSettings = field(default_factory=HeldQueueSettings)
    threat_feeds: ThreatFeedSettings = field(default_factory=ThreatFeedSettings)
    email_queue_shape: EmailQueueShape = "numbers"
    default_page_size: int = 100
    max_page_size: int = API_MAX_PAGE_SIZE
    faults: FaultSettings = field(default_factory=FaultSettings)
    frozen_at: datetime | None = None
    cache_records: int = 100_000
    siem_rate: float = 0.5
    siem_file_interval: float = 900.0
    siem_file_delay: float = 60.0
    siem_url_ttl: float = 300.0
    siem_download_delay: float = 0.0
    siem_retention: str = "calendar"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field, its value and what is allowed."""
        if not (isinstance(self.port, int) and 0 <= self.port <= 65535):
            raise _bad("port", self.port, "an integer between 0 and 65535")
        if not self.apps:
            raise _bad("apps", self.apps, "at least one (client_id, client_secret) pair")
        seen: set[str] = set()
        for app in self.apps:
            if len(app) != 2 or not all(isinstance(x, str) and x for x in app):
                raise _bad("apps", app, "(client_id, client_secret) non-empty strings")
            if app[0] in seen:
                raise _bad("apps", app[0], "unique client ids")
            seen.add(app[0])
        if not (isinstance(self.token_lifetime, int | float) and self.token_lifetime > 0):
            raise _bad("token_lifetime", self.token_lifetime, "seconds > 0")
        for stream, rate in self.rates.items():
            if stream not in RATED_STREAMS:
                raise _bad("rates", stream, ", ".join(RATED_STREAMS))
            if not (isinstance(rate, int | float) and 0 <= rate <= 100_000):
                raise _bad(f"rates[{stream}]", rate, "records per second between 0 and 100000")
        if not (isinstance(self.history, int | float) and 0 <= self.history <= 90 * 86400):
            raise _bad("history", self.history, "seconds between 0 and 7776000 (90 days)")
        self.late.validate()
        self.holds.validate()
        self.threat_feeds.validate()
        if self.email_queue_shape not in EMAIL_QUEUE_SHAPES:
            raise _bad("email_queue_shape", self.email_queue_shape, ", ".join(EMAIL_QUEUE_SHAPES))
        if not (isinstance(self.max_page_size, int) and 1 <= self.max_page_size <= API_MAX_PAGE_SIZE):
            raise _bad(
                "max_page_size", self.max_page_size, f"an integer between 1 and {API_MAX_PAGE_SIZE} (the API's limit)"
            )
        if not (isinstance(self.default_page_size, int) and 1 <= self.default_page_size <= self.max_page_size):
            raise _bad("default_page_size", self.default_page_size, f"an integer between 1 and {self.max_page_size}")
        self.faults.validate()
        if self.frozen_at is not None and self.frozen_at.utcoffset() is None:
            raise _bad("frozen_at", self.frozen_at, "a timezone-aware datetime")
        if not (isinstance(self.siem_rate, int | float) and 0 <= self.siem_rate <= 10_000):
            raise _bad("siem_rate", self.siem_rate, "messages per second between 0 and 10000")
        if not (
            isinstance(self.siem_file_interval, int | float)
            and 60 <= self.siem_file_interval <= 86400
            and 86400 % int(self.siem_file_interval) == 0
            and self.siem_file_interval == int(self.siem_file_interval)
        ):
            raise _bad("siem_file_interval", self.siem_file_interval, "whole seconds 60-86400 dividing a day")
        _check_non_negative("siem_file_delay", self.siem_file_delay)
        _check_non_negative("siem_download_delay", self.siem_download_delay)
        if self.siem_retention not in SIEM_RETENTIONS:
            raise _bad("siem_retention", self.siem_retention, " or ".join(SIEM_RETENTIONS))
        if not (isinstance(self.siem_url_ttl, int | float) and self.siem_url_ttl > 0):
            raise _bad("siem_url_ttl", self.siem_url_ttl, "seconds > 0")
        if not (isinstance(self.cache_records, int) and self.cache_records >= 1000):
            raise _bad("cache_records", self.cache_records, "an integer >= 1000")
