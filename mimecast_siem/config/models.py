"""Settings models (pydantic v2). Every field carries a description; docs/config.md is generated from them.

The loader (``loader.py``) reads one YAML file, applies environment overrides and secret files, and
validates into :class:`Settings`, reporting every problem at once.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from mimecast_siem.errors import did_you_mean
from mimecast_siem.net import is_loopback
from mimecast_siem.streams import CATALOGUE, SIEM_TYPES, siem_stream_name
from mimecast_siem.streams import STREAM_NAMES as _STREAM_NAMES
from mimecast_siem.times import DURATION_PATTERN, format_duration, parse_duration, parse_time_or_age

# --- Names shared across the package -------------------------------------------------------------

#: Every stream the collector knows, and those enabled when a tenant does not list its streams:
#: both read from the stream registry (``mimecast_siem/streams/``).
STREAM_NAMES: tuple[str, ...] = _STREAM_NAMES
DEFAULT_STREAMS: tuple[str, ...] = tuple(spec.name for spec in CATALOGUE.values() if spec.enabled_by_default)

#: Region aliases accepted for ``tenants[].base_url`` (mimecast-api.md section 1.4).
REGION_URLS: dict[str, str] = {
    "global": "https://api.services.mimecast.com",
    "us": "https://us-api.services.mimecast.com",
    "uk": "https://uk-api.services.mimecast.com",
}

#: Hosts that are API 1.0 only and reject bearer tokens (mimecast-api.md section 1.4 / quirk 15).
LEGACY_API1_HOST = re.compile(r"^[a-z]{2,3}-api\.mimecast\.com$|^api\.mimecast\.com$")

FORMATS = ("json", "raw", "cef", "leef", "ocsf")
SCOPES = ("read", "write", "admin")

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "number", "minimum": 0},
            ],
            "description": "A duration: 30s, 5m, 1h, 2d, 500ms, seconds as a number, or ISO-8601 (PT5M).",
        }
    ),
]


def parse_start_from(value: Any) -> datetime | timedelta:
    """``start_from`` is either an absolute ISO-8601 time (UTC if no offset) or a duration back from now."""
    return parse_time_or_age(value)


StartFrom = Annotated[
    datetime | timedelta,
    BeforeValidator(parse_start_from),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "number", "minimum": 0},
                {"type": "string", "format": "date-time"},
            ],
            "description": "A duration back from now (1h, 7d) or an ISO-8601 time (2026-11-01T00:00:00Z).",
        }
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=False)


# --- Tenants -------------------------------------------------------------------------------------


class RateLimitSettings(_Model):
    """Client-side pacing for one Mimecast app (client id). Shared by every stream, backfill and action."""

    max_requests_per_second: float | None = Field(
        default=None, gt=0, description="Upper bound on request rate; unset = only react to 429s."
    )
    max_concurrency: int = Field(default=4, ge=1, le=64, description="Requests in flight at once for this client id.")


class StreamSettings(_Model):
    """How one stream is polled. Top-level ``streams.<name>`` sets defaults; tenants may override."""

    enabled: bool = Field(default=True, description="Poll this stream.")
    poll_interval: Duration = Field(default=timedelta(seconds=60), description="Time between polls once caught up.")
    lag: Duration = Field(
        default=timedelta(seconds=60),
        description="Window end = now - lag. Gives Mimecast time to make records visible.",
    )
    overlap: Duration = Field(
        default=timedelta(minutes=5),
        description="Re-read this much before the checkpoint to catch late-arriving records (deduplicated). The "
        "late-arrival bound is lag + overlap: a record visible within it of its own time is delivered.",
    )
    max_window: Duration = Field(
        default=timedelta(hours=1), description="Longest window fetched in one walk; longer gaps are split."
    )
    page_size: int = Field(default=500, ge=1, le=500, description="Records per page (Mimecast max 500).")
    concurrency: int = Field(default=2, ge=1, le=16, description="Windows fetched at once while catching up.")
    late_audit_every: Duration | None = Field(
        default=timedelta(minutes=10),
        description="Late-arrival audit: this often, re-read the slice of event time whose late-arrival bound "
        "(lag + overlap) passed this long ago, deliver records that appeared after the bound and report them "
        "(mimecast_siem_late_arrivals_total{bound=after}, a warning). null = off (such records are then lost "
        "silently).",
    )
    redelivery_pages: int | None = Field(
        default=2,
        ge=1,
        le=1000,
        description="Bound of what a crash re-delivers: commit progress inside a window every this many pages "
        "(oldest-first streams; others get windows sized to this many expected pages), and deliver only the window "
        "at the checkpoint (later windows of a catch-up wait fetched). null = commit whole windows only.",
    )
    start_from: StartFrom = Field(
        default=timedelta(hours=1),
        description="Where the first run starts: a duration back from now or an absolute time.",
    )
    filters: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra request filters merged into data[0] (e.g. scanResult: malicious).",
    )


class SiemSettings(_Model):
    """SIEM (MTA) logs of one tenant: how they are collected and which types (docs/siem.md)."""

    mode: Literal["batch", "stream"] = Field(
        default="batch",
        description="batch: the gzip NDJSON files (7 days kept); stream: the event stream (last 24 h only).",
    )
    api: Literal["cg", "ci"] = Field(
        default="cg", description="Batch endpoint: cg (Cloud Gateway) or ci (Cloud Integrated)."
    )
    types: list[str] | None = Field(
        default=None, description="SIEM types to collect (receipt, process, delivery, ...); unset = all ten."
    )

    @field_validator("types")
    @classmethod
    def _known_types(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        for name in v:
            if name not in SIEM_TYPES:
                raise ValueError(
                    f"unknown SIEM type {name!r}{did_you_mean(name, SIEM_TYPES)} (allowed: {', '.join(SIEM_TYPES)})"
                )
        return v

    def streams(self) -> list[str]:
        """The ``siem-<type>`` streams these settings enable."""
        return [siem_stream_name(t) for t in (self.types if self.types is not None else SIEM_TYPES)]


class TenantSettings(_Model):
    """One Mimecast account (an MSSP's customer) with its own API 2.0 app credentials."""

    @model_validator(mode="before")
    @classmethod
    def _deprecated_tls_names(cls, data: Any) -> Any:
        return renamed_tls_keys(data, TENANT_TLS_RENAMES, f"tenants.{_name_of(data)}")

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Short id used in metrics, state and logs (lowercase letters, digits, - and _).",
    )
    base_url: str = Field(
        default=REGION_URLS["global"],
        description="API 2.0 base URL, or one of the aliases global, us, uk. Must be https "
        "(plain http only to a loopback address, for the built-in simulator).",
    )
    client_id: str = Field(min_length=1, description="API 2.0 application client id.")
    client_secret: SecretStr = Field(
        min_length=1,
        description="API 2.0 application client secret. Give it via environment or client_secret_file.",
    )
    timeout: float = Field(default=15, ge=15, le=120, description="Request timeout in seconds (15-120).")
    verify_tls: bool = Field(
        default=True, description="Verify the server certificate. Turning this off is logged as a warning."
    )
    ca_file: Path | None = Field(
        default=None, description="CA bundle (PEM) to verify the API host (formerly ca_bundle, still accepted)."
    )
    proxy: str | None = Field(default=None, description="HTTP(S) proxy URL for this tenant.")
    enabled: bool = Field(default=True, description="Poll this tenant and accept actions for it.")
    streams: dict[str, dict[str, Any]] | None = Field(
        default=None,
        description="Streams to poll, as a list of names or a map of name to overrides of "
        "streams.<name>. Unset = the default streams.",
    )
    rate_limit: RateLimitSettings = Field(
        default_factory=RateLimitSettings,
        description="Client-side pacing shared by everything using this tenant's client id.",
    )
    siem: SiemSettings | None = Field(
        default=None,
        description="SIEM (MTA) logs: mode (batch/stream), api (cg/ci) and types. Setting it polls the "
        "siem-<type> streams of the chosen types (all by default) besides the streams listed.",
    )

    @field_validator("streams", mode="before")
    @classmethod
    def _streams_list(cls, v: Any) -> Any:
        if isinstance(v, list):
            return {name: {} for name in v}
        if isinstance(v, dict):
            return {k: ({} if val is None else val) for k, val in v.items()}
        return v

    @field_validator("streams")
    @classmethod
    def _known_streams(cls, v: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
        if v is None:
            return v
        unknown = [k for k in v if k not in STREAM_NAMES]
        if unknown:
            raise ValueError(
                f"unknown stream {unknown[0]!r}{did_you_mean(unknown[0], STREAM_NAMES)} "
                f"(allowed: {', '.join(STREAM_NAMES)})"
            )
        return v

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        alias = REGION_URLS.get(v.strip().lower())
        if alias:
            return alias
        url = v.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("expected an https URL or one of: global, us, uk")
        if parts.query or parts.fragment:
            raise ValueError("base URL must not carry a query string or fragment")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError("plain http is only allowed to a loopback address (the simulator); use https")
        if LEGACY_API1_HOST.match(parts.hostname):
            raise ValueError(
                f"{parts.hostname} is an API 1.0 host that rejects API 2.0 tokens; "
                "use global, us, uk or https://<region>-api.services.mimecast.com"
            )
        return url

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError("expected an http:// or https:// proxy URL")
        return v


# --- One TLS naming scheme --------------------------------------------------------------------------

#: The TLS keys of tenants and of every sink: ``verify_tls``, ``ca_file``, ``client_cert_file`` and
#: ``client_key_file`` (plus ``tls_server_name``/``tls_min_version`` for syslog). Older names are
#: accepted with a deprecation warning.
TENANT_TLS_RENAMES = {"ca_bundle": "ca_file"}
#: The syslog sink's keys, and the name each had in its old ``tls:`` block.
SYSLOG_TLS_KEYS = {
    "verify_tls": "verify",
    "ca_file": "ca_file",
    "client_cert_file": "cert_file",
    "client_key_file": "key_file",
    "tls_server_name": "server_name",
    "tls_min_version": "min_version",
}

_log = logging.getLogger("mimecast_siem.config")


def deprecated_key(old: str, new: str) -> None:
    """Warn once per process that ``old`` is a deprecated spelling of ``new``."""
    if (old, new) in _warned:
        return
    _warned.add((old, new))
    _log.warning("%s is deprecated; use %s (same meaning). The old name still works for now.", old, new)


_warned: set[tuple[str, str]] = set()


def renamed_tls_keys(data: Any, renames: dict[str, str], where: str) -> Any:
    """``data`` with deprecated keys moved to their current names (both given: ``ValueError``)."""
    if not isinstance(data, dict) or not any(old in data for old in renames):
        return data
    data = dict(data)
    for old, new in renames.items():
        if old not in data:
            continue
        if new in data:
            raise ValueError(f"give {new} only: {old} is its deprecated name")
        deprecated_key(f"{where}.{old}", f"{where}.{new}")
        data[new] = data.pop(old)
    return data


def _name_of(data: Any) -> str:
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else "?"


# --- Sinks and routing -----------------------------------------------------------------------------


class SinkQueueSettings(_Model):
    """A durable queue in front of one sink (docs/sinks.md, "Durable queues"): opt-in per sink."""

    enabled: bool = Field(
        default=False,
        description="Queue this sink's events durably on the data volume; the stream's checkpoint moves once they "
        "are queued, and the sink drains the queue at its own pace (an outage of this sink no longer holds the others).",
    )
    max_bytes: int = Field(
        default=1_073_741_824, ge=65_536, description="Bound of the queued (not yet delivered) bytes on disk."
    )
    max_age: Duration | None = Field(
        default=timedelta(days=1),
        description="Bound of the oldest queued event's wait; past it the queue counts as full. null = no bound.",
    )
    when_full: Literal["block", "drop_newest"] = Field(
        default="block",
        description="block: hold the stream's checkpoint until the queue drains (as without a queue); drop_newest: "
        "drop the new events, counted (mimecast_siem_queue_dropped_events_total) and logged with their ids.",
    )
    path: Path | None = Field(default=None, description="The queue's directory; default <data_dir>/queues/<sink name>.")


class SinkSettings(BaseModel):
    """One destination. Type-specific keys sit beside these and are validated by the sink's own model."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$", description="Unique sink name.")
    type: str = Field(
        description="Sink type: file, stdout, syslog, hec, elasticsearch, kafka, s3, sentinel, or a plugin's entry-point name."
    )
    format: Literal["json", "raw", "cef", "leef", "ocsf"] = Field(default="json", description="Encoding of each event.")
    enabled: bool = Field(default=True, description="Route events to this sink.")
    batch_max_events: int = Field(default=500, ge=1, le=100_000, description="Events per send() at most.")
    batch_max_bytes: int = Field(
        default=1_000_000, ge=1024, le=100_000_000, description="Encoded bytes per send() at most."
    )
    queue: SinkQueueSettings = Field(
        default_factory=SinkQueueSettings, description="Durable queue in front of the sink (opt-in)."
    )

    @model_validator(mode="before")
    @classmethod
    def _one_tls_scheme(cls, data: Any) -> Any:
        """A syslog sink's TLS keys are named like every other sink's; its ``tls:`` block is the old form."""
        if not isinstance(data, dict) or data.get("type") != "syslog":
            return data
        where = f"sinks.{_name_of(data)}"
        block = data.get("tls")
        flat = [key for key in SYSLOG_TLS_KEYS if key in data]
        if isinstance(block, dict):
            for nested in block:
                current = next((k for k, v in SYSLOG_TLS_KEYS.items() if v == nested), None)
                if current is not None:
                    deprecated_key(f"{where}.tls.{nested}", f"{where}.{current}")
        if not flat:
            return data
        data = dict(data)
        merged = dict(block) if isinstance(block, dict) else {}
        for key in flat:
            nested = SYSLOG_TLS_KEYS[key]
            if nested in merged:
                raise ValueError(f"give {key} only: tls.{nested} is its deprecated name")
            merged[nested] = data.pop(key)
        data["tls"] = merged
        return data

    def options(self) -> dict[str, Any]:
        """The type-specific keys (everything not declared on this model)."""
        return dict(self.model_extra or {})


class RouteSettings(_Model):
    """Which streams of which tenants go to which sinks. No routes = every stream to every sink."""

    streams: list[str] = Field(default_factory=lambda: ["*"], description="Stream names or '*'.")
    tenants: list[str] = Field(default_factory=lambda: ["*"], description="Tenant names or '*'.")
    sinks: list[str] = Field(min_length=1, description="Sink names.")

    @field_validator("streams")
    @classmethod
    def _streams(cls, v: list[str]) -> list[str]:
        for s in v:
            if s != "*" and s not in STREAM_NAMES:
                raise ValueError(
                    f"unknown stream {s!r}{did_you_mean(s, STREAM_NAMES)} (allowed: '*', {', '.join(STREAM_NAMES)})"
                )
        return v


class DeadLetterSettings(_Model):
    """Where events a sink refused permanently are kept, with the reason, for inspection and replay."""

    path: Path | None = Field(
        default=None, description="JSON-lines dead-letter file; default <data_dir>/dead-letters.ndjson."
    )
    max_bytes: int = Field(default=1_073_741_824, ge=1024, description="Rotate the dead-letter file past this size.")


# --- State, server, actions, logging, daemon -----------------------------------------------------


#: Shortest lease: renewed every third of it, a lease must survive one slow state-store round trip.
MIN_LEASE_TTL = timedelta(seconds=3)
#: Bounds of daemon.shutdown_grace (0 would abandon every window in flight on each SIGTERM).
MIN_SHUTDOWN_GRACE = timedelta(seconds=1)
MAX_SHUTDOWN_GRACE = timedelta(hours=1)


class StateSettings(_Model):
    """The state store: checkpoints, leases, seen ids, snapshots, backfill jobs, action audit."""

    url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL. Default sqlite:///<data_dir>/state.db. PostgreSQL: "
        "postgresql+psycopg://user@host:5432/db (password via state.password / password file).",
    )
    password: SecretStr | None = Field(default=None, description="Database password (env or file).")
    lease_ttl: Duration = Field(
        default=timedelta(seconds=30),
        description="A replica that stops renewing loses its streams after this (renewed every third of it, "
        "also during a shutdown until the last commit); at least 3s.",
    )
    seen_id_retention: Duration = Field(
        default=timedelta(hours=2), description="How long seen event ids are kept for overlap dedupe."
    )

    @field_validator("lease_ttl")
    @classmethod
    def _lease_ttl(cls, value: timedelta) -> timedelta:
        if value < MIN_LEASE_TTL:
            raise ValueError(
                f"{format_duration(value)} is too short: leases are renewed every third of lease_ttl, and one slow "
                f"state-store answer would then lose them and refuse the commits of delivered windows "
                f"(allowed: at least {format_duration(MIN_LEASE_TTL)})"
            )
        return value


class ServerSettings(_Model):
    """The daemon's one HTTP port: metrics, health and the response-action API."""

    enabled: bool = Field(default=True, description="Serve /metrics, /healthz, /readyz and /v1/actions.")
    host: str = Field(default="127.0.0.1", description="Listen address (0.0.0.0 in containers).")
    port: int = Field(default=9108, ge=0, le=65535, description="Listen port (0 = pick a free port).")


class ActionTokenSettings(_Model):
    """One bearer token of the response-action HTTP API, with its scopes and tenants."""

    name: str = Field(min_length=1, max_length=64, description="Who holds this token (shown in the audit).")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="Hex SHA-256 of the bearer token.")
    token: SecretStr | None = Field(
        default=None, description="The token itself (env or file only; hashed at load, never logged)."
    )
    scopes: list[Literal["read", "write", "admin"]] = Field(min_length=1, description="read, write, admin.")
    tenants: list[str] = Field(default_factory=lambda: ["*"], description="Tenants this token may act on.")

    @model_validator(mode="after")
    def _one_secret(self) -> ActionTokenSettings:
        if (self.sha256 is None) == (self.token is None):
            raise ValueError("give exactly one of sha256 or token (token_file)")
        return self


