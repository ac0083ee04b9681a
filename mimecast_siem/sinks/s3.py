"""The ``s3`` sink: gzip NDJSON objects in S3 (or S3-compatible storage), or OCSF Parquet for Amazon Security Lake.

Client library: **aiobotocore** (botocore's signing, credential chain and retries on aiohttp, so the
event loop never blocks; boto3 in a thread would hold a thread per upload). Optional dependency:
``pip install 'mimecast-siem[s3]'`` (``[security-lake]`` adds pyarrow); imported only when an s3 sink
is configured.

* **Delivery rule:** each ``send`` writes its events as one or more objects and returns once every
  ``PutObject`` succeeded (S3 is durable on a 200). The sink never holds events between sends (that
  would let the checkpoint move past events not yet stored): larger objects come from larger batches
  (``batch_max_events``, ``batch_max_bytes``).
* **Layout (ndjson):** ``{prefix}/{tenant}/{stream}/dt=YYYY-MM-DD/hour=HH/{first event id}-{digest}.ndjson.gz``
  by event time: an object never spans two hours (time rollover), and is cut at ``max_object_bytes``
  of uncompressed NDJSON (size rollover).
* **No duplicates on retry:** the key is derived from the ids of the events in the object, so a retried
  upload of the same events has the same key; it is written with ``If-None-Match: *``, and a 412
  (``PreconditionFailed``: the object exists) counts as delivered. Each PUT carries a CRC32 checksum
  that S3 verifies before storing.
* **Amazon Security Lake** (``mode: security_lake``, format ``ocsf``): OCSF records as Parquet, one
  object per OCSF class, under ``ext/{source}/region={region}/accountId={account_id}/eventDay=YYYYMMDD/``
  where ``{source}`` is the custom source of the record's class (``sources`` map, else the
  ``source_name`` template).
* Failures: throttling, 5xx, connection errors and timeouts are transient; access denied, a missing
  bucket or bad credentials are permanent.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from mimecast_siem.aio import wait_for
from mimecast_siem.config.models import SinkSettings
from mimecast_siem.errors import ConfigError, ConfigProblem
from mimecast_siem.events import Event
from mimecast_siem.sinks.base import (
    SendResult,
    SinkContext,
    SinkHealth,
    SinkPermanentError,
    SinkTransientError,
)
from mimecast_siem.sinks.formats import Encoder, Record, encode_event, get_encoder, record_json
from mimecast_siem.sinks.http_common import HttpClientOptions, check_tls_pair, proxy_url, resolve_secret
from mimecast_siem.sinks.progress import BatchProgress, ProgressMemory
from mimecast_siem.sinks.registry import check_template, format_options, import_extra, parse_options

log = logging.getLogger("mimecast_siem.sinks")

KIND = "S3"
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "ConditionalRequestConflict",
        "OperationAborted",
    }
)


class S3SinkOptions(HttpClientOptions):
    """Type-specific keys of an ``s3`` sink."""

    bucket: str = Field(description="Bucket name.")
    mode: Literal["ndjson", "security_lake"] = Field(
        default="ndjson",
        description="ndjson: gzip NDJSON objects; security_lake: OCSF Parquet for Amazon Security Lake.",
    )
    prefix: str = Field(default="mimecast", description="Key prefix of ndjson objects (no leading or trailing /).")
    region: str = Field(default="us-east-1", description="AWS region (also the Security Lake region partition).")
    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, Ceph ...); default AWS.")
    addressing_style: Literal["auto", "virtual", "path"] = Field(
        default="auto", description="Bucket addressing: auto, virtual (bucket.host) or path (host/bucket)."
    )
    access_key_id: str | None = Field(
        default=None, description="Access key id; default: the AWS credential chain (env, profile, instance role)."
    )
    secret_access_key: SecretStr | None = Field(default=None, description="Secret access key.")
    secret_access_key_file: Path | None = Field(default=None, description="File holding the secret access key.")
    secret_access_key_env: str | None = Field(default=None, description="Environment variable holding it.")
    session_token: SecretStr | None = Field(default=None, description="Session token of temporary credentials.")
    max_object_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Uncompressed bytes per object at most (size rollover)."
    )
    gzip_level: int = Field(default=6, ge=1, le=9, description="gzip level of ndjson objects.")
    storage_class: str | None = Field(default=None, description="Storage class, e.g. STANDARD_IA.")
    server_side_encryption: Literal["AES256", "aws:kms"] | None = Field(
        default=None, description="Server-side encryption."
    )
    kms_key_id: str | None = Field(default=None, description="KMS key for aws:kms.")
    account_id: str | None = Field(default=None, description="Security Lake: the account id partition.")
    source_name: str = Field(
        default="mimecast-{class_name}",
        description="Security Lake: custom source name template ({class_uid}, {class_name}: 'email-url-activity').",
    )
    sources: dict[str, str] = Field(
        default_factory=dict,
        description="Security Lake: custom source name per OCSF class_uid (overrides source_name).",
    )
    format_options: dict[str, Any] = Field(default_factory=dict, description="Options of the sink's format.")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not 3 <= len(value) <= 63 or not all(c.islower() or c.isdigit() or c in ".-" for c in value):
            raise ValueError("a bucket name has 3-63 characters: lowercase letters, digits, '.' and '-'")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value.startswith("/") or value.endswith("/"):
            raise ValueError("give the prefix without leading or trailing '/'")
        return value

    @field_validator("source_name")
    @classmethod
    def _source_name(cls, value: str) -> str:
        return check_template(value, frozenset({"class_uid", "class_name"}))

    @model_validator(mode="after")
    def _checks(self) -> S3SinkOptions:
        secret_given = any(
            getattr(self, n) is not None
            for n in ("secret_access_key", "secret_access_key_file", "secret_access_key_env")
        )
        if secret_given != (self.access_key_id is not None):
            raise ValueError("give access_key_id together with one of secret_access_key(_file/_env), or neither")
        if self.mode == "security_lake" and not (self.account_id and self.account_id.strip()):
            raise ValueError("mode security_lake needs account_id (the accountId partition of the custom source)")
        if self.kms_key_id and self.server_side_encryption != "aws:kms":
            raise ValueError("kms_key_id needs server_side_encryption: aws:kms")
        check_tls_pair(self)
        return self


@dataclass(slots=True)
class _Object:
    key: str
    owners: list[int]  # event indices in the object
    records: list[Record]


def _digest(ids: Sequence[str]) -> str:
    h = hashlib.sha256()
    for i in ids:
        h.update(i.encode())
        h.update(b"\x1f")
    return h.hexdigest()[:16]


def _kebab(text: str) -> str:
    return "-".join("".join(c.lower() if c.isalnum() else " " for c in text).split())


def _prune(value: Any) -> Any:
    """Drop empty objects and lists (Parquet cannot store a struct without fields)."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        items = [_prune(v) for v in value]
        return [v for v in items if v not in ({}, [], None)]
    return value


