"""Pieces every HTTP sink shares: TLS, proxies, secrets, timeouts, a capped reply reader.

Used by the ``elasticsearch``, ``sentinel`` and ``hec`` sinks (and for TLS and proxy keys, ``s3``).
Their options either extend ``HttpClientOptions`` or declare the same keys themselves (``hec``, whose
documented key order predates this module); the functions here read them through ``HttpOptions``.


* **TLS** is verified by default; ``ca_file`` adds a private CA, ``client_cert_file`` +
  ``client_key_file`` give mutual TLS; ``verify_tls: false`` is logged loudly.
* **Proxies:** ``proxy`` (``http://[user:pass@]host:port``) sends every request of the sink through
  that forward proxy (``CONNECT`` for https destinations). Without it, the standard ``HTTPS_PROXY`` /
  ``HTTP_PROXY`` / ``NO_PROXY`` environment variables apply (``trust_env``, on by default).
* **Secrets** come from exactly one of ``<name>``, ``<name>_file`` or ``<name>_env``, are stripped,
  registered with the log scrubber and never appear in messages.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from mimecast_siem import __version__
from mimecast_siem.config.models import Duration
from mimecast_siem.errors import ConfigError, ConfigProblem
from mimecast_siem.observability import register_secret
from mimecast_siem.sinks.base import SinkPermanentError, SinkTransientError

log = logging.getLogger("mimecast_siem.sinks")


def check_proxy_url(value: str | None) -> str | None:
    """Validate a ``proxy`` option: an http(s) URL with a host, no path or query."""
    if value is None:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected a proxy URL such as http://proxy.example:3128 (http:// or https://)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("the proxy URL must not carry a path or query string")
    return value.strip()


def check_proxy_option(value: SecretStr | None) -> SecretStr | None:
    """Validate a secret ``proxy`` option (a pydantic field validator's body)."""
    if value is not None:
        check_proxy_url(value.get_secret_value())
    return value


class TlsOptions(Protocol):
    """The TLS keys of a sink's options (the HTTP sinks' and kafka's)."""

    @property
    def verify_tls(self) -> bool: ...
    @property
    def ca_file(self) -> Path | None: ...
    @property
    def client_cert_file(self) -> Path | None: ...
    @property
    def client_key_file(self) -> Path | None: ...


class HttpOptions(TlsOptions, Protocol):
    """The connection keys every HTTP sink's options carry (``HttpClientOptions`` or their own copy)."""

    @property
    def timeout(self) -> timedelta: ...
    @property
    def connect_timeout(self) -> timedelta: ...
    @property
    def proxy(self) -> SecretStr | None: ...
    @property
    def trust_env(self) -> bool: ...


class HttpClientOptions(BaseModel):
    """Connection keys shared by the HTTP sinks (TLS, proxy, timeouts)."""

    model_config = ConfigDict(extra="forbid")

    timeout: Duration = Field(default=timedelta(seconds=30), description="Request timeout.")
    connect_timeout: Duration = Field(default=timedelta(seconds=10), description="Connect timeout.")
    verify_tls: bool = Field(default=True, description="Verify the server certificate (off is logged loudly).")
    ca_file: Path | None = Field(default=None, description="CA bundle (PEM) to verify the server's certificate.")
    client_cert_file: Path | None = Field(default=None, description="Client certificate (PEM) for mutual TLS.")
    client_key_file: Path | None = Field(default=None, description="Client key (PEM) for mutual TLS.")
    proxy: SecretStr | None = Field(
        default=None,
        description="Forward proxy URL for this sink (http://[user:pass@]host:port); overrides HTTPS_PROXY.",
    )
    trust_env: bool = Field(
        default=True, description="Without proxy: honour the HTTPS_PROXY / HTTP_PROXY / NO_PROXY environment."
    )

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: SecretStr | None) -> SecretStr | None:
        return check_proxy_option(value)


def check_tls_pair(options: TlsOptions) -> None:
    """Both or neither of the client certificate and key (raise ValueError for a model validator)."""
    if (options.client_cert_file is None) != (options.client_key_file is None):
        raise ValueError("give both client_cert_file and client_key_file for mutual TLS")


def check_files(options: TlsOptions, kind: str, name: str) -> None:
    """Raise ConfigError when a configured TLS file does not exist."""
    for key in ("ca_file", "client_cert_file", "client_key_file"):
        path = getattr(options, key)
        if path is not None and not Path(path).is_file():
            raise ConfigError(
                f"{kind} sink {name!r}: {key} not found",
                [ConfigProblem(key, "file not found or not a regular file", str(path))],
            )
    if not options.verify_tls:
        log.warning(
            "TLS verification is OFF for %s sink %s: anyone on the path can read the credentials and events.",
            kind,
            name,
        )