class ActionsSettings(_Model):
    """The response-action service."""

    enabled: bool = Field(default=True, description="Serve the response-action HTTP API (needs tokens).")
    tokens: list[ActionTokenSettings] = Field(
        default_factory=list, description="Bearer tokens. No tokens = the HTTP action API is disabled."
    )
    default_tenant: str | None = Field(default=None, description="Tenant used when a call names none.")
    max_download_bytes: int = Field(
        default=50_000_000, ge=1024, description="Cap for binary results (archive file, file)."
    )
    default_page_limit: int = Field(
        default=1000, ge=1, le=100_000, description="Records a paginated read returns unless the caller asks."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or CIDR networks of the reverse proxies / ingress in front of the action API. "
        "Only when the direct peer is in this list is the client address taken from X-Forwarded-For (the "
        "right-most address that is not itself a trusted proxy); otherwise the peer address is used.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for index, entry in enumerate(value):
            try:
                out.append(str(ipaddress.ip_network(str(entry).strip(), strict=False)))
            except ValueError:
                raise ValueError(
                    f"trusted_proxies[{index}] = {str(entry)[:60]!r} is not an IP address or CIDR network "
                    "such as 10.0.0.0/8 or 2001:db8::/32"
                ) from None
        return out


class LoggingSettings(_Model):
    """Log level and format (``--log-level`` / ``--log-format`` override these)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level written. Secrets are scrubbed at every level."
    )
    format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto = console on a TTY, JSON otherwise."
    )

    @field_validator("level", mode="before")
    @classmethod
    def _level_case(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("format", mode="before")
    @classmethod
    def _format_case(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v


class DaemonSettings(_Model):
    """The long-running collector (``mimecast-siem run``)."""

    instance_id: str | None = Field(default=None, description="Lease owner id; default <hostname>-<pid>.")
    shutdown_grace: Duration = Field(
        default=timedelta(seconds=30),
        description="On SIGTERM, time to finish in-flight delivery (leases are renewed meanwhile); 1s-1h. Keep "
        "Kubernetes' terminationGracePeriodSeconds above it.",
    )
    stream_backoff_max: Duration = Field(
        default=timedelta(minutes=5), description="Longest pause of a failing stream before it retries."
    )
    stall_timeout: Duration = Field(
        default=timedelta(minutes=15),
        description="A stream loop that makes no progress (no page, delivery, commit or pause) for this long, "
        "while not waiting for a failing sink or a Mimecast rate limit, fails /healthz so the pod is restarted.",
    )

    @field_validator("shutdown_grace")
    @classmethod
    def _shutdown_grace(cls, value: timedelta) -> timedelta:
        if not MIN_SHUTDOWN_GRACE <= value <= MAX_SHUTDOWN_GRACE:
            raise ValueError(
                f"{format_duration(value)} is out of range: in-flight windows need time to commit on SIGTERM "
                f"(allowed: {format_duration(MIN_SHUTDOWN_GRACE)} to {format_duration(MAX_SHUTDOWN_GRACE)})"
            )
        return value


class BackfillSettings(_Model):
    """Defaults of ``mimecast-siem backfill`` jobs."""

    window: Duration = Field(default=timedelta(hours=1), description="Window size for backfill jobs.")
    concurrency: int = Field(default=4, ge=1, le=32, description="Windows fetched at once.")


class Settings(_Model):
    """The whole configuration."""

    data_dir: Path = Field(default=Path("./data"), description="Where SQLite state and files live.")
    tenants: list[TenantSettings] = Field(min_length=1, description="Mimecast accounts.")
    streams: dict[str, StreamSettings] = Field(
        default_factory=dict, description="Per-stream defaults, keyed by stream name."
    )
    sinks: list[SinkSettings] = Field(default_factory=list, description="Destinations.")
    routes: list[RouteSettings] = Field(
        default_factory=list, description="Routing; empty = every stream to every sink."
    )
    dead_letter: DeadLetterSettings = Field(
        default_factory=DeadLetterSettings, description="Dead-letter file for permanently refused events."
    )
    state: StateSettings = Field(default_factory=StateSettings, description="State store (SQLite or PostgreSQL).")
    server: ServerSettings = Field(
        default_factory=ServerSettings, description="HTTP port for metrics, health, actions."
    )
    actions: ActionsSettings = Field(default_factory=ActionsSettings, description="Response-action service.")
    logging: LoggingSettings = Field(default_factory=LoggingSettings, description="Log level and format.")
    daemon: DaemonSettings = Field(default_factory=DaemonSettings, description="The long-running collector.")
    backfill: BackfillSettings = Field(default_factory=BackfillSettings, description="Backfill job defaults.")

    @field_validator("streams")
    @classmethod
    def _known(cls, v: dict[str, StreamSettings]) -> dict[str, StreamSettings]:
        for k in v:
            if k not in STREAM_NAMES:
                raise ValueError(
                    f"unknown stream {k!r}{did_you_mean(k, STREAM_NAMES)} (allowed: {', '.join(STREAM_NAMES)})"
                )
        return v

    @model_validator(mode="after")
    def _cross_refs(self) -> Settings:
        names = [t.name for t in self.tenants]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"tenant names must be unique; repeated: {', '.join(sorted(dupes))}")
        sink_names = [s.name for s in self.sinks]
        dupes = {n for n in sink_names if sink_names.count(n) > 1}
        if dupes:
            raise ValueError(f"sink names must be unique; repeated: {', '.join(sorted(dupes))}")
        for i, route in enumerate(self.routes):
            for s in route.sinks:
                if s not in sink_names:
                    raise ValueError(f"routes[{i}].sinks: no sink named {s!r}")
            for t in route.tenants:
                if t != "*" and t not in names:
                    raise ValueError(f"routes[{i}].tenants: no tenant named {t!r}")
        if self.actions.default_tenant and self.actions.default_tenant not in names:
            raise ValueError(f"actions.default_tenant: no tenant named {self.actions.default_tenant!r}")
        return self

    # --- derived values ---------------------------------------------------------------------------

    def tenant(self, name: str) -> TenantSettings:
        """The tenant called ``name`` (``KeyError`` if there is none)."""
        for t in self.tenants:
            if t.name == name:
                return t
        raise KeyError(name)

    def enabled_streams(self, tenant: TenantSettings) -> list[str]:
        """Stream names to poll for ``tenant``, in catalogue order."""
        chosen = dict(tenant.streams) if tenant.streams is not None else {n: {} for n in DEFAULT_STREAMS}
        if tenant.siem is not None:
            chosen.update({n: {} for n in tenant.siem.streams() if n not in chosen})
        return [n for n in STREAM_NAMES if n in chosen and self.stream_settings(tenant, n).enabled]

    def stream_settings(self, tenant: TenantSettings, stream: str) -> StreamSettings:
        """Effective settings: built-in defaults < top-level ``streams.<name>`` < tenant override."""
        base = self.streams.get(stream, StreamSettings())
        override = (tenant.streams or {}).get(stream) or {}
        if not override:
            return base
        merged = base.model_dump()
        merged.update(override)
        return StreamSettings.model_validate(merged)

    def sinks_for(self, tenant: str, stream: str) -> list[SinkSettings]:
        """Enabled sinks that receive ``stream`` of ``tenant``."""
        enabled = [s for s in self.sinks if s.enabled]
        if not self.routes:
            return enabled
        wanted: set[str] = set()
        for r in self.routes:
            if ("*" in r.streams or stream in r.streams) and ("*" in r.tenants or tenant in r.tenants):
                wanted.update(r.sinks)
        return [s for s in enabled if s.name in wanted]

    def state_url(self) -> str:
        """The SQLAlchemy URL with the password applied (a secret: never log the result)."""
        if self.state.url is None:
            return f"sqlite:///{(self.data_dir / 'state.db').as_posix()}"
        url = self.state.url.get_secret_value()
        if self.state.password is not None:
            from sqlalchemy.engine import make_url

            return (
                make_url(url).set(password=self.state.password.get_secret_value()).render_as_string(hide_password=False)
            )
        return url

    def dead_letter_path(self) -> Path:
        """The dead-letter file: ``dead_letter.path`` or ``<data_dir>/dead-letters.ndjson``."""
        return self.dead_letter.path or (self.data_dir / "dead-letters.ndjson")