class S3Sink:
    """Write events to S3 objects (see the module docstring)."""

    options_model: ClassVar[type[BaseModel]] = S3SinkOptions
    bounds_own_bytes: ClassVar[bool] = True

    def __init__(self, settings: SinkSettings, context: SinkContext) -> None:
        self.name = settings.name
        self.options = parse_options(settings, S3SinkOptions, KIND)
        if self.options.mode == "security_lake" and settings.format != "ocsf":
            raise ConfigError(
                f"{KIND} sink {self.name!r}: security_lake mode needs format ocsf",
                [
                    ConfigProblem(
                        "format", "mode security_lake stores OCSF records: set format: ocsf", repr(settings.format)
                    )
                ],
            )
        self.encoder: Encoder = get_encoder(settings.format, format_options(settings))
        self._session_module = import_extra("aiobotocore.session", "s3")
        self._config_module = import_extra("aiobotocore.config", "s3")
        self._botocore_exceptions = import_extra("botocore.exceptions", "s3")
        self._pa: Any = None
        self._pq: Any = None
        if self.options.mode == "security_lake":
            self._pa = import_extra("pyarrow", "security-lake")
            self._pq = import_extra("pyarrow.parquet", "security-lake")
        for key in ("ca_file", "client_cert_file", "client_key_file"):
            path = getattr(self.options, key)
            if path is not None and not Path(path).is_file():
                raise ConfigError(
                    f"{KIND} sink {self.name!r}: {key} not found",
                    [ConfigProblem(key, "file not found or not a regular file", str(path))],
                )
        self._secret = resolve_secret(self.options, "secret_access_key", KIND, self.name, required=False)
        self._token = self.options.session_token.get_secret_value() if self.options.session_token else None
        self._client: Any = None
        self._client_cm: Any = None
        self._progress: ProgressMemory[str] = ProgressMemory()

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the S3 client (no request is made)."""
        if self._client is not None:
            return
        opts = self.options
        config_kwargs: dict[str, Any] = {
            "region_name": opts.region,
            "connect_timeout": opts.connect_timeout.total_seconds(),
            "read_timeout": opts.timeout.total_seconds(),
            "retries": {"max_attempts": 2, "mode": "standard"},
            "s3": {"addressing_style": opts.addressing_style},
            "request_checksum_calculation": "when_supported",
        }
        proxy = proxy_url(opts)
        if proxy is not None:
            config_kwargs["proxies"] = {"http": proxy, "https": proxy}
        elif not opts.trust_env:
            config_kwargs["proxies"] = {}  # botocore reads HTTPS_PROXY / NO_PROXY only when proxies is unset
        if opts.client_cert_file and opts.client_key_file:
            config_kwargs["client_cert"] = (str(opts.client_cert_file), str(opts.client_key_file))
        verify: bool | str = str(opts.ca_file) if opts.ca_file else True
        if not opts.verify_tls:
            verify = False
        session = self._session_module.get_session()
        self._client_cm = session.create_client(
            "s3",
            region_name=opts.region,
            endpoint_url=opts.endpoint_url,
            aws_access_key_id=opts.access_key_id,
            aws_secret_access_key=self._secret,
            aws_session_token=self._token,
            verify=verify,
            config=self._config_module.AioConfig(**config_kwargs),
        )
        self._client = await self._client_cm.__aenter__()

    async def close(self) -> None:
        """Close the client (idempotent)."""
        cm, self._client_cm, self._client = self._client_cm, None, None
        if cm is not None:
            await cm.__aexit__(None, None, None)

    async def healthcheck(self) -> SinkHealth:
        """``HeadBucket``: the bucket exists and the credentials may use it."""
        try:
            await self.start()
            await self._client.head_bucket(Bucket=self.options.bucket)
        except Exception as exc:
            return SinkHealth(False, str(self._classify(exc, "HeadBucket")))
        return SinkHealth(True, f"bucket {self.options.bucket} reachable")

    # -- sending ---------------------------------------------------------------------------------

    async def send(self, events: Sequence[Event]) -> SendResult:
        """Write the batch as objects; return once every PUT succeeded (or the object already existed)."""
        batch_key, progress = self._progress.take(events)
        try:
            await self.start()
            objects = self._plan(events, progress)
            for obj in objects:
                if obj.key in progress.done or all(o in progress.rejected for o in obj.owners):
                    continue
                for body, key, content_type, encoding in self._bodies(obj, events, progress):
                    await self._put(key, body, content_type, encoding)
                    progress.bytes_sent += len(body)
                progress.done.add(obj.key)
        except SinkTransientError:
            self._progress.keep(batch_key, progress)
            raise
        return progress.result(events)

    def _plan(self, events: Sequence[Event], progress: BatchProgress[str]) -> list[_Object]:
        groups: dict[str, list[tuple[int, Record]]] = defaultdict(list)
        for index, event in enumerate(events):
            try:
                records = encode_event(self.encoder, event)
                for record in records:
                    groups[self._partition(event, record)].append((index, record))
            except Exception as exc:  # one odd event must not block the batch
                progress.rejected.setdefault(index, f"{self.encoder.name} encoding failed: {type(exc).__name__}: {exc}")
        objects: list[_Object] = []
        for partition, items in groups.items():
            current: list[tuple[int, Record]] = []
            size = 0
            for index, record in items:
                length = len(record_json(record)) + 1 if isinstance(record, dict) else len(record) + 1
                if current and size + length > self.options.max_object_bytes:
                    objects.append(self._object(partition, current, events))
                    current, size = [], 0
                current.append((index, record))
                size += length
            if current:
                objects.append(self._object(partition, current, events))
        return objects

    def _object(self, partition: str, items: list[tuple[int, Record]], events: Sequence[Event]) -> _Object:
        owners = [i for i, _ in items]
        ids = [events[i].event_id for i in owners]
        suffix = ".parquet" if self.options.mode == "security_lake" else ".ndjson.gz"
        key = f"{partition}/{ids[0]}-{_digest(ids)}{suffix}"
        return _Object(key, owners, [r for _, r in items])

    def _partition(self, event: Event, record: Record) -> str:
        when = event.timestamp.astimezone(UTC)
        if self.options.mode == "security_lake":
            source = self.source_for(record)
            return (
                f"ext/{source}/region={self.options.region}/accountId={self.options.account_id}/eventDay={when:%Y%m%d}"
            )
        tenant = event.tenant.replace("/", "_")
        return f"{self.options.prefix}/{tenant}/{event.stream}/dt={when:%Y-%m-%d}/hour={when:%H}".lstrip("/")

    def source_for(self, record: Record) -> str:
        """The Security Lake custom source of an OCSF record (by its class)."""
        if not isinstance(record, dict):
            raise TypeError("security_lake mode needs OCSF records (format: ocsf)")
        class_uid = str(record.get("class_uid", "0"))
        if class_uid in self.options.sources:
            return self.options.sources[class_uid]
        return self.options.source_name.format(
            class_uid=class_uid, class_name=_kebab(str(record.get("class_name", "unknown")))
        )

    def _bodies(
        self, obj: _Object, events: Sequence[Event], progress: BatchProgress[str]
    ) -> list[tuple[bytes, str, str, str | None]]:
        if self.options.mode == "ndjson":
            lines = b"".join((record_json(r) if isinstance(r, dict) else r.encode()) + b"\n" for r in obj.records)
            body = gzip.compress(lines, self.options.gzip_level, mtime=0)
            return [(body, obj.key, "application/x-ndjson", "gzip")]
        return [
            (body, key, "application/vnd.apache.parquet", None) for body, key in self._parquet(obj, events, progress)
        ]

    def _parquet(self, obj: _Object, events: Sequence[Event], progress: BatchProgress[str]) -> list[tuple[bytes, str]]:
        """One Parquet file per object; records whose types cannot share a schema go to separate files."""
        rows = [
            (owner, _prune({**r, "unmapped": orjson.dumps(r["unmapped"]).decode()} if "unmapped" in r else r))
            for owner, r in zip(obj.owners, obj.records, strict=True)
            if isinstance(r, dict)
        ]
        rows.sort(key=lambda item: item[1].get("time", 0))
        out: list[tuple[bytes, str]] = []
        pending: list[list[tuple[int, dict[str, Any]]]] = [rows]
        while pending:
            part = pending.pop(0)
            if not part:
                continue
            try:
                table = self._pa.Table.from_pylist([row for _, row in part])
                buffer = io.BytesIO()
                self._pq.write_table(table, buffer, compression="zstd")
            except (self._pa.ArrowException, TypeError, ValueError) as exc:
                if len(part) == 1:
                    progress.rejected.setdefault(part[0][0], f"cannot store the OCSF record as Parquet: {exc}")
                    continue
                half = len(part) // 2
                pending[:0] = [part[:half], part[half:]]
                continue
            key = (
                obj.key
                if len(part) == len(rows)
                else obj.key.replace(".parquet", f"-{_digest([events[o].event_id for o, _ in part])}.parquet")
            )
            out.append((buffer.getvalue(), key))
        return out

    async def _put(self, key: str, body: bytes, content_type: str, encoding: str | None) -> None:
        kwargs: dict[str, Any] = {
            "Bucket": self.options.bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
            "IfNoneMatch": "*",
            "ChecksumAlgorithm": "CRC32",
        }
        if encoding:
            kwargs["ContentEncoding"] = encoding
        if self.options.storage_class:
            kwargs["StorageClass"] = self.options.storage_class
        if self.options.server_side_encryption:
            kwargs["ServerSideEncryption"] = self.options.server_side_encryption
        if self.options.kms_key_id:
            kwargs["SSEKMSKeyId"] = self.options.kms_key_id
        try:
            await wait_for(self._client.put_object(**kwargs), self.options.timeout.total_seconds() * 3)
        except Exception as exc:
            if _error_code(exc) in ("PreconditionFailed", "412"):
                return  # the object with this deterministic key is stored already: a re-delivery
            raise self._classify(exc, f"PutObject {key}") from None

    def _classify(self, exc: BaseException, doing: str) -> SinkTransientError | SinkPermanentError:
        code = _error_code(exc)
        status = _http_status(exc)
        detail = f"{type(exc).__name__}: {exc}"
        if code is None:
            return SinkTransientError(f"{KIND} sink {self.name}: {doing} failed: {detail}")
        if code in _TRANSIENT_CODES or (status is not None and (status >= 500 or status in (408, 429))):
            return SinkTransientError(f"{KIND} sink {self.name}: {doing} failed ({code}): {detail}")
        return SinkPermanentError(
            f"{KIND} sink {self.name}: {doing} refused ({code}); check the bucket, the credentials and their "
            f"s3:PutObject permission: {detail}"
        )


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code = error.get("Code")
        return str(code) if code is not None else None
    return None


def _http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return int(status) if status is not None else None
    return None
