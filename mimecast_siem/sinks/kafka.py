"""The ``kafka`` sink: produce each event to a Kafka topic, delivered once the broker acknowledged it.

Client library: **aiokafka** (pure Python on asyncio, like the daemon; SSL and SASL PLAIN / SCRAM built
in; no native librdkafka to ship or bridge from its own threads, as confluent-kafka would need). It is an
optional dependency: ``pip install 'mimecast-siem[kafka]'``; it is imported only when a kafka sink is
configured.

* **Delivery rule:** ``acks=all`` always; ``send`` returns only after every record's produce future
  resolved with its partition and offset (the broker's acknowledgement once all in-sync replicas have
  the record). Records acknowledged before a failure are remembered, so the router's retry of the same
  batch sends only the rest (duplicates are bounded to what was in flight when a process died).
* **Idempotent producer** (``idempotence: auto``): enabled; when the broker refuses ``InitProducerId``
  (older brokers, some Kafka-compatible ones) the sink logs a warning once and produces without it.
  ``true`` makes that refusal a configuration error, ``false`` never asks.
* **Order:** the record key is the email's message id (``key: message_id``; the event id when an
  event has none), so every event of one email lands in one partition, in order.
* **Topics** by template: ``{tenant}``, ``{stream}``, ``{dataset}`` (default ``mimecast.{stream}``).
* Record headers carry ``event_id``, ``tenant`` and ``stream``.
* Failures: connection errors, timeouts and retriable broker errors are transient; a record over the
  broker's size limit is dead-lettered; authorisation or SASL failures and unknown topics (auto-create
  off) are permanent, with the broker's reason.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from mimecast_siem.aio import wait_for
from mimecast_siem.config.models import Duration, SinkSettings
from mimecast_siem.events import Event
from mimecast_siem.sinks.base import (
    SendResult,
    SinkContext,
    SinkHealth,
    SinkPermanentError,
    SinkTransientError,
    exact_size,
)
from mimecast_siem.sinks.elasticsearch import dataset_of
from mimecast_siem.sinks.formats import Encoder, encode_event, get_encoder, record_json
from mimecast_siem.sinks.http_common import check_files, resolve_secret, tls_context
from mimecast_siem.sinks.progress import BatchProgress, ProgressMemory
from mimecast_siem.sinks.registry import check_template, format_options, import_extra, parse_options

log = logging.getLogger("mimecast_siem.sinks")

KIND = "Kafka"
TEMPLATE_FIELDS = frozenset({"tenant", "stream", "dataset"})
#: Compression codecs and the module each needs besides aiokafka.
_CODEC_MODULES = {"none": None, "gzip": None, "snappy": "cramjam", "lz4": "cramjam", "zstd": "cramjam"}


class KafkaSinkOptions(BaseModel):
    """Type-specific keys of a ``kafka`` sink."""

    model_config = ConfigDict(extra="forbid")

    bootstrap_servers: list[str] = Field(min_length=1, description="Brokers to bootstrap from, host:port each.")
    topic: str = Field(default="mimecast.{stream}", description="Topic (template: {tenant}, {stream}, {dataset}).")
    key: Literal["message_id", "event_id", "none"] = Field(
        default="message_id",
        description="Record key: the email's message id (one email's events keep their order), the event id, or none.",
    )
    idempotence: Literal["auto", "true", "false"] = Field(
        default="auto", description="Idempotent producer: auto (when the broker supports it), true, false."
    )
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        default="gzip", description="Compression of record batches (snappy/lz4/zstd need aiokafka's extras)."
    )
    linger: Duration = Field(default=timedelta(milliseconds=20), description="Wait this long to fill batches.")
    max_request_size: int = Field(
        default=1_048_576, ge=1024, description="Largest request (and record) the producer sends, in bytes."
    )
    request_timeout: Duration = Field(default=timedelta(seconds=30), description="Broker request timeout.")
    delivery_timeout: Duration = Field(
        default=timedelta(seconds=60), description="Give up waiting for acknowledgements after this (retried later)."
    )
    client_id: str = Field(default="mimecast-siem", description="Client id the brokers see.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    verify_tls: bool = Field(default=True, description="Verify the brokers' certificates (off is logged loudly).")
    ca_file: Path | None = Field(default=None, description="CA bundle (PEM) to verify the brokers.")
    client_cert_file: Path | None = Field(default=None, description="Client certificate (PEM) for mutual TLS.")
    client_key_file: Path | None = Field(default=None, description="Client key (PEM) for mutual TLS.")
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism (with SASL_PLAINTEXT / SASL_SSL)."
    )
    sasl_username: str | None = Field(default=None, description="SASL user.")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password.")
    sasl_password_file: Path | None = Field(default=None, description="File holding the SASL password.")
    sasl_password_env: str | None = Field(default=None, description="Environment variable holding the SASL password.")
    format_options: dict[str, Any] = Field(default_factory=dict, description="Options of the sink's format.")

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers(cls, value: list[str]) -> list[str]:
        for server in value:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server!r} is not host:port (e.g. kafka-1.example.com:9093)")
        return value

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        check_template(value, TEMPLATE_FIELDS)
        sample = value.format(tenant="t", stream="ttp-url", dataset="ttp_url")
        if not sample or len(sample) > 249 or any(not (c.isalnum() or c in "._-") for c in sample):
            raise ValueError("a topic name has at most 249 characters: letters, digits, '.', '_' and '-'")
        return value

    @model_validator(mode="after")
    def _checks(self) -> KafkaSinkOptions:
        sasl = self.security_protocol.startswith("SASL")
        if sasl and (self.sasl_mechanism is None or self.sasl_username is None):
            raise ValueError(f"{self.security_protocol} needs sasl_mechanism and sasl_username (and a password)")
        if not sasl and self.sasl_mechanism is not None:
            raise ValueError("sasl_mechanism needs security_protocol SASL_PLAINTEXT or SASL_SSL")
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("give both client_cert_file and client_key_file for mutual TLS")
        tls_keys = [k for k in ("ca_file", "client_cert_file") if getattr(self, k) is not None]
        if tls_keys and not self.security_protocol.endswith("SSL"):
            raise ValueError(f"{tls_keys[0]} needs security_protocol SSL or SASL_SSL")
        return self


@dataclass(slots=True)
class _Record:
    owner: int
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def message_id_of(event: Event) -> str | None:
    """The email's Message-ID of an event (ECS ``email.message_id`` or the raw ``messageId``)."""
    email = event.document.get("email") if isinstance(event.document, dict) else None
    value = email.get("message_id") if isinstance(email, dict) else None
    if not value and isinstance(event.raw, dict):
        value = event.raw.get("messageId") or event.raw.get("message_id")
    return str(value) if value else None


