"""The ``syslog`` sink: RFC 5424 (or 3164) over TCP, TLS or UDP, to rsyslog, syslog-ng, QRadar, ArcSight ...

Split as encoder → message builder → transport:

* the sink's format (``cef``, ``leef``, ``json``, ``raw``, ``ocsf``) encodes each event into records;
  a text record is the syslog MSG as it is, a JSON record travels as compact JSON;
* :class:`~mimecast_siem.sinks.formats.syslog_header.SyslogMessageBuilder` wraps each record in an RFC
  5424 (or 3164) header with structured data ``[mimecast@32473 tenant=… stream=… event_id=…]`` and
  holds the message to ``max_message_bytes`` *before* framing (cut on a UTF-8 boundary with a
  marker, or the event sent to the dead-letter file with ``oversize: dead-letter``), so no receiver
  ever splits one event into bogus records;
* :mod:`~mimecast_siem.sinks.syslog_transport` moves the framed bytes (octet counting or LF for
  TCP/TLS, one datagram per message for UDP).

Delivery (docs/sinks-syslog.md): ``send`` returns only when the whole batch was written, drained and
acknowledged by the receiver's TCP stack, on a connection the receiver had not closed. Any failure
drops the connection and raises :class:`~mimecast_siem.sinks.base.SinkTransientError`; the router
resends the whole batch (at-least-once; duplicates carry the same ``event_id``). After the receiver
resets a connection (or any TLS connection ends), the last ``replay_bytes`` of messages already
acknowledged are sent again first on the new connection, since the receiver may have dropped them
unread. Reconnects back off exponentially. A TLS certificate the sink cannot verify raises
:class:`~mimecast_siem.sinks.base.SinkPermanentError` with the reason. UDP has no delivery feedback
and is at-most-once: opt in knowingly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mimecast_siem import __version__
from mimecast_siem.config.models import STREAM_NAMES, Duration, SinkSettings
from mimecast_siem.events import Event
from mimecast_siem.observability.metrics import metrics
from mimecast_siem.sinks.base import (
    Rejection,
    SendResult,
    SinkContext,
    SinkHealth,
    SinkPermanentError,
    SinkTransientError,
)
from mimecast_siem.sinks.formats import Encoder, encode_event, get_encoder, record_json
from mimecast_siem.sinks.formats.event_facts import event_severity, syslog_severity
from mimecast_siem.sinks.formats.syslog_header import (
    APP_NAME_MAX,
    HOSTNAME_MAX,
    MSGID_MAX,
    PROCID_MAX,
    Framing,
    StreamHeader,
    SyslogMessageBuilder,
    frame_lf,
    frame_octet_counting,
    is_valid_header_field,
    is_valid_sd_name,
    parse_facility,
    parse_severity,
)
from mimecast_siem.sinks.registry import format_options, parse_options
from mimecast_siem.sinks.relp import RelpConnection, RelpError
from mimecast_siem.sinks.syslog_transport import (
    FALLBACK_RECEIVE_BUFFER,
    DatagramConnection,
    PeerClosedError,
    ReconnectBackoff,
    ReplayBuffer,
    StreamConnection,
    kernel_max_receive_buffer,
    replay_needed,
)

log = logging.getLogger("mimecast_siem.sinks")

Connection = StreamConnection | DatagramConnection | RelpConnection

UDP_MAX_PAYLOAD = 65_507
"""Largest UDP payload Linux sends over IPv4 (65,535 - 8 UDP - 20 IP header); EMSGSIZE above."""
DEFAULT_MAX_BYTES_STREAM = 8000
"""Default ceiling for TCP/TLS: below rsyslog's default ``maxMessageSize`` of 8k (8192)."""
DEFAULT_MAX_BYTES_UDP = 2048
"""Default ceiling for UDP: what RFC 5426 says receivers SHOULD accept (1,472 avoids IP fragmentation)."""
MIN_MAX_BYTES = 480
"""RFC 5426: every IPv4 receiver MUST accept 480 octets; a smaller ceiling could not hold a header."""
MAX_MAX_BYTES = 1_048_576
MAX_REPLAY_BYTES = 256 * 1024 * 1024
DEFAULT_UDP_RATE = 2000
"""Default UDP pacing, datagrams per second (bench/udp_loss.py measures loss per setting)."""
"""Largest replay buffer (memory held per TCP/TLS syslog sink)."""

