"""The ``elasticsearch`` sink: Elasticsearch or OpenSearch through the ``_bulk`` API (plain aiohttp).

How a batch travels (protocol facts: shared/docs/sinks.md section 4.1):

* every record becomes a ``create`` action with ``_id`` = the event id (``<event id>-<n>`` for the
  second and later record of one event, e.g. an OCSF Detection Finding) followed by the document;
  the target is a data stream ``logs-mimecast.<dataset>-<namespace>`` by default, or any index name
  template (``{tenant}``, ``{stream}``, ``{dataset}``, ``{namespace}``, ``{date}``);
* records are packed into NDJSON requests bounded by ``max_request_bytes`` (uncompressed) and the
  sink's ``batch_max_events``, terminated by a newline, optionally gzipped;
* the reply is read item by item: 200/201 = delivered; **409 on create = delivered** (the document
  with this ``_id`` is already there: a re-delivery after a crash is dropped by the server); 429 and
  5xx items are retried (only them: the router retries the batch, the sink skips what is done);
  any other item status (400 ``mapper_parsing_exception`` ...) dead-letters the event with the
  server's reason;
* a whole-request 429/5xx or a connection error is transient; 413 splits the request; 401/403 and
  other 4xx are permanent (a configuration problem).

Credentials (API key or user + password) only ever travel in the ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.events import Event
from mimecast_siem.net import is_loopback
from mimecast_siem.sinks.base import (
    SendResult,
    SinkContext,
    SinkHealth,
    SinkPermanentError,
    SinkTransientError,
)
from mimecast_siem.sinks.formats import Encoder, encode_event, get_encoder, record_json
from mimecast_siem.sinks.formats.elastic_profile import elastic_dataset
from mimecast_siem.sinks.http_common import (
    HttpClientOptions,
    SinkHttp,
    check_files,
    check_tls_pair,
    resolve_secret,
)
from mimecast_siem.sinks.progress import BatchProgress, ProgressMemory
from mimecast_siem.sinks.registry import check_template, format_options, parse_options

log = logging.getLogger("mimecast_siem.sinks")

KIND = "Elasticsearch"
TEMPLATE_FIELDS = frozenset({"tenant", "stream", "dataset", "namespace", "date"})
DEFAULT_INDEX = "logs-mimecast.{dataset}-{namespace}"
FILTER_PATH = "errors,items.*.status,items.*.error.type,items.*.error.reason"
_MAX_REPLY_BYTES = 32 * 1024 * 1024
_GZIP_IN_THREAD_BYTES = 256 * 1024


class ElasticsearchSinkOptions(HttpClientOptions):
    """Type-specific keys of an ``elasticsearch`` sink (Elasticsearch 7.x+ or OpenSearch 1.x+)."""

    url: str = Field(description="Base URL of the cluster, e.g. https://es.example.com:9200 (no path).")
    index: str = Field(
        default=DEFAULT_INDEX,
        description="Data stream or index name (template: {tenant}, {stream}, {dataset}, {namespace}, {date}).",
    )
    namespace: str = Field(default="default", description="Data stream namespace ({namespace}).")
    pipeline: str | None = Field(default=None, description="Ingest pipeline to run on every document.")
    api_key: SecretStr | None = Field(default=None, description="API key (the encoded id:key as ES returns it).")
    api_key_file: str | None = Field(default=None, description="File holding the API key.")
    api_key_env: str | None = Field(default=None, description="Environment variable holding the API key.")
    username: str | None = Field(default=None, description="User for basic authentication.")
    password: SecretStr | None = Field(default=None, description="Password for basic authentication.")
    password_file: str | None = Field(default=None, description="File holding the password.")
    password_env: str | None = Field(default=None, description="Environment variable holding the password.")
    gzip: bool = Field(default=True, description="gzip request bodies.")
    gzip_level: int = Field(default=6, ge=1, le=9, description="gzip level.")
    max_request_bytes: int | None = Field(
        default=None, ge=1024, description="Uncompressed bytes per _bulk request; default the sink's batch_max_bytes."
    )
    allow_plain_http: bool = Field(
        default=False, description="Allow http:// to a non-loopback host when credentials are set."
    )
    format_options: dict[str, Any] = Field(default_factory=dict, description="Options of the sink's format.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http(s) URL such as https://es.example.com:9200")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("the URL must not carry a query string or credentials; use api_key or username/password")
        if parts.path.rstrip("/").endswith("/_bulk"):
            raise ValueError("give the base URL only (the sink adds /_bulk)")
        return value.strip().rstrip("/")

    @field_validator("index")
    @classmethod
    def _index(cls, value: str) -> str:
        check_template(value, TEMPLATE_FIELDS)
        if value.startswith(("_", "-", "+")) or any(c in value for c in ' \\/*?"<>|,#:'):
            raise ValueError('an index name must not start with _ - + nor contain spaces or \\ / * ? " < > | , # :')
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not value or value != value.lower() or "-" in value or len(value) > 100:
            raise ValueError("a data stream namespace is lowercase, without '-', at most 100 characters")
        return value

    @model_validator(mode="after")
    def _checks(self) -> ElasticsearchSinkOptions:
        has_key = any(getattr(self, n) is not None for n in ("api_key", "api_key_file", "api_key_env"))
        has_password = any(getattr(self, n) is not None for n in ("password", "password_file", "password_env"))
        if has_key and (self.username is not None or has_password):
            raise ValueError("give either an API key or username + password, not both")
        if has_password != (self.username is not None):
            raise ValueError(
                "basic authentication needs both username and one of password, password_file, password_env"
            )
        parts = urlsplit(self.url)
        if (
            (has_key or has_password)
            and parts.scheme == "http"
            and not self.allow_plain_http
            and not is_loopback(parts.hostname or "")
        ):
            raise ValueError("plain http sends the credentials in clear text; use https, or set allow_plain_http: true")
        check_tls_pair(self)
        return self


@dataclass(slots=True)
class _Item:
    owner: int  # index of the event in the batch
    data: bytes  # action line + source line


def dataset_of(event: Event) -> str:
    """The event's dataset without the ``mimecast.`` prefix (``ttp_url``)."""
    doc_event = event.document.get("event") if isinstance(event.document, dict) else None
    dataset = doc_event.get("dataset") if isinstance(doc_event, dict) else None
    if isinstance(dataset, str) and dataset:
        return dataset.removeprefix("mimecast.")
    return event.stream.replace("-", "_")