class KafkaSink:
    """Produce events to Kafka with broker-acknowledged delivery (see the module docstring)."""

    options_model: ClassVar[type[BaseModel]] = KafkaSinkOptions
    bounds_own_bytes: ClassVar[bool] = True

    def __init__(self, settings: SinkSettings, context: SinkContext) -> None:
        self.name = settings.name
        self.options = parse_options(settings, KafkaSinkOptions, KIND)
        self.encoder: Encoder = get_encoder(settings.format, format_options(settings))
        self._aiokafka = import_extra("aiokafka", "kafka")
        codec_module = _CODEC_MODULES[self.options.compression]
        if codec_module is not None:
            import_extra(codec_module, "kafka", what=f"compression {self.options.compression}", key="compression")
        check_files(self.options, KIND, self.name)
        self._password: str | None = None
        if self.options.security_protocol.startswith("SASL"):
            self._password = resolve_secret(self.options, "sasl_password", KIND, self.name, label="SASL password")
        self._idempotent = self.options.idempotence != "false"
        self._confirmed_idempotence = False
        self._producer: Any = None
        self._progress: ProgressMemory[int] = ProgressMemory()

    # -- lifecycle -------------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.options.security_protocol.endswith("SSL"):
            return None
        return tls_context(self.options, KIND, self.name)

    def _producer_kwargs(self) -> dict[str, Any]:
        opts = self.options
        kwargs: dict[str, Any] = {
            "bootstrap_servers": list(opts.bootstrap_servers),
            "client_id": opts.client_id,
            "acks": "all",
            "enable_idempotence": self._idempotent,
            "compression_type": None if opts.compression == "none" else opts.compression,
            "linger_ms": int(opts.linger.total_seconds() * 1000),
            "max_request_size": opts.max_request_size,
            "request_timeout_ms": int(opts.request_timeout.total_seconds() * 1000),
            "security_protocol": opts.security_protocol,
            "ssl_context": self._ssl_context(),
        }
        if opts.sasl_mechanism is not None:
            kwargs.update(
                sasl_mechanism=opts.sasl_mechanism,
                sasl_plain_username=opts.sasl_username,
                sasl_plain_password=self._password,
            )
        return kwargs

    async def start(self) -> None:
        """Connect the producer to the cluster (transient on connection errors)."""
        if self._producer is not None:
            return
        producer = self._aiokafka.AIOKafkaProducer(**self._producer_kwargs())
        try:
            await wait_for(producer.start(), self.options.request_timeout.total_seconds())
        except BaseException as exc:
            await _stop_quietly(producer)
            error = self._classify(exc, "connecting")
            if not self._falls_back(error):
                raise error from None
            await self.start()
            return
        self._producer = producer

    def _falls_back(self, error: BaseException) -> bool:
        """With ``idempotence: auto``, give up idempotence once when the broker refuses it (True: retry)."""
        if not (self.options.idempotence == "auto" and self._idempotent and getattr(error, "idempotence", False)):
            return False
        log.warning(
            "%s. idempotence is auto: producing without it (acks=all still applies; a retried request may "
            "duplicate a record).",
            error,
        )
        self._idempotent = False
        return True

    async def close(self) -> None:
        """Flush and stop the producer (idempotent)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await _stop_quietly(producer)

    async def healthcheck(self) -> SinkHealth:
        """Fetch the cluster metadata."""
        try:
            await self.start()
            await wait_for(self._producer.client.fetch_all_metadata(), self.options.request_timeout.total_seconds())
        except (SinkTransientError, SinkPermanentError) as exc:
            return SinkHealth(False, str(exc))
        except Exception as exc:
            return SinkHealth(False, f"metadata request failed: {type(exc).__name__}: {exc}")
        brokers = len(self._producer.client.cluster.brokers())
        return SinkHealth(True, f"{brokers} broker(s)")

    # -- sending ---------------------------------------------------------------------------------

    async def send(self, events: Sequence[Event]) -> SendResult:
        """Produce the batch; return once the broker acknowledged every record (acks=all)."""
        key, progress = self._progress.take(events)
        records = self._encode(events, progress)
        try:
            await self.start()
            await self._produce(records, progress)
        except SinkTransientError:
            self._progress.keep(key, progress)
            raise
        return progress.result(events)

    def topic_for(self, event: Event) -> str:
        """The topic an event goes to."""
        return self.options.topic.format(tenant=event.tenant, stream=event.stream, dataset=dataset_of(event))

    def _key_for(self, event: Event) -> bytes | None:
        if self.options.key == "none":
            return None
        if self.options.key == "message_id":
            return (message_id_of(event) or event.event_id).encode()
        return event.event_id.encode()

    def _encode(self, events: Sequence[Event], progress: BatchProgress[int]) -> list[_Record]:
        records: list[_Record] = []
        for index, event in enumerate(events):
            try:
                topic = self.topic_for(event)
                key = self._key_for(event)
                headers = [("event_id", event.event_id.encode()), ("tenant", event.tenant.encode())]
                headers.append(("stream", event.stream.encode()))
                # Held until the brokers acknowledged the batch.
                values = [
                    r.encode() if isinstance(r, str) else exact_size(record_json(r))
                    for r in encode_event(self.encoder, event)
                ]
            except Exception as exc:  # one odd event must not block the batch
                progress.rejected.setdefault(index, f"{self.encoder.name} encoding failed: {type(exc).__name__}: {exc}")
                continue
            for value in values:
                size = len(value) + len(key or b"") + 100
                if size > self.options.max_request_size:
                    progress.rejected.setdefault(
                        index, f"record is {size} bytes, over max_request_size ({self.options.max_request_size})"
                    )
                records.append(_Record(index, topic, key, value, headers))
        return records

    async def _produce(self, records: list[_Record], progress: BatchProgress[int]) -> None:
        pending = [
            i for i in range(len(records)) if i not in progress.done and records[i].owner not in progress.rejected
        ]
        if not pending:
            return
        try:
            await self._produce_once(records, pending, progress)
        except SinkPermanentError as exc:
            if not self._falls_back(exc):
                raise
            await self.close()
            await self.start()
            pending = [i for i in pending if i not in progress.done]
            await self._produce_once(records, pending, progress)

    async def _produce_once(self, records: list[_Record], pending: list[int], progress: BatchProgress[int]) -> None:
        producer = self._producer
        futures: list[tuple[int, asyncio.Future[Any]]] = []
        errors: list[BaseException] = []
        try:
            for i in pending:
                record = records[i]
                try:
                    future = await producer.send(record.topic, record.value, key=record.key, headers=record.headers)
                except BaseException as exc:
                    if self._is_too_large(exc):
                        progress.rejected.setdefault(record.owner, f"the record is too large for Kafka: {exc}")
                        continue
                    errors.append(exc)
                    break
                futures.append((i, future))
            timeout = self.options.delivery_timeout.total_seconds()
            _, not_done = await asyncio.wait([f for _, f in futures], timeout=timeout) if futures else (set(), set())
            for i, future in futures:
                if future in not_done:
                    continue
                failure = future.exception()
                if failure is None:
                    progress.done.add(i)
                    progress.bytes_sent += len(records[i].value)
                elif self._is_too_large(failure):
                    progress.rejected.setdefault(
                        records[i].owner, f"the broker refused the record as too large: {failure}"
                    )
                else:
                    errors.append(failure)
            if not_done:
                errors.append(TimeoutError(f"{len(not_done)} record(s) not acknowledged within {timeout:g} s"))
        except asyncio.CancelledError:
            for _, future in futures:
                future.cancel()
            raise
        if errors:
            raise self._classify(errors[0], "producing")

    def _is_too_large(self, exc: BaseException) -> bool:
        errors = self._aiokafka.errors
        return isinstance(exc, errors.MessageSizeTooLargeError | errors.RecordTooLargeError)

    def _classify(self, exc: BaseException, doing: str) -> SinkTransientError | SinkPermanentError:
        if isinstance(exc, SinkTransientError | SinkPermanentError):
            return exc
        errors = self._aiokafka.errors
        detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
        idempotence_refused = self._idempotent and isinstance(
            exc, errors.UnknownError | errors.UnsupportedVersionError | errors.ClusterAuthorizationFailedError
        )
        if idempotence_refused:
            error = SinkPermanentError(
                f"{KIND} sink {self.name}: the broker refused the idempotent producer ({detail}); "
                "set idempotence: false (or auto) for this cluster"
            )
            error.idempotence = True  # type: ignore[attr-defined]
            return error
        if isinstance(
            exc,
            errors.TopicAuthorizationFailedError
            | errors.ClusterAuthorizationFailedError
            | errors.InvalidTopicError
            | errors.UnsupportedSaslMechanismError
            | errors.IllegalSaslStateError,
        ):
            return SinkPermanentError(f"{KIND} sink {self.name}: {doing} failed: {detail}")
        if isinstance(exc, KeyError | errors.AuthenticationFailedError) or "auth" in type(exc).__name__.lower():
            return SinkPermanentError(
                f"{KIND} sink {self.name}: SASL authentication failed ({detail}); check sasl_username, the "
                "password and sasl_mechanism"
            )
        return SinkTransientError(f"{KIND} sink {self.name}: {doing} failed: {detail}")


async def _stop_quietly(producer: Any) -> None:
    try:
        await wait_for(producer.stop(), 30)
    except Exception as exc:
        log.debug("Stopping a Kafka producer failed: %s", exc)