_DEFAULT_PORTS = {"udp": 514, "tcp": 514, "tls": 6514, "relp": 2514}


# --- options ----------------------------------------------------------------------------------------


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SyslogTlsOptions(_Options):
    """TLS settings of a ``syslog`` sink (``transport: tls``)."""

    verify: bool = Field(
        default=True,
        description="Verify the receiver's certificate and name. Turning this off is logged as a warning at start.",
    )
    ca_file: Path | None = Field(
        default=None, description="CA bundle (PEM) to verify the receiver; default: system CAs."
    )
    cert_file: Path | None = Field(default=None, description="Client certificate (PEM) for mutual TLS.")
    key_file: Path | None = Field(default=None, description="Private key (PEM) of cert_file, unencrypted.")
    server_name: str | None = Field(
        default=None, description="Name expected in the receiver's certificate (and sent as SNI); default: host."
    )
    min_version: Literal["1.2", "1.3"] = Field(default="1.2", description="Lowest TLS version offered (RFC 9662).")

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist or is not a file")
        if value is not None and not os.access(value, os.R_OK):
            raise ValueError(f"file {value} is not readable")
        return value

    @model_validator(mode="after")
    def _pair(self) -> SyslogTlsOptions:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("mutual TLS needs both cert_file and key_file")
        return self


class SyslogStreamOptions(_Options):
    """Per-stream header values of a ``syslog`` sink."""

    app_name: str | None = Field(default=None, description="APP-NAME (RFC 5424) / TAG (RFC 3164) for this stream.")
    msgid: str | None = Field(default=None, description="MSGID for this stream (default: the stream name).")

    @field_validator("app_name")
    @classmethod
    def _app_name(cls, value: str | None) -> str | None:
        return _header_value(value, APP_NAME_MAX, "app_name")

    @field_validator("msgid")
    @classmethod
    def _msgid(cls, value: str | None) -> str | None:
        return _header_value(value, MSGID_MAX, "msgid")


def _header_value(value: str | None, cap: int, what: str) -> str | None:
    if value is not None and not is_valid_header_field(value, cap):
        raise ValueError(f"{what} must be 1-{cap} printable US-ASCII characters without spaces")
    return value