def resolve_secret(
    options: BaseModel, field: str, kind: str, name: str, *, required: bool = True, label: str | None = None
) -> str | None:
    """The secret given by exactly one of ``field``, ``field_file`` or ``field_env`` (stripped, registered).

    Raises:
        ConfigError: none given while ``required``, several given, the file unreadable, or the value empty.
    """
    label = label or field.replace("_", " ")
    direct = getattr(options, field, None)
    path = getattr(options, f"{field}_file", None)
    env = getattr(options, f"{field}_env", None)
    given = [k for k, v in ((field, direct), (f"{field}_file", path), (f"{field}_env", env)) if v is not None]
    if len(given) > 1:
        raise ConfigError(
            f"{kind} sink {name!r}: give only one of {field}, {field}_file, {field}_env",
            [ConfigProblem(given[1], f"give only one of {field}, {field}_file, {field}_env")],
        )
    if not given:
        if required:
            raise ConfigError(
                f"{kind} sink {name!r}: the {label} is missing",
                [ConfigProblem(field, f"give one of {field}, {field}_file, {field}_env")],
            )
        return None
    key = given[0]
    if direct is not None:
        value = direct.get_secret_value() if isinstance(direct, SecretStr) else str(direct)
        where = f"the {field} option"
    elif path is not None:
        where = str(path)
        try:
            value = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"{kind} sink {name!r}: cannot read {key}",
                [ConfigProblem(key, f"cannot read the file ({exc.strerror})", str(path))],
            ) from None
    else:
        where = f"environment variable {env}"
        value = os.environ.get(str(env), "")
    value = value.strip()
    if not value:
        raise ConfigError(
            f"{kind} sink {name!r}: the {label} is empty",
            [ConfigProblem(key, f"the {label} is empty (looked in {where})")],
        )
    register_secret(value)
    return value


def ssl_context(options: HttpOptions, url: str, kind: str, name: str) -> ssl.SSLContext | None:
    """The TLS context for ``url`` (None for plain http)."""
    if urlsplit(url).scheme != "https":
        return None
    return tls_context(options, kind, name)


def tls_context(options: TlsOptions, kind: str, name: str) -> ssl.SSLContext:
    """A client TLS context: the system's CAs or ``ca_file``, the client certificate, ``verify_tls``."""
    try:
        context = ssl.create_default_context(cafile=str(options.ca_file) if options.ca_file else None)
        if options.client_cert_file and options.client_key_file:
            context.load_cert_chain(str(options.client_cert_file), str(options.client_key_file))
    except (OSError, ssl.SSLError) as exc:
        raise SinkPermanentError(f"{kind} sink {name}: cannot load TLS files: {exc}") from None
    if not options.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def proxy_url(options: object) -> str | None:
    """The ``proxy`` option of a sink's options (a secret: it may carry credentials), or None."""
    proxy = getattr(options, "proxy", None)
    if not isinstance(proxy, SecretStr):
        return None
    value = proxy.get_secret_value()
    parts = urlsplit(value)
    if parts.password:
        register_secret(parts.password)
    return value


def open_session(
    options: HttpOptions,
    url: str,
    kind: str,
    name: str,
    *,
    limit: int = 16,
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientSession:
    """A client session with the sink's TLS, proxy and timeouts."""
    context = ssl_context(options, url, kind, name)
    connector = aiohttp.TCPConnector(ssl=context if context is not None else True, limit=limit)
    timeout = aiohttp.ClientTimeout(
        total=options.timeout.total_seconds(), sock_connect=options.connect_timeout.total_seconds()
    )
    proxy = proxy_url(options)
    extra: dict[str, Any] = {}
    if proxy is not None:
        extra["proxy"] = proxy
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        headers={"User-Agent": f"mimecast-siem/{__version__}", **(headers or {})},
        trust_env=options.trust_env and proxy is None,
        **extra,
    )


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of the reply body, but all of it when shorter (one read may be partial)."""
    reply = b""
    while len(reply) < limit:
        chunk = await response.content.read(limit - len(reply))
        if not chunk:
            break
        reply += chunk
    return reply


def transport_error(
    kind: str, name: str, method: str, what: str, exc: BaseException, *, host: str | None = None
) -> SinkTransientError:
    """A transient error for a failed request, naming TLS verification failures (of ``host``) clearly."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | ssl.SSLCertVerificationError):
        cause = getattr(exc, "certificate_error", exc)
        detail = getattr(cause, "verify_message", None) or str(cause)
        of = f" of {host}" if host else ""
        return SinkTransientError(f"{kind} sink {name}: TLS verification{of} failed ({detail}); check ca_file")
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return SinkTransientError(f"{kind} sink {name}: the proxy refused or failed: {exc}")
    detail = str(exc) or type(exc).__name__
    return SinkTransientError(f"{kind} sink {name}: {method} {what} failed: {detail}")


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A reply of the sink's destination: status, body (capped) and headers."""

    status: int
    body: bytes
    headers: Mapping[str, str]


class SinkHttp:
    """An HTTP sink's connection to its destination: the session (opened on start) and its requests."""

    def __init__(self, options: HttpOptions, url: str, kind: str, name: str, *, max_reply_bytes: int) -> None:
        self._options = options
        self._url = url
        self._kind = kind
        self._name = name
        self._max_reply_bytes = max_reply_bytes
        self._session: aiohttp.ClientSession | None = None

    def open(self) -> None:
        """Open the session with the sink's TLS, proxy and timeouts (connections are made on first use)."""
        if self._session is None or self._session.closed:
            self._session = open_session(self._options, self._url, self._kind, self._name)

    async def close(self) -> None:
        """Close the session (idempotent)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self, method: str, url: str, *, data: Any, headers: Mapping[str, str], what: str, host: str | None = None
    ) -> HttpReply:
        """One request, never following redirects; the body read up to ``max_reply_bytes``.

        Raises:
            SinkTransientError: not started, or the request failed (TLS and proxy failures named).
        """
        session = self._session
        if session is None:
            raise SinkTransientError(f"{self._kind} sink {self._name} is not started")
        try:
            async with session.request(method, url, data=data, headers=headers, allow_redirects=False) as response:
                return HttpReply(response.status, await read_capped(response, self._max_reply_bytes), response.headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise transport_error(self._kind, self._name, method, what, exc, host=host) from None
