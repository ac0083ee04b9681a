"""The ``hec`` sink: Splunk HTTP Event Collector (``/services/collector/event``).

How a batch travels (protocol facts: shared/docs/sinks.md section 1; pure parts: ``hec_protocol``):

* each record becomes one envelope ``{"time", "host", "source", "sourcetype", "index", "fields",
  "event"}``; ``time`` is the event time in epoch seconds with milliseconds;
* envelopes are concatenated (no array, no commas) into requests bounded by ``max_request_bytes``
  (uncompressed; default the sink's ``batch_max_bytes``) and ``batch_max_events``, optionally gzipped;
* replies are classified by the documented table: 5xx / 429 / codes 8, 9, 18-20 / connection errors
  and timeouts are transient (the router retries); auth, index and channel codes are permanent
  (clear configuration error); codes 6, 12, 13, 15 reject one event: with ``invalid-event-number`` N
  the events before N count as accepted, event N is dead-lettered, the rest are re-sent; without a
  number the request is bisected until the bad event is alone; HTTP 413 splits the request;
* with ``ack: true`` a channel GUID is sent in ``X-Splunk-Request-Channel``, every 200 carries an
  ``ackId``, and the sink polls ``/services/collector/ack`` until each id answers true (recorded the
  first time: HEC forgets an id once it reported it). "Delivered" then means acknowledged; ids not
  acknowledged within ``ack_timeout`` are re-sent (at-least-once).

A batch is never double-counted: when a retry of the same batch arrives after a transient failure,
the envelopes HEC already accepted (or acknowledged) are skipped, so only the rest is sent again.
The token is a secret: it only ever appears in the Authorization header.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import re
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from mimecast_siem.config.models import STREAM_NAMES, Duration, SinkSettings
from mimecast_siem.errors import ConfigError, ConfigProblem
from mimecast_siem.events import Event
from mimecast_siem.net import is_loopback
from mimecast_siem.sinks.base import (
    SendResult,
    SinkContext,
    SinkHealth,
    SinkPermanentError,
    SinkTransientError,
)
from mimecast_siem.sinks.formats import Encoder, encode_event, get_encoder, record_value
from mimecast_siem.sinks.hec_protocol import (
    ACK_PATH,
    CHANNEL_HEADER,
    EVENT_PATH,
    HEALTH_PATH,
    ReplyKind,
    classify_health,
    classify_reply,
    default_sourcetype,
    envelope,
    epoch_seconds_ms,
    pack_requests,
    parse_acks,
)
from mimecast_siem.sinks.http_common import (
    SinkHttp,
    check_files,
    check_proxy_option,
    check_tls_pair,
    resolve_secret,
)
from mimecast_siem.sinks.progress import BatchProgress, ProgressMemory
from mimecast_siem.sinks.registry import check_template, format_options, parse_options

log = logging.getLogger("mimecast_siem.sinks")

KIND = "HEC"
TEMPLATE_FIELDS = frozenset({"tenant", "stream", "event_id", "kind", "instance"})
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_GZIP_IN_THREAD_BYTES = 256 * 1024
_MAX_REPLY_BYTES = 64 * 1024  # HEC answers are tiny; a hostile endpoint may stream forever


def _check_template(value: str | None) -> str | None:
    return None if value is None else check_template(value, TEMPLATE_FIELDS)


class HecStreamOptions(BaseModel):
    """Per-stream overrides of the HEC metadata."""

    model_config = ConfigDict(extra="forbid")

    index: str | None = Field(default=None, description="Index for this stream.")
    sourcetype: str | None = Field(default=None, description="Sourcetype for this stream.")
    source: str | None = Field(default=None, description="Source for this stream (template).")

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return _check_template(value)


class HecSinkOptions(BaseModel):
    """Type-specific keys of a ``hec`` sink."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="HEC base URL, e.g. https://splunk.example.com:8088 (no path).")
    token: SecretStr | None = Field(default=None, description="HEC token (prefer token_file or token_env).")
    token_file: Path | None = Field(default=None, description="File holding the HEC token (a mounted secret).")
    token_env: str | None = Field(default=None, description="Environment variable holding the HEC token.")
    index: str | None = Field(default=None, description="Index (default: the token's default index).")
    sourcetype: str | None = Field(
        default=None, description="Sourcetype for every stream (default per stream: mimecast:ttp:url ...)."
    )
    source: str | None = Field(default="mimecast:{tenant}", description="Source (template: {tenant}, {stream}).")
    host: str | None = Field(default=None, description="Host field (template); default: set by Splunk.")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Indexed fields, flat strings only (values are templates: {tenant}, {stream}, {event_id}).",
    )
    streams: dict[str, HecStreamOptions] = Field(default_factory=dict, description="Per-stream overrides.")
    gzip: bool = Field(default=True, description="gzip request bodies.")
    gzip_level: int = Field(default=6, ge=1, le=9, description="gzip level.")
    max_request_bytes: int | None = Field(
        default=None, ge=1024, description="Uncompressed bytes per request; default the sink's batch_max_bytes."
    )
    ack: bool = Field(default=False, description="Use indexer acknowledgement (delivered = acknowledged).")
    ack_timeout: Duration = Field(
        default=timedelta(seconds=60), description="Re-send requests not acknowledged within this time."
    )
    ack_poll_interval: Duration = Field(default=timedelta(seconds=1), description="Longest pause between ack polls.")
    channel: str | None = Field(default=None, description="Channel GUID (default: a new one per process).")
    timeout: Duration = Field(default=timedelta(seconds=30), description="Request timeout.")
    connect_timeout: Duration = Field(default=timedelta(seconds=10), description="Connect timeout.")
    verify_tls: bool = Field(default=True, description="Verify the server certificate (off is logged loudly).")
    ca_file: Path | None = Field(default=None, description="CA bundle (PEM) to verify HEC's certificate.")
    client_cert_file: Path | None = Field(default=None, description="Client certificate (PEM) for mutual TLS.")
    client_key_file: Path | None = Field(default=None, description="Client key (PEM) for mutual TLS.")
    allow_plain_http: bool = Field(
        default=False, description="Allow http:// to a non-loopback host (the token would travel in clear text)."
    )
    proxy: SecretStr | None = Field(
        default=None,
        description="Forward proxy URL for this sink (http://[user:pass@]host:port); overrides HTTPS_PROXY.",
    )
    trust_env: bool = Field(
        default=True, description="Without proxy: honour the HTTPS_PROXY / HTTP_PROXY / NO_PROXY environment."
    )
    format_options: dict[str, Any] = Field(default_factory=dict, description="Options of the sink's format.")

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: SecretStr | None) -> SecretStr | None:
        return check_proxy_option(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http(s) URL such as https://splunk.example.com:8088")
        if parts.query or parts.fragment:
            raise ValueError("the URL must not carry a query string (tokens in URLs end up in logs)")
        if parts.username or parts.password:
            raise ValueError("the URL must not carry credentials; use token / token_file / token_env")
        path = parts.path.rstrip("/")
        if path.endswith(("/services/collector/event", "/services/collector")):
            raise ValueError("give the base URL only (the sink adds /services/collector/event)")
        return value.strip().rstrip("/")

    @field_validator("source", "host")
    @classmethod
    def _templates(cls, value: str | None) -> str | None:
        return _check_template(value)

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        for key, template in value.items():
            if not key or key.startswith("_"):
                raise ValueError(f"indexed field name {key!r} must be non-empty and not start with _")
            _check_template(template)
        return value

    @field_validator("streams")
    @classmethod
    def _streams(cls, value: dict[str, HecStreamOptions]) -> dict[str, HecStreamOptions]:
        unknown = [k for k in value if k not in STREAM_NAMES]
        if unknown:
            raise ValueError(f"unknown stream {unknown[0]!r}; allowed: {', '.join(STREAM_NAMES)}")
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not _GUID.match(value):
            raise ValueError("channel must be a GUID such as 0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba")
        return value

    @model_validator(mode="after")
    def _checks(self) -> HecSinkOptions:
        given = [n for n in ("token", "token_file", "token_env") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of token, token_file, token_env (got {', '.join(given) or 'none'})")
        parts = urlsplit(self.url)
        if parts.scheme == "http" and not self.allow_plain_http and not is_loopback(parts.hostname):
            raise ValueError("plain http sends the HEC token in clear text; use https, or set allow_plain_http: true")
        check_tls_pair(self)
        return self


class HecSink:
    """Send events to Splunk HEC (see the module docstring)."""

    options_model: ClassVar[type[BaseModel]] = HecSinkOptions
    #: The router cuts batches by events only (router.py). Requests are packed by their real size (max_request_bytes).
    bounds_own_bytes: ClassVar[bool] = True

    def __init__(self, settings: SinkSettings, context: SinkContext) -> None:
        self.name = settings.name
        self.options = parse_options(settings, HecSinkOptions, KIND)
        self.encoder: Encoder = get_encoder(settings.format, format_options(settings))
        self._token = self._resolve_token()
        check_files(self.options, KIND, self.name)
        self.instance = str(context.instance_id)
        self.channel = self.options.channel or str(uuid.uuid4())
        self.max_request_bytes = self.options.max_request_bytes or settings.batch_max_bytes
        self.max_request_events = settings.batch_max_events
        self._http = SinkHttp(self.options, self.options.url, KIND, self.name, max_reply_bytes=_MAX_REPLY_BYTES)
        self._progress: ProgressMemory[int] = ProgressMemory()

    # -- configuration ---------------------------------------------------------------------------

    def _resolve_token(self) -> str:
        token = resolve_secret(self.options, "token", KIND, self.name, label="HEC token") or ""
        if any(ch.isspace() for ch in token) or not token.isprintable():
            key = next(k for k in ("token", "token_file", "token_env") if getattr(self.options, k) is not None)
            raise ConfigError(
                f"HEC sink {self.name!r}: the token contains whitespace or control characters",
                [ConfigProblem(key, "the HEC token must be a single printable word (usually a GUID)", "****")],
            )
        return token

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session (connections are made on first use)."""
        self._http.open()

    async def close(self) -> None:
        """Close the HTTP session (idempotent)."""
        await self._http.close()

    async def healthcheck(self) -> SinkHealth:
        """Probe ``/services/collector/health`` (code 17 healthy; 18-20 unhealthy)."""
        await self.start()
        try:
            status, body = await self._request("GET", HEALTH_PATH, None, {})
        except SinkTransientError as exc:
            return SinkHealth(False, str(exc))
        healthy, detail = classify_health(status, body)
        return SinkHealth(healthy, detail)

    # -- sending ---------------------------------------------------------------------------------

    async def send(self, events: Sequence[Event]) -> SendResult:
        """Deliver the batch; return once HEC accepted (or, with ack on, acknowledged) every event."""
        await self.start()
        key, progress = self._progress.take(events)
        envelopes, owners = self._encode(events, progress)
        try:
            await self._deliver(envelopes, owners, progress)
        except SinkTransientError:
            self._progress.keep(key, progress)
            raise
        return progress.result(events)

    def _encode(self, events: Sequence[Event], progress: BatchProgress[int]) -> tuple[list[bytes], list[int]]:
        """Envelopes of the batch and, for each, the index of its event (deterministic across retries)."""
        envelopes: list[bytes] = []
        owners: list[int] = []
        for index, event in enumerate(events):
            try:
                records = encode_event(self.encoder, event)
                meta = self._metadata(event)
                encoded = [envelope(record_value(r), **meta) for r in records]
            except Exception as exc:  # one odd event must not block the batch
                progress.rejected.setdefault(index, f"{self.encoder.name} encoding failed: {type(exc).__name__}: {exc}")
                continue
            for data in encoded:
                if len(data) > self.max_request_bytes:
                    progress.rejected.setdefault(
                        index,
                        f"event is {len(data)} bytes as a HEC envelope, over max_request_bytes "
                        f"({self.max_request_bytes})",
                    )
                envelopes.append(data)
                owners.append(index)
        return envelopes, owners

    def _metadata(self, event: Event) -> dict[str, Any]:
        opts = self.options
        per_stream = opts.streams.get(event.stream)
        values = {
            "tenant": event.tenant,
            "stream": event.stream,
            "event_id": event.event_id,
            "kind": event.kind,
            "instance": self.instance,
        }
        source = (per_stream.source if per_stream and per_stream.source else None) or opts.source
        fields = {k: v.format(**values) for k, v in opts.fields.items()}
        return {
            "time": epoch_seconds_ms(event.timestamp),
            "sourcetype": (per_stream.sourcetype if per_stream else None)
            or opts.sourcetype
            or default_sourcetype(event.stream),
            "source": source.format(**values) if source else None,
            "host": opts.host.format(**values) if opts.host else None,
            "index": (per_stream.index if per_stream else None) or opts.index,
            "fields": fields or None,
        }

    async def _deliver(self, envelopes: list[bytes], owners: list[int], progress: BatchProgress[int]) -> None:
        pending = [i for i in range(len(envelopes)) if i not in progress.done and owners[i] not in progress.rejected]
        packed = pack_requests([len(envelopes[i]) for i in pending], self.max_request_bytes, self.max_request_events)
        queue: deque[list[int]] = deque([pending[j] for j in group] for group in packed)
        waiting: dict[int, list[int]] = {}
        try:
            while queue:
                request = [i for i in queue.popleft() if owners[i] not in progress.rejected]
                if not request:
                    continue
                reply, wire_bytes = await self._post_events(b"".join(envelopes[i] for i in request))
                progress.bytes_sent += wire_bytes
                if reply.kind is ReplyKind.SUCCESS:
                    if not self.options.ack:
                        progress.done.update(request)
                    elif reply.ack_id is None:
                        raise SinkPermanentError(
                            f"HEC sink {self.name}: ack is on but HEC returned no ackId; "
                            "enable indexer acknowledgement on the token or set ack: false"
                        )
                    else:
                        waiting[reply.ack_id] = request
                elif reply.kind is ReplyKind.REJECT_EVENT:
                    self._split_rejected(
                        request,
                        reply.invalid_event_number,
                        description=reply.describe(),
                        owners=owners,
                        progress=progress,
                        queue=queue,
                    )
                elif reply.kind is ReplyKind.TOO_LARGE:
                    if len(request) == 1:
                        progress.rejected.setdefault(
                            owners[request[0]], f"HEC refused the event as too large ({reply.describe()})"
                        )
                    else:
                        half = len(request) // 2
                        queue.appendleft(request[half:])
                        queue.appendleft(request[:half])
                elif reply.kind is ReplyKind.TRANSIENT:
                    raise SinkTransientError(f"HEC sink {self.name}: {reply.describe()}")
                else:
                    raise SinkPermanentError(f"HEC sink {self.name}: {reply.describe()}")
            if waiting:
                await self._await_acks(waiting, progress)
        except SinkTransientError:
            if waiting:
                # Record what is already acknowledged so the retry does not send it again.
                await self._poll_acks_once(waiting, progress)
            raise

    def _split_rejected(
        self,
        request: list[int],
        number: int | None,
        *,
        description: str,
        owners: list[int],
        progress: BatchProgress[int],
        queue: deque[list[int]],
    ) -> None:
        reason = f"HEC rejected the event: {description}"
        if number is not None and 0 <= number < len(request):
            before, bad, after = request[:number], request[number], request[number + 1 :]
            progress.rejected.setdefault(owners[bad], reason)
            if after:
                queue.appendleft(after)
            if before:
                if self.options.ack:
                    # No ackId on a 400: the events before N cannot be confirmed, so send them again.
                    queue.appendleft(before)
                else:
                    progress.done.update(before)
        elif len(request) == 1:
            progress.rejected.setdefault(owners[request[0]], reason)
        else:
            # HEC did not say which event is bad: bisect until it is alone.
            half = len(request) // 2
            queue.appendleft(request[half:])
            queue.appendleft(request[:half])

    async def _post_events(self, body: bytes) -> tuple[Any, int]:
        headers = {"Authorization": f"Splunk {self._token}", "Content-Type": "application/json"}
        if self.options.ack:
            headers[CHANNEL_HEADER] = self.channel
        if self.options.gzip:
            if len(body) >= _GZIP_IN_THREAD_BYTES:
                body = await asyncio.to_thread(gzip.compress, body, self.options.gzip_level, mtime=0)
            else:
                body = gzip.compress(body, self.options.gzip_level, mtime=0)
            headers["Content-Encoding"] = "gzip"
        status, reply_body = await self._request("POST", EVENT_PATH, body, headers)
        return classify_reply(status, reply_body), len(body)

    async def _await_acks(self, waiting: dict[int, list[int]], progress: BatchProgress[int]) -> None:
        loop = asyncio.get_running_loop()
        timeout = self.options.ack_timeout.total_seconds()
        deadline = loop.time() + timeout
        interval = self.options.ack_poll_interval.total_seconds()
        delay = min(0.05, interval)
        while waiting:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, interval)
            try:
                await self._poll_acks_once(waiting, progress, raise_errors=True)
            except SinkTransientError as exc:
                log.info("Polling HEC acknowledgements of sink %s failed; polling again: %s", self.name, exc)
        if waiting:
            raise SinkTransientError(
                f"HEC sink {self.name}: {len(waiting)} request(s) not acknowledged within {timeout:g} s; "
                "they will be sent again"
            )

    async def _poll_acks_once(
        self, waiting: dict[int, list[int]], progress: BatchProgress[int], *, raise_errors: bool = False
    ) -> None:
        ids = sorted(waiting)
        headers = {
            "Authorization": f"Splunk {self._token}",
            "Content-Type": "application/json",
            CHANNEL_HEADER: self.channel,
        }
        try:
            status, body = await self._request("POST", ACK_PATH, orjson.dumps({"acks": ids}), headers)
        except SinkTransientError:
            if raise_errors:
                raise
            return
        if status != 200:
            reply = classify_reply(status, body)
            if reply.kind is ReplyKind.PERMANENT or reply.kind is ReplyKind.REJECT_EVENT:
                raise SinkPermanentError(f"HEC sink {self.name}: acknowledgement query refused: {reply.describe()}")
            if raise_errors:
                raise SinkTransientError(f"HEC sink {self.name}: acknowledgement query failed: {reply.describe()}")
            return
        for ack_id, acknowledged in parse_acks(body).items():
            # HEC forgets an id once it answered true, so this is the only chance to record it.
            if acknowledged and ack_id in waiting:
                progress.done.update(waiting.pop(ack_id))

    async def _request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        url = self.options.url + path
        if path == ACK_PATH:
            url += f"?channel={self.channel}"
        reply = await self._http.request(
            method, url, data=body, headers=headers, what=path, host=urlsplit(url).hostname
        )
        return reply.status, reply.body