class SyslogSinkOptions(_Options):
    """Type-specific keys of a ``syslog`` sink."""

    host: str = Field(min_length=1, description="Receiver host name or address.")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Receiver port; default 514 (udp/tcp), 6514 (tls), 2514 (relp)."
    )
    transport: Literal["tcp", "tls", "udp", "relp"] = Field(
        default="tcp",
        description="tcp, tls (RFC 5425), relp (rsyslog's RELP: every message acknowledged by the receiver "
        "process), or udp (RFC 5426: no delivery feedback, at-most-once; counted as sent, not delivered).",
    )
    udp_rate: int | None = Field(
        default=DEFAULT_UDP_RATE,
        ge=1,
        le=1_000_000,
        description="UDP only: datagrams per second at most, paced evenly across batches (a batch sent back to back "
        "overflows the receiver's socket buffer and the kernel drops the rest silently); null = unpaced.",
    )
    udp_send_buffer: int | None = Field(
        default=None,
        ge=4096,
        le=256 * 1024 * 1024,
        description="UDP only: the socket's send buffer (SO_SNDBUF, bytes; the kernel doubles it and caps it at "
        "wmem_max); default: the kernel's.",
    )
    relp_window: int = Field(
        default=128,
        ge=1,
        le=4096,
        description="RELP only: messages sent and not yet acknowledged at most (librelp's default is 128).",
    )
    framing: Literal["octet-counting", "lf"] | None = Field(
        default=None,
        description="TCP/TLS framing (RFC 6587): octet-counting (default; safe for any content) or lf "
        "(newline-terminated; embedded LFs are sent as the two characters \\n).",
    )
    rfc: Literal["5424", "3164"] = Field(default="5424", description="Message format: 5424 (default) or legacy 3164.")
    tls: SyslogTlsOptions = Field(default_factory=SyslogTlsOptions, description="TLS settings (transport tls).")
    facility: str | int = Field(default="local0", description="Facility: a name (local0 ... local7, mail ...) or 0-23.")
    severity: str | int = Field(
        default="auto",
        description="auto (from the event: malicious or blocked → warning, suspicious → notice, else info), "
        "or a fixed name/number 0-7.",
    )
    app_name: str = Field(default="mimecast-siem", description="APP-NAME (RFC 5424) / TAG (RFC 3164).")
    msgid: str | None = Field(default=None, description="MSGID for every stream; default: the stream name.")
    streams: dict[str, SyslogStreamOptions] = Field(
        default_factory=dict, description="Per-stream app_name / msgid, keyed by stream name."
    )
    hostname: str | None = Field(default=None, description="HOSTNAME field; default: this machine's host name.")
    procid: str | None = Field(default=None, description="PROCID field; default: the process id; '-' for none.")
    structured_data: bool = Field(
        default=True, description="Add [sd_id tenant=... stream=... event_id=...] (RFC 5424 only)."
    )
    sd_id: str = Field(
        default="mimecast@32473",
        description="SD-ID of that element (name@<IANA enterprise number>; 32473 is the documentation number).",
    )
    utf8_bom: bool = Field(
        default=True,
        description="Start MSG with the UTF-8 BOM as RFC 5424 asks; turn off for parsers that expect 'CEF:' first.",
    )
    max_message_bytes: int | None = Field(
        default=None,
        ge=MIN_MAX_BYTES,
        le=MAX_MAX_BYTES,
        description="Ceiling of one message before framing; default 8000 (tcp/tls, under rsyslog's 8k default) "
        "or 2048 (udp; at most 65507, 1472 avoids IP fragmentation).",
    )
    oversize: Literal["truncate", "dead-letter"] = Field(
        default="truncate",
        description="A message over max_message_bytes: truncate (cut MSG, ends with ...[truncated]) or "
        "dead-letter (keep the whole event in the dead-letter file instead).",
    )
    connect_timeout: Duration = Field(default=timedelta(seconds=10), description="Connect + TLS handshake timeout.")
    write_timeout: Duration = Field(default=timedelta(seconds=30), description="Time for a batch to leave the process.")
    ack_timeout: Duration = Field(
        default=timedelta(seconds=30),
        description="Time for the receiver's TCP stack to acknowledge a batch (Linux); 0 = do not wait.",
    )
    connect_settle: Duration = Field(
        default=timedelta(milliseconds=500),
        description="After connecting, wait this long for the receiver to refuse the session (a TLS 1.3 "
        "client-certificate refusal, a session limit) before sending; raise it above the round-trip time.",
    )
    replay_bytes: int | None = Field(
        default=None,
        ge=0,
        le=MAX_REPLAY_BYTES,
        description="After the receiver resets the connection (or any TLS connection ends), send again the "
        "last this many bytes of messages (whole messages) first on the new connection: the receiver's "
        "kernel had acknowledged them but the receiver may have dropped them unread. Duplicates carry the "
        "same event_id. Default: the largest TCP receive buffer this machine's kernel allows (max of "
        "tcp_rmem's max and 2 x rmem_max; logged at start); 0 turns it off (TCP/TLS only). Only RELP "
        "closes the gap fully.",
    )
    reconnect_backoff_initial: Duration = Field(
        default=timedelta(milliseconds=500), description="Wait before reconnecting after the first failure."
    )
    reconnect_backoff_max: Duration = Field(
        default=timedelta(seconds=30), description="Longest wait between reconnects."
    )
    format_options: dict[str, Any] = Field(default_factory=dict, description="Options of the sink's format.")

    @field_validator("rfc", mode="before")
    @classmethod
    def _rfc_number(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("facility")
    @classmethod
    def _facility(cls, value: str | int) -> str | int:
        parse_facility(value)
        return value

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: str | int) -> str | int:
        if not (isinstance(value, str) and value.strip().lower() == "auto"):
            parse_severity(value)
        return value

    @field_validator("app_name")
    @classmethod
    def _app_name(cls, value: str) -> str:
        _header_value(value, APP_NAME_MAX, "app_name")
        return value

    @field_validator("msgid")
    @classmethod
    def _msgid(cls, value: str | None) -> str | None:
        return _header_value(value, MSGID_MAX, "msgid")

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        return _header_value(value, HOSTNAME_MAX, "hostname")

    @field_validator("procid")
    @classmethod
    def _procid(cls, value: str | None) -> str | None:
        return _header_value(value, PROCID_MAX, "procid")

    @field_validator("sd_id")
    @classmethod
    def _sd_id(cls, value: str) -> str:
        if not is_valid_sd_name(value):
            raise ValueError('sd_id must be 1-32 printable US-ASCII characters without =, space, ] or "')
        if "@" not in value:
            raise ValueError("a private sd_id must be name@<IANA enterprise number>, e.g. mimecast@32473")
        return value

    @field_validator("streams")
    @classmethod
    def _streams(cls, value: dict[str, SyslogStreamOptions]) -> dict[str, SyslogStreamOptions]:
        unknown = sorted(set(value) - set(STREAM_NAMES))
        if unknown:
            raise ValueError(f"unknown stream {unknown[0]!r}; allowed: {', '.join(STREAM_NAMES)}")
        return value

    @model_validator(mode="after")
    def _transport_rules(self) -> SyslogSinkOptions:
        if self.transport == "relp" and self.framing is not None:
            raise ValueError("framing applies to transport tcp and tls only (RELP frames every message itself)")
        if self.transport != "relp" and "relp_window" in self.model_fields_set:
            raise ValueError(f"relp_window applies to transport relp only (transport is {self.transport})")
        for key in ("udp_rate", "udp_send_buffer"):
            if self.transport != "udp" and key in self.model_fields_set:
                raise ValueError(f"{key} applies to transport udp only (transport is {self.transport})")
        if self.transport == "udp":
            if self.framing is not None:
                raise ValueError("framing applies to transport tcp and tls only (UDP sends one message per datagram)")
            if self.max_message_bytes is not None and self.max_message_bytes > UDP_MAX_PAYLOAD:
                raise ValueError(
                    f"max_message_bytes {self.max_message_bytes} exceeds the UDP limit of {UDP_MAX_PAYLOAD} bytes; "
                    "use 1472 (no IP fragmentation) to 2048, or transport tcp/tls for large messages"
                )
        if self.transport != "tls" and "tls" in self.model_fields_set:
            raise ValueError(f"tls settings apply to transport tls only (transport is {self.transport})")
        return self

    # --- derived values --------------------------------------------------------------------------

    def effective_port(self) -> int:
        """The port, or the transport's default."""
        return self.port or _DEFAULT_PORTS[self.transport]

    def effective_framing(self) -> Framing:
        """The TCP/TLS framing (octet counting unless configured)."""
        return self.framing or "octet-counting"

    def effective_max_bytes(self) -> int:
        """The size ceiling (transport default unless configured)."""
        if self.max_message_bytes is not None:
            return self.max_message_bytes
        return DEFAULT_MAX_BYTES_UDP if self.transport == "udp" else DEFAULT_MAX_BYTES_STREAM

    def fixed_severity(self) -> int | None:
        """The configured severity, or None for ``auto``."""
        if isinstance(self.severity, str) and self.severity.strip().lower() == "auto":
            return None
        return parse_severity(self.severity)