class ElasticsearchSink:
    """Index events into Elasticsearch / OpenSearch with ``_bulk`` (see the module docstring)."""

    options_model: ClassVar[type[BaseModel]] = ElasticsearchSinkOptions
    #: Documents are JSON objects: the text formats (cef, leef) cannot be indexed.
    formats: ClassVar[frozenset[str]] = frozenset({"json", "raw", "ocsf"})
    bounds_own_bytes: ClassVar[bool] = True

    def __init__(self, settings: SinkSettings, context: SinkContext) -> None:
        self.name = settings.name
        self.options = parse_options(settings, ElasticsearchSinkOptions, KIND)
        encoder_options = dict(format_options(settings) or {})
        # The json format's elastic-integration profile names Elastic's datasets: the data stream the
        # documents go to must carry the same dataset and namespace as their data_stream.* fields.
        self._elastic_profile = (
            settings.format == "json" and encoder_options.get("ecs_profile") == "elastic-integration"
        )
        self._namespace = self.options.namespace
        if self._elastic_profile:
            explicit = encoder_options.get("data_stream_namespace")
            if isinstance(explicit, str):
                self._namespace = explicit
            encoder_options = {**encoder_options, "data_stream_namespace": self._namespace}
        self.encoder: Encoder = get_encoder(settings.format, encoder_options)
        check_files(self.options, KIND, self.name)
        self._auth = self._authorization()
        self.max_request_bytes = self.options.max_request_bytes or settings.batch_max_bytes
        self.max_request_events = settings.batch_max_events
        self._http = SinkHttp(self.options, self.options.url, KIND, self.name, max_reply_bytes=_MAX_REPLY_BYTES)
        self._progress: ProgressMemory[int] = ProgressMemory()

    def _authorization(self) -> str | None:
        key = resolve_secret(self.options, "api_key", KIND, self.name, required=False, label="API key")
        if key is not None:
            return f"ApiKey {key}"
        if self.options.username is not None:
            password = resolve_secret(self.options, "password", KIND, self.name)
            token = base64.b64encode(f"{self.options.username}:{password}".encode()).decode()
            return f"Basic {token}"
        return None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session (connections are made on first use)."""
        self._http.open()

    async def close(self) -> None:
        """Close the HTTP session (idempotent)."""
        await self._http.close()

    async def healthcheck(self) -> SinkHealth:
        """``GET /``: the cluster answers with its name and version when reachable and authorised."""
        await self.start()
        try:
            status, body = await self._request("GET", "/", None, {})
        except SinkTransientError as exc:
            return SinkHealth(False, str(exc))
        if status == 200:
            try:
                version = orjson.loads(body).get("version", {}).get("number", "?")
            except (orjson.JSONDecodeError, AttributeError):
                version = "?"
            return SinkHealth(True, f"cluster version {version}")
        return SinkHealth(False, f"GET / answered HTTP {status}")

    # -- sending ---------------------------------------------------------------------------------

    async def send(self, events: Sequence[Event]) -> SendResult:
        """Deliver the batch; return once every event is stored (201/409) or refused (dead letters)."""
        await self.start()
        key, progress = self._progress.take(events)
        items = self._encode(events, progress)
        try:
            await self._deliver(items, progress)
        except SinkTransientError:
            self._progress.keep(key, progress)
            raise
        return progress.result(events)

    def index_for(self, event: Event) -> str:
        """The data stream or index an event goes to."""
        dataset = dataset_of(event)
        if self._elastic_profile:
            dataset = (elastic_dataset(event.stream) or f"mimecast.{dataset}").removeprefix("mimecast.")
        return self.options.index.format(
            tenant=event.tenant,
            stream=event.stream,
            dataset=dataset,
            namespace=self._namespace,
            date=event.timestamp.strftime("%Y.%m.%d"),
        ).lower()

    def _encode(self, events: Sequence[Event], progress: BatchProgress[int]) -> list[_Item]:
        items: list[_Item] = []
        for index, event in enumerate(events):
            try:
                records = encode_event(self.encoder, event)
                target = self.index_for(event)
                encoded = []
                for n, record in enumerate(records):
                    if not isinstance(record, dict):
                        raise TypeError(f"the {self.encoder.name} format produced text, not a JSON object")
                    action: dict[str, Any] = {
                        "_index": target,
                        "_id": event.event_id if n == 0 else f"{event.event_id}-{n}",
                    }
                    if self.options.pipeline:
                        action["pipeline"] = self.options.pipeline
                    encoded.append(orjson.dumps({"create": action}) + b"\n" + record_json(record) + b"\n")
            except Exception as exc:  # one odd event must not block the batch
                progress.rejected.setdefault(index, f"{self.encoder.name} encoding failed: {type(exc).__name__}: {exc}")
                continue
            for data in encoded:
                if len(data) > self.max_request_bytes:
                    progress.rejected.setdefault(
                        index, f"document is {len(data)} bytes, over max_request_bytes ({self.max_request_bytes})"
                    )
                items.append(_Item(index, data))
        return items

    def _pack(self, pending: list[int], items: list[_Item]) -> deque[list[int]]:
        requests: deque[list[int]] = deque()
        current: list[int] = []
        size = 0
        for i in pending:
            length = len(items[i].data)
            if current and (size + length > self.max_request_bytes or len(current) >= self.max_request_events):
                requests.append(current)
                current, size = [], 0
            current.append(i)
            size += length
        if current:
            requests.append(current)
        return requests

    async def _deliver(self, items: list[_Item], progress: BatchProgress[int]) -> None:
        pending = [i for i in range(len(items)) if i not in progress.done and items[i].owner not in progress.rejected]
        queue = self._pack(pending, items)
        retry_later: list[str] = []
        while queue:
            request = [i for i in queue.popleft() if items[i].owner not in progress.rejected]
            if not request:
                continue
            status, reply, wire_bytes = await self._post_bulk(b"".join(items[i].data for i in request))
            progress.bytes_sent += wire_bytes
            if status == 200:
                retry_later.extend(self._read_items(request, items, reply, progress))
            elif status == 413:
                if len(request) == 1:
                    progress.rejected.setdefault(
                        items[request[0]].owner, "the cluster refused the document as too large (HTTP 413)"
                    )
                else:
                    half = len(request) // 2
                    queue.appendleft(request[half:])
                    queue.appendleft(request[:half])
            elif status in (408, 429) or status >= 500:
                raise SinkTransientError(f"{KIND} sink {self.name}: _bulk answered HTTP {status}: {_reason(reply)}")
            elif status in (401, 403):
                raise SinkPermanentError(
                    f"{KIND} sink {self.name}: _bulk answered HTTP {status} (check the credentials and the "
                    f"privileges to create documents in the target): {_reason(reply)}"
                )
            else:
                raise SinkPermanentError(f"{KIND} sink {self.name}: _bulk answered HTTP {status}: {_reason(reply)}")
        if retry_later:
            raise SinkTransientError(
                f"{KIND} sink {self.name}: {len(retry_later)} document(s) to retry (first: {retry_later[0]})"
            )

    def _read_items(
        self, request: list[int], items: list[_Item], reply: bytes, progress: BatchProgress[int]
    ) -> list[str]:
        """Record each item's outcome; return the reasons of the items to retry."""
        try:
            parsed = orjson.loads(reply)
            results = parsed["items"] if parsed.get("errors") else None
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise SinkTransientError(f"{KIND} sink {self.name}: unreadable _bulk reply: {reply[:200]!r}") from None
        if results is None:  # no errors: every item was created
            progress.done.update(request)
            return []
        if not isinstance(results, list) or len(results) != len(request):
            raise SinkTransientError(
                f"{KIND} sink {self.name}: _bulk reply has {len(results) if isinstance(results, list) else '?'} "
                f"items for {len(request)} actions"
            )
        retry: list[str] = []
        for i, result in zip(request, results, strict=True):
            outcome: dict[str, Any] = next(iter(result.values()), {}) if isinstance(result, dict) else {}
            status = int(outcome.get("status", 0) or 0)
            if status in (200, 201, 409):  # 409 on create: this _id is stored already (a re-delivery)
                progress.done.add(i)
                continue
            error = outcome.get("error") or {}
            reason = f"HTTP {status} {error.get('type', '?')}: {error.get('reason', '')}".strip()
            if status == 429 or status >= 500 or status == 0:
                retry.append(reason)
            else:
                progress.rejected.setdefault(items[i].owner, f"{KIND} refused the document: {reason}")
        return retry

    async def _post_bulk(self, body: bytes) -> tuple[int, bytes, int]:
        headers = {"Content-Type": "application/x-ndjson"}
        if self.options.gzip:
            if len(body) >= _GZIP_IN_THREAD_BYTES:
                body = await asyncio.to_thread(gzip.compress, body, self.options.gzip_level, mtime=0)
            else:
                body = gzip.compress(body, self.options.gzip_level, mtime=0)
            headers["Content-Encoding"] = "gzip"
        status, reply = await self._request("POST", f"/_bulk?filter_path={FILTER_PATH}", body, headers)
        return status, reply, len(body)

    async def _request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        if self._auth is not None:
            headers = {**headers, "Authorization": self._auth}
        what = path.split("?", maxsplit=1)[0]
        reply = await self._http.request(method, self.options.url + path, data=body, headers=headers, what=what)
        return reply.status, reply.body


def _reason(reply: bytes) -> str:
    try:
        error = orjson.loads(reply).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return reply[:200].decode("utf-8", "replace") or "(no body)"
    if isinstance(error, dict):
        return f"{error.get('type', '?')}: {error.get('reason', '')}"
    return str(error)[:200]