def message_builder(options: SyslogSinkOptions) -> SyslogMessageBuilder:
    """The pure message builder for ``options`` (defaults for hostname and procid filled in)."""
    hostname = options.hostname or socket.gethostname() or "-"
    return SyslogMessageBuilder(
        rfc=options.rfc,
        facility=parse_facility(options.facility),
        hostname=hostname,
        app_name=options.app_name,
        procid=options.procid or str(os.getpid()),
        sd_id=options.sd_id if options.structured_data else None,
        utf8_bom=options.utf8_bom,
        lf_safe=options.transport in ("tcp", "tls") and options.effective_framing() == "lf",
        max_bytes=options.effective_max_bytes(),
        msgid=options.msgid,
        streams={name: StreamHeader(app_name=s.app_name, msgid=s.msgid) for name, s in options.streams.items()},
    )


def tls_context(tls: SyslogTlsOptions) -> ssl.SSLContext:
    """The client TLS context for ``tls`` (verification on unless turned off).

    Raises:
        SinkPermanentError: a certificate, key or CA file cannot be loaded (the message names it).
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if tls.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    try:
        if tls.ca_file is not None:
            context.load_verify_locations(cafile=str(tls.ca_file))
        if tls.cert_file is not None and tls.key_file is not None:
            context.load_cert_chain(certfile=str(tls.cert_file), keyfile=str(tls.key_file))
    except (OSError, ssl.SSLError) as exc:
        raise SinkPermanentError(
            f"cannot load the syslog TLS files (ca_file={tls.ca_file}, client_cert_file={tls.cert_file}, "
            f"client_key_file={tls.key_file}): {exc}"
        ) from None
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# --- rendering (pure) --------------------------------------------------------------------------------


@dataclass(slots=True)
class RenderedBatch:
    """A batch turned into wire messages.

    Attributes:
        messages: one entry per syslog message, framed for TCP/TLS (or a bare datagram for UDP).
        accepted: events fully rendered.
        rejected: events that could not be encoded, or were too large with ``oversize: dead-letter``.
        truncated: messages cut to the ceiling.
    """

    messages: list[bytes] = field(default_factory=list)
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    truncated: int = 0


def record_text(record: dict[str, Any] | str) -> str:
    """MSG text of one encoded record: text as it is, a JSON object as compact JSON."""
    if isinstance(record, str):
        return record
    return record_json(record).decode()


def render_batch(
    events: Sequence[Event],
    *,
    encoder: Encoder,
    builder: SyslogMessageBuilder,
    framing: Framing | None,
    fixed_severity: int | None,
    dead_letter_oversize: bool,
) -> RenderedBatch:
    """Encode, wrap, size-limit and frame every event (``framing`` None = UDP datagrams)."""
    out = RenderedBatch()
    build = builder.build
    messages = out.messages
    # frame(), chosen once for the batch.
    framed = None if framing is None else frame_octet_counting if framing == "octet-counting" else frame_lf
    for event in events:
        try:
            records = encode_event(encoder, event)
            texts = [r if isinstance(r, str) else record_text(r) for r in records]
        except Exception as exc:  # one unencodable event must not fail the batch
            out.rejected.append(Rejection(event, f"the {encoder.name} encoder failed: {type(exc).__name__}: {exc}"))
            continue
        try:
            severity = fixed_severity if fixed_severity is not None else syslog_severity(event_severity(event))
            built = [
                build(
                    severity=severity,
                    timestamp=event.timestamp,
                    tenant=event.tenant,
                    stream=event.stream,
                    event_id=event.event_id,
                    msg=text,
                )
                for text in texts
            ]
        except Exception as exc:  # e.g. a naive timestamp: refuse the event, keep the batch
            out.rejected.append(Rejection(event, f"cannot build the syslog message: {type(exc).__name__}: {exc}"))
            continue
        if len(built) == 1:  # one record per event is the common case (OCSF may add a finding)
            only = built[0]
            cut = 1 if only.truncated else 0
        else:
            cut = sum(1 for b in built if b.truncated)
        if cut and dead_letter_oversize:
            out.rejected.append(
                Rejection(event, f"the syslog message exceeds max_message_bytes ({builder.max_bytes} bytes)")
            )
            continue
        out.truncated += cut
        if len(built) == 1:
            messages.append(only.data if framed is None else framed(only.data))
        else:
            messages.extend(b.data if framed is None else framed(b.data) for b in built)
        out.accepted += 1
    return out


# --- the sink ----------------------------------------------------------------------------------------


class SyslogSink:
    """Send events to a syslog receiver (see the module docstring)."""

    options_model: ClassVar[type[BaseModel]] = SyslogSinkOptions
    #: The router cuts batches by events only (router.py). Each message is capped (max_message_bytes); a batch is a byte stream.
    bounds_own_bytes: ClassVar[bool] = True

    def __init__(self, settings: SinkSettings, context: SinkContext) -> None:
        self.name = settings.name
        self.options = parse_options(settings, SyslogSinkOptions, "syslog")
        self.encoder: Encoder = get_encoder(settings.format, format_options(settings))
        self.builder = message_builder(self.options)
        self.host = self.options.host
        self.port = self.options.effective_port()
        self.transport = self.options.transport
        # UDP sends one message per datagram and RELP frames each message itself: no syslog framing.
        self.framing: Framing | None = None if self.transport in ("udp", "relp") else self.options.effective_framing()
        self.backoff = ReconnectBackoff(
            initial=self.options.reconnect_backoff_initial.total_seconds(),
            maximum=self.options.reconnect_backoff_max.total_seconds(),
        )
        self._ssl: ssl.SSLContext | None = None
        self._connection: Connection | None = None
        self._failures = 0
        self._next_attempt = 0.0
        self._opened_once = False
        self._lock = asyncio.Lock()
        #: Frames sent on the current connection (most recent replay_bytes), and frames to send again
        #: first on the next one after a connection loss (see syslog_transport.ReplayBuffer).
        replay_bytes = self.replay_bytes() if self.transport in ("tcp", "tls") else 0
        self._recent = ReplayBuffer(replay_bytes)
        self._to_replay = ReplayBuffer(replay_bytes)
        # Exposed at 0 from the start, so rate() and alerts work before the first replay or cut.
        metrics().sink_messages_replayed.labels(sink=self.name)
        metrics().sink_messages_truncated.labels(sink=self.name)
        del context  # nothing of the context is needed: no files, no identity in the wire format

    def replay_bytes(self) -> int:
        """The replay buffer's size: configured, or the largest receive buffer the local kernel allows."""
        configured = self.options.replay_bytes
        if configured is not None:
            return configured
        kernel = kernel_max_receive_buffer()
        return min(kernel if kernel is not None else FALLBACK_RECEIVE_BUFFER, MAX_REPLAY_BYTES)

    def _announce_replay(self) -> None:
        """Say how much a receiver crash can still cost (loud when configured below the kernel's limit)."""
        size = self.replay_bytes()
        kernel = kernel_max_receive_buffer()
        limit = f"{kernel:,} bytes on this machine" if kernel is not None else "unknown here"
        if kernel is not None and size < kernel:
            log.warning(
                "Syslog sink %s replays only the last %s bytes after a connection loss, but a TCP receive buffer "
                "can hold %s: a receiver that dies with a fuller buffer loses the difference unnoticed. Raise "
                "replay_bytes (or leave it unset) or use transport relp for acknowledged delivery.",
                self.name,
                f"{size:,}",
                limit,
            )
            return
        log.info(
            "Syslog sink %s replays the last %s bytes after a connection loss (largest TCP receive buffer: %s). "
            "A receiver on a machine allowing larger buffers can still lose acknowledged messages it never "
            "read; transport relp closes that gap.",
            self.name,
            f"{size:,}",
            limit,
        )

    @property
    def peer(self) -> str:
        """``host:port`` of the receiver (for messages; never carries secrets)."""
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Prepare TLS and open the connection.

        Raises:
            SinkPermanentError: TLS files cannot be loaded, or the receiver's certificate is refused.
            SinkTransientError: the receiver cannot be reached now.
        """
        if self.transport == "tls":
            self._ssl = tls_context(self.options.tls)
            if not self.options.tls.verify:
                log.warning(
                    "TLS certificate verification is OFF for syslog sink %s (%s): anyone on the path can read "
                    "and alter the events. Set verify_tls: true with ca_file.",
                    self.name,
                    self.peer,
                )
        if self.transport in ("tcp", "tls"):
            self._announce_replay()
        if self.transport == "udp":
            log.info("Syslog sink %s sends over UDP to %s: there is no delivery feedback.", self.name, self.peer)
        if self.transport == "relp":
            log.info(
                "Syslog sink %s sends over RELP to %s: a message counts as delivered when the receiver acknowledged it.",
                self.name,
                self.peer,
            )
        async with self._lock:
            await self._ensure_connected()

    async def healthcheck(self) -> SinkHealth:
        """OK when a connection is open, or can be opened now (never waits for a backoff)."""
        connection = self._connection
        if connection is not None and connection.alive():
            return SinkHealth(True, f"connected to {self.peer} over {self.transport}")
        if self._lock.locked():  # a send is reconnecting right now; do not queue behind it
            return SinkHealth(False, f"reconnecting to {self.peer}")
        async with self._lock:
            try:
                await self._connect()
            except (SinkTransientError, SinkPermanentError) as exc:
                return SinkHealth(False, str(exc))
            return SinkHealth(True, f"connected to {self.peer} over {self.transport}")

    async def send(self, events: Sequence[Event]) -> SendResult:
        """Deliver the batch; return once written, drained and acknowledged (see the module docstring)."""
        rendered = render_batch(
            events,
            encoder=self.encoder,
            builder=self.builder,
            framing=self.framing,
            fixed_severity=self.options.fixed_severity(),
            dead_letter_oversize=self.options.oversize == "dead-letter",
        )
        if rendered.truncated:
            metrics().sink_messages_truncated.labels(sink=self.name).inc(rendered.truncated)
        if not rendered.messages:
            return SendResult(accepted=rendered.accepted, rejected=rendered.rejected, bytes_sent=0)
        async with self._lock:
            connection = await self._ensure_connected()
            replay = self._to_replay.frames()
            try:
                if isinstance(connection, DatagramConnection):
                    await connection.send(rendered.messages, write_timeout=self._seconds(self.options.write_timeout))
                elif isinstance(connection, RelpConnection):
                    # Returns only when the receiver answered 200 to every message of the batch.
                    await connection.send(rendered.messages, progress_timeout=self._relp_timeout())
                else:
                    await connection.send(
                        b"".join([*replay, *rendered.messages]),
                        write_timeout=self._seconds(self.options.write_timeout),
                        ack_timeout=self._seconds(self.options.ack_timeout),
                    )
                    self._note_sent(replay, rendered.messages)
            except asyncio.CancelledError:
                # A frame may be half written: the connection can never carry another message.
                self._drop(connection, failed=True)
                raise
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                reason = self._failure_reason(exc, connection)
                self._drop(connection, failed=True)
                metrics().sink_connections.labels(sink=self.name, result="lost").inc()
                log.warning(
                    "Syslog sink %s lost its connection to %s while sending %d messages (%s); the batch will be resent.",
                    self.name,
                    self.peer,
                    len(rendered.messages),
                    reason,
                )
                raise SinkTransientError(
                    f"syslog sink {self.name}: sending to {self.peer} failed ({reason}); the batch was not confirmed"
                ) from None
        size = sum(len(m) for m in rendered.messages)
        # UDP gives no feedback at all: the events were sent, nobody knows whether they arrived.
        return SendResult(
            accepted=rendered.accepted, rejected=rendered.rejected, bytes_sent=size, confirmed=self.transport != "udp"
        )

    async def close(self) -> None:
        """Close the connection politely (TLS close_notify). Idempotent."""
        async with self._lock:
            connection, self._connection = self._connection, None
            if len(self._to_replay):
                log.warning(
                    "Syslog sink %s closes with %d messages it could not send again to %s after the connection "
                    "was lost; the receiver may have dropped them.",
                    self.name,
                    len(self._to_replay),
                    self.peer,
                )
                self._to_replay.clear()
        if connection is not None:
            await connection.close()

    # --- connection management -------------------------------------------------------------------

    @staticmethod
    def _seconds(value: timedelta) -> float:
        return value.total_seconds()

    def _relp_timeout(self) -> float:
        """How long a RELP send waits for progress: ack_timeout, or write_timeout when acks are not awaited (0)."""
        ack = self._seconds(self.options.ack_timeout)
        return ack if ack > 0 else self._seconds(self.options.write_timeout)

    async def _ensure_connected(self) -> Connection:
        connection = self._connection
        if connection is not None and connection.alive():
            return connection
        if connection is not None:
            reason = getattr(connection, "closed_reason", None) or "the connection is closed"
            log.info("Syslog sink %s reconnects to %s: %s.", self.name, self.peer, reason)
            self._drop(connection, failed=True)
        wait = self._next_attempt - time.monotonic()
        if wait > 0:
            raise SinkTransientError(
                f"syslog sink {self.name}: {self.peer} was unreachable; next connection attempt in {wait:.1f}s"
            )
        return await self._connect()

    async def _connect(self) -> Connection:
        timeout = self._seconds(self.options.connect_timeout)
        try:
            if self.transport == "udp":
                connection: Connection = await DatagramConnection.open(
                    self.host,
                    self.port,
                    connect_timeout=timeout,
                    rate=self.options.udp_rate,
                    send_buffer=self.options.udp_send_buffer,
                )
            elif self.transport == "relp":
                connection = await RelpConnection.open(
                    self.host,
                    self.port,
                    connect_timeout=timeout,
                    software=f"mimecast-siem,{__version__}",
                    window=self.options.relp_window,
                )
            else:
                if self.transport == "tls" and self._ssl is None:
                    self._ssl = tls_context(self.options.tls)
                connection = await StreamConnection.open(
                    self.host,
                    self.port,
                    ssl_context=self._ssl,
                    server_hostname=(self.options.tls.server_name or self.host) if self.transport == "tls" else None,
                    connect_timeout=timeout,
                    settle=self._seconds(self.options.connect_settle),
                )
        except PeerClosedError as exc:
            self._note_failure()
            if isinstance(exc.cause, ssl.SSLError):
                raise SinkPermanentError(
                    f"syslog sink {self.name}: {self.peer} refused the TLS session after the handshake "
                    f"({exc.cause.reason or exc.cause}); does it require a client certificate "
                    "(client_cert_file / client_key_file) signed by a CA it trusts?"
                ) from None
            hint = (
                "; a TLS receiver that requires a client certificate does this: set client_cert_file and client_key_file"
                if self.transport == "tls" and self.options.tls.cert_file is None
                else ""
            )
            raise SinkTransientError(
                f"syslog sink {self.name}: {self.peer} closed the connection right after accepting it ({exc}){hint}"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            self._note_failure()
            raise SinkPermanentError(
                f"syslog sink {self.name}: the TLS certificate of {self.peer} was refused: "
                f"{exc.verify_message or exc.reason}; check ca_file and tls_server_name "
                f"(expected name {self.options.tls.server_name or self.host!r})"
            ) from None
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
            self._note_failure()
            raise SinkTransientError(
                f"syslog sink {self.name}: {self.peer} closed the TLS handshake ({exc.reason or exc})"
            ) from None
        except ssl.SSLError as exc:
            self._note_failure()
            raise SinkPermanentError(
                f"syslog sink {self.name}: TLS with {self.peer} failed: {exc.reason or exc}; is the port a TLS "
                "listener, and does it accept this client certificate and TLS version?"
            ) from None
        except RelpError as exc:
            self._note_failure()
            raise SinkTransientError(f"syslog sink {self.name}: RELP session with {self.peer} failed ({exc})") from None
        except (OSError, TimeoutError) as exc:
            self._note_failure()
            what = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            raise SinkTransientError(f"syslog sink {self.name}: cannot connect to {self.peer} ({what})") from None
        if self._opened_once:
            log.info("Syslog sink %s reconnected to %s over %s.", self.name, self.peer, self.transport)
        else:
            log.info("Syslog sink %s connected to %s over %s.", self.name, self.peer, self.transport)
        self._opened_once = True
        self._failures = 0
        self._next_attempt = 0.0
        self._connection = connection
        metrics().sink_connections.labels(sink=self.name, result="opened").inc()
        return connection

    def _note_failure(self) -> None:
        self._failures += 1
        self._next_attempt = time.monotonic() + self.backoff.delay(self._failures)
        metrics().sink_connections.labels(sink=self.name, result="failed").inc()

    def _drop(self, connection: Connection, *, failed: bool = False) -> None:
        """Abort ``connection``; after a failure, queue what the receiver may have dropped unread."""
        connection.abort()
        if self._connection is connection:
            self._connection = None
        if failed and isinstance(connection, StreamConnection) and len(self._recent):
            if replay_needed(connection, tls=self.transport == "tls"):
                # After frames still waiting from an earlier loss; the newest replay_bytes are kept.
                self._to_replay.extend(self._recent.take())
            else:
                self._recent.clear()

    def _note_sent(self, replayed: list[bytes], frames: list[bytes]) -> None:
        """Bookkeeping after a batch (and any replayed frames before it) was acknowledged."""
        if replayed:
            size = sum(len(f) for f in replayed)
            metrics().sink_messages_replayed.labels(sink=self.name).inc(len(replayed))
            log.warning(
                "Syslog sink %s sent %d messages (%d bytes) again to %s: they were acknowledged on the "
                "connection that was lost, and the receiver may have dropped them unread (duplicates carry "
                "the same event_id).",
                self.name,
                len(replayed),
                size,
                self.peer,
            )
            self._to_replay.clear()
        self._recent.extend([*replayed, *frames])

    @staticmethod
    def _failure_reason(exc: BaseException, connection: Connection) -> str:
        closed = getattr(connection, "closed_reason", None)
        if isinstance(exc, PeerClosedError | RelpError):
            return str(exc)
        if isinstance(exc, TimeoutError):
            return "timed out waiting for the receiver" + (f"; {closed}" if closed else "")
        return f"{type(exc).__name__}: {exc}" + (f"; {closed}" if closed else "")
