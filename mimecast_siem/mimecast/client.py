"""``MimecastClient``: the transport for one tenant - session, token, retries, rate limit, paging.

The hard decisions live in pure modules (``error_map``, ``envelope``, ``pagination``,
``ratelimit.retry_after_seconds``, ``auth.refresh_delay``); this module only moves bytes and applies
those decisions:

* one :class:`aiohttp.ClientSession` per tenant (timeout, TLS verification, proxy, headers);
* each call = up to ``RetryPolicy.max_attempts`` attempts (tenacity, exponential backoff with
  jitter) for transient failures; inside an attempt a 429 pauses the whole app and sends again, and
  a 401 refreshes the token once and replays the very same bytes;
* nothing secret reaches a log line or an exception: messages are built from the tenant name, the
  endpoint path, the status and the server's (shortened) failure code and message, with every
  known secret masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import tempfile
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

import aiohttp
import orjson
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from mimecast_siem import __version__
from mimecast_siem.backoff import Backoff
from mimecast_siem.config.models import TenantSettings
from mimecast_siem.errors import (
    ApiError,
    AuthError,
    ConfigError,
    ConfigProblem,
    MimecastFailure,
    PermanentError,
    RateLimited,
    ResponseFormatError,
    TransientError,
    WriteOutcomeUnknown,
)
from mimecast_siem.mimecast.auth import AccessToken, TokenCache, TokenGrant
from mimecast_siem.mimecast.envelope import (
    ApiResponse,
    Page,
    encode_envelope,
    page_records,
    paged_meta,
)
from mimecast_siem.mimecast.error_map import Action
from mimecast_siem.mimecast.pagination import PageCursor
from mimecast_siem.mimecast.paths import checked_path, endpoint_label, join_url
from mimecast_siem.mimecast.ratelimit import (
    Priority,
    RateLimiter,
    limiter_for,
    retry_after_seconds,
)
from mimecast_siem.mimecast.readers import (
    Call,
    DownloadResult,
    FileLink,
    Refusal,
    query_pairs,
    read_envelope,
    read_file,
    read_rest,
    read_token,
)
from mimecast_siem.mimecast.siem import PresignedUrlGone
from mimecast_siem.observability.logging import redactor, register_secret
from mimecast_siem.observability.metrics import metrics, status_class

log = logging.getLogger("mimecast_siem.mimecast")

T = TypeVar("T")

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
USER_AGENT = f"mimecast-siem/{__version__}"
_CHUNK = 64 * 1024
_SPOOL_IN_MEMORY = 1024 * 1024
_REST_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

_tls_warned: set[str] = set()


class BinaryWriter(Protocol):
    """Where :meth:`MimecastClient.download` writes: anything with ``write(bytes)``."""

    def write(self, data: bytes, /) -> Any: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient failures are retried (429s and the one 401 replay are not counted here).

    Attributes:
        max_attempts: attempts per call, the first included.
        backoff_initial: first backoff in seconds (doubles each attempt).
        backoff_max: longest backoff in seconds.
        jitter: fraction of each backoff randomised away (0.5 = 50-100 %; ``mimecast_siem/backoff.py``).
    """

    max_attempts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")


class MimecastClient:
    """The Mimecast API 2.0 client of one tenant. Use as an async context manager.

    Args:
        tenant: the tenant's settings (base URL, credentials, timeout, TLS, proxy, rate limit).
        limiter: the app's shared limiter; default :func:`limiter_for` of the tenant's client id.
        retry: retry policy for transient failures.
        token_margin: renew the access token this many seconds before it expires.

    Example::

        async with MimecastClient(tenant) as client:
            async for page in client.pages("/api/ttp/url/get-logs", item={...}, record_key="clickLogs"):
                ...
    """

    def __init__(
        self,
        tenant: TenantSettings,
        *,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        token_margin: float = 60.0,
    ) -> None:
        self.tenant = tenant
        self.limiter = limiter if limiter is not None else limiter_for(tenant.client_id, tenant.rate_limit)
        self.retry = retry or RetryPolicy()
        self._base_url = tenant.base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._tokens = TokenCache(self._fetch_token, margin=token_margin)
        self._secrets: list[str] = []
        self._remember_secret(tenant.client_secret.get_secret_value())
        if tenant.proxy:
            self._remember_secret(urlsplit(tenant.proxy).password or "")

    # --- lifecycle --------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The tenant name (used in metrics and logs)."""
        return self.tenant.name

    @property
    def tokens(self) -> TokenCache:
        """The tenant's token cache (readiness checks and tests inspect it)."""
        return self._tokens

    async def __aenter__(self) -> MimecastClient:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Create the HTTP session (idempotent).

        Raises:
            ConfigError: the CA bundle cannot be loaded.
        """
        if self._session is not None and not self._session.closed:
            return
        connector = aiohttp.TCPConnector(ssl=self._ssl_context(), limit=max(8, 2 * self.limiter.max_concurrency))
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.tenant.timeout),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            raise_for_status=False,
            trust_env=False,
        )

    async def close(self) -> None:
        """Close the HTTP session (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _ssl_context(self) -> ssl.SSLContext | bool:
        tenant = self.tenant
        if not tenant.verify_tls:
            if tenant.name not in _tls_warned:
                _tls_warned.add(tenant.name)
                log.warning(
                    "TLS certificate verification is OFF for tenant %s: anyone on the network path can "
                    "read its Mimecast credentials and logs. Set verify_tls: true (and ca_file if needed).",
                    tenant.name,
                    extra={"tenant": tenant.name},
                )
            return False
        try:
            return _shared_tls_context(str(tenant.ca_file) if tenant.ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            key = f"tenants.{tenant.name}.ca_file"
            problem = ConfigProblem(
                key=key,
                message=f"cannot load the CA bundle ({type(exc).__name__}: {getattr(exc, 'strerror', None) or exc})",
                value=str(tenant.ca_file),
            )
            raise ConfigError(problem.render(), [problem]) from None

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise RuntimeError("MimecastClient is not open; use 'async with MimecastClient(tenant) as client:'")
        return self._session

    # --- public calls -----------------------------------------------------------------------------

    async def authenticate(self) -> None:
        """Make sure a valid access token is cached (requests one when needed).

        Raises:
            AuthError: Mimecast refused the client credentials.
        """
        self._require_session()
        await self._tokens.get()

    async def request(
        self,
        path: str,
        data: Sequence[Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        *,
        priority: Priority = Priority.LIVE,
        max_wait: float | None = None,
        idempotent: bool = True,
        partial: bool = False,
    ) -> ApiResponse:
        """POST the ``/api/...`` envelope ``{"meta": meta, "data": data}`` and return the answer.

        Args:
            path: relative path such as ``/api/account/get-account``.
            data: the ``data[]`` items (``[]`` when omitted).
            meta: the envelope ``meta`` (pagination), omitted when empty.
            priority: rate-limiter priority.
            max_wait: longest time to wait on the rate limit, in seconds.
            idempotent: ``False`` for writes: never re-sent once they may have reached Mimecast
                (a timeout or 5xx then raises :class:`WriteOutcomeUnknown`).
            partial: return a 2xx answer carrying both ``data`` and ``fail[]`` (a batch that partly
                succeeded) with ``fail`` filled in, instead of raising.

        Raises:
            AuthError, RateLimited, TransientError (incl. ResponseFormatError, WriteOutcomeUnknown),
            PermanentError.
        """
        call = self._call_for("POST", path, body=encode_envelope(data, meta), content_type="application/json")
        call = replace(call, idempotent=idempotent, partial=partial)
        return await self._run(call, read_envelope, priority=priority, max_wait=max_wait)

    async def pages(
        self,
        path: str,
        item: Mapping[str, Any] | None = None,
        page_size: int = 500,
        record_key: str | None = None,
        *,
        priority: Priority = Priority.LIVE,
        max_wait: float | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Page]:
        """Walk every page of a paged ``/api/...`` endpoint, lazily.

        The filters (``item``) are copied once and re-sent unchanged on every page, with
        ``meta.pagination.pageToken`` set to the previous answer's ``next``. The walk stops on a
        missing ``next`` or a page without records, and raises ``PaginationLoopError`` when a
        token repeats. Each call has its own cursor: no token crosses into another walk.

        Args:
            path: relative path such as ``/api/ttp/url/get-logs``.
            item: the single ``data[0]`` filter object; ``None`` sends ``data: []``.
            page_size: records per page (1-500).
            record_key: where records sit (``data[i][record_key]``), or ``None`` for ``data[]``.
            priority: rate-limiter priority.
            max_wait: longest rate-limit wait per page, in seconds.
            meta: extra ``meta`` keys sent with every page (``pagination`` is set by the walk).
        """
        checked_path(path)
        if not 1 <= page_size <= 500:
            raise ValueError(f"page_size must be between 1 and 500 (Mimecast's maximum), got {page_size}")
        # A private deep copy: a caller mutating its dict mid-walk cannot change later pages.
        data = [orjson.loads(orjson.dumps(item))] if item is not None else []
        extra = orjson.loads(orjson.dumps(meta)) if meta else None
        cursor = PageCursor(path)
        while not cursor.finished:
            response = await self.request(
                path, data, paged_meta(page_size, cursor.token, extra), priority=priority, max_wait=max_wait
            )
            records = page_records(path, response, record_key)
            cursor.advance(response.next_page_token, len(records))
            log.debug(
                "Fetched page %d of %s for tenant %s with %d records.",
                cursor.pages,
                path,
                self.name,
                len(records),
                extra={"tenant": self.name, "endpoint": path, "page": cursor.pages, "records": len(records)},
            )
            yield Page(records=records, response=response, number=cursor.pages)
            # The consumer has the page; this walk does not hold it while the next one is fetched.
            del response, records

    async def download(
        self,
        path: str,
        data: Sequence[Any],
        dest: BinaryWriter,
        *,
        max_bytes: int,
        priority: Priority = Priority.ACTION,
        max_wait: float | None = None,
    ) -> DownloadResult:
        """Fetch a binary file (``/api/archive/get-file``, ``/api/gateway/message/get-file``) into ``dest``.

        The file is spooled (memory, then a temporary file) and written to ``dest`` only once it
        arrived completely and within ``max_bytes``, so a retry or an abort never leaves half a file
        in ``dest``. A JSON answer with ``fail`` instead of a file raises the mapped error; a JSON
        answer naming a download URL (``data[0].url``) is followed once: with the tenant's token on
        the tenant's own host, without any credentials elsewhere (a pre-signed URL).

        Raises:
            PermanentError: the file is larger than ``max_bytes`` (or the answer is an envelope
                without a file); plus the errors of :meth:`request`.
        """
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        call = self._call_for(
            "POST", path, body=encode_envelope(data, None), content_type="application/json", accept="*/*"
        )
        # A large file may take longer than tenant.timeout in total; bound each stall instead.
        stall = self.tenant.timeout
        call = replace(call, timeout=aiohttp.ClientTimeout(total=None, sock_connect=stall, sock_read=stall))
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - closed below
        try:

            async def read(resp: aiohttp.ClientResponse, c: Call) -> DownloadResult | FileLink | Refusal:
                return await read_file(resp, c, spool, max_bytes)

            async def read_linked(resp: aiohttp.ClientResponse, c: Call) -> DownloadResult | FileLink | Refusal:
                return await read_file(resp, c, spool, max_bytes, follow_links=False)

            answer = await self._run(call, read, priority=priority, max_wait=max_wait)
            if isinstance(answer, FileLink):
                answer = await self._run(
                    self._link_call(call, answer.url), read_linked, priority=priority, max_wait=max_wait
                )
            if not isinstance(answer, DownloadResult):  # pragma: no cover - read_linked never links
                raise PermanentError(f"{call.label} answered with a link to another link", endpoint=call.label)
            result = answer
            spool.seek(0)
            while chunk := spool.read(_CHUNK):
                dest.write(chunk)
                await asyncio.sleep(0)
            return result
        finally:
            spool.close()

    def _link_call(self, call: Call, url: str) -> Call:
        """The GET of a download URL a file endpoint answered with (credentials only to the tenant's host)."""
        link, base = urlsplit(url), urlsplit(self._base_url)
        same_origin = (link.scheme, link.hostname, link.port) == (base.scheme, base.hostname, base.port)
        if link.scheme != "https" and not same_origin:
            raise PermanentError(
                f"Mimecast answered {call.label} for tenant {self.name} with a download URL that is not https; "
                "it was not followed",
                endpoint=call.label,
            )
        return replace(call, method="GET", url=url, body=None, content_type=None, authenticated=same_origin)

    async def request_rest(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        *,
        priority: Priority = Priority.ACTION,
        max_wait: float | None = None,
        idempotent: bool | None = None,
    ) -> ApiResponse:
        """Call a REST-style family (``/siem/v1/...``, ``/threats/v1/...``, ...) with any method.

        Args:
            method: GET, POST, PUT, PATCH or DELETE.
            path: relative path; query parameters go in ``params``, never in the path.
            params: query parameters (lists repeat the key).
            json: JSON body (``None`` sends no body).
            idempotent: whether sending twice is harmless; default: only GET is.

        Returns:
            An :class:`ApiResponse` whose ``body`` is the decoded document (``None`` when empty) and
            whose ``data`` is its record list (see ``envelope.rest_response``).
        """
        verb = method.upper()
        if verb not in _REST_METHODS:
            raise ValueError(f"HTTP method {method!r} is not allowed; use one of {', '.join(sorted(_REST_METHODS))}")
        body = None if json is None else orjson.dumps(json)
        call = self._call_for(
            verb,
            path,
            body=body,
            content_type="application/json" if body is not None else None,
            params=query_pairs(params),
        )
        call = replace(call, idempotent=verb == "GET" if idempotent is None else idempotent)
        return await self._run(call, read_rest, priority=priority, max_wait=max_wait)

    @contextlib.asynccontextmanager
    async def open_presigned(
        self, url: str, *, priority: Priority = Priority.LIVE, max_wait: float | None = None
    ) -> AsyncIterator[aiohttp.StreamReader]:
        """Open a pre-signed download URL (SIEM batch files) and yield its body as a stream.

        No bearer token is sent (the URL carries its own signature). The download holds one request
        slot of the app's budget for its whole duration, so concurrent downloads stay within
        ``rate_limit.max_concurrency``. Only ``https`` URLs are followed (``http`` only when the
        tenant's own base URL is plain http, i.e. the local simulator). The body is read in chunks
        by the caller: nothing is buffered here. The whole-request timeout does not apply (a file may
        take minutes); a read that stalls for ``timeout`` seconds fails.

        Raises:
            PresignedUrlGone: 403/404 - the URL expired or the file is gone (list again).
            TransientError: connection failures, 5xx, timeouts.
            PermanentError: other statuses, or a URL that is not https.
        """
        parts = urlsplit(url)
        allowed = {"https"} | ({"http"} if urlsplit(self._base_url).scheme == "http" else set())
        label = "siem-file"
        if parts.scheme not in allowed or not parts.hostname:
            raise PermanentError(f"a download URL for tenant {self.name} is not https; refusing it", endpoint=label)
        session = self._require_session()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.tenant.timeout, sock_read=self.tenant.timeout)
        async with self.limiter.slot(priority, max_wait=max_wait) as permit:
            self._count_pause(permit.paused)
            started = time.perf_counter()
            status: int | None = None
            try:
                async with session.get(url, timeout=timeout, allow_redirects=False, proxy=self.tenant.proxy,
                                       headers={"Accept": "*/*"}) as resp:  # fmt: skip
                    status = resp.status
                    if status in (403, 404):
                        raise PresignedUrlGone(
                            f"the download URL of a SIEM file answered {status} for tenant {self.name} "
                            "(expired or removed); list the files again",
                            endpoint=label,
                            status=status,
                        )
                    if status >= 500 or status == 429:
                        raise TransientError(
                            f"a SIEM file download answered {status} for tenant {self.name}",
                            endpoint=label,
                            status=status,
                        )
                    if status != 200:
                        raise PermanentError(
                            f"a SIEM file download answered {status} for tenant {self.name}",
                            endpoint=label,
                            status=status,
                        )
                    yield resp.content
            except ApiError:
                raise
            except TimeoutError as exc:
                raise TransientError(
                    f"a SIEM file download for tenant {self.name} stalled for {self.tenant.timeout:g} s",
                    endpoint=label,
                    status=status,
                ) from exc
            except (aiohttp.ClientError, OSError) as exc:
                raise TransientError(
                    f"a SIEM file download for tenant {self.name} failed ({type(exc).__name__})",
                    endpoint=label,
                    status=status,
                ) from exc
            finally:
                m = metrics()
                m.api_requests.labels(self.name, label, status_class(status)).inc()
                m.api_request_duration.labels(self.name, label).observe(time.perf_counter() - started)

    # --- the call loop ----------------------------------------------------------------------------

    def _call_for(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None,
        content_type: str | None,
        params: tuple[tuple[str, str], ...] = (),
        accept: str = "application/json",
        authenticated: bool = True,
    ) -> Call:
        url = join_url(self._base_url, path)
        return Call(
            tenant=self.name,
            method=method,
            path=path,
            label=endpoint_label(path),
            url=str(url),
            body=body,
            content_type=content_type,
            params=params,
            authenticated=authenticated,
            accept=accept,
        )

    async def _run(
        self,
        call: Call,
        reader: Callable[[aiohttp.ClientResponse, Call], Awaitable[T | Refusal]],
        *,
        priority: Priority,
        max_wait: float | None,
    ) -> T:
        """Retry transient failures of ``call`` per the retry policy."""
        self._require_session()
        deadline = None if max_wait is None else time.monotonic() + max_wait
        policy = self.retry
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=Backoff(initial=policy.backoff_initial, maximum=policy.backoff_max, jitter=policy.jitter).wait(),
            retry=retry_if_exception(lambda error: _worth_retrying(error) and _may_resend(call, error)),
            before_sleep=lambda state: self._before_retry(call, state),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(call, reader, priority=priority, deadline=deadline)
        except TransientError as exc:
            # Retried to the limit here: an outer call (the API call waiting for this token) must
            # not multiply the attempts.
            _exhausted.add(exc)
            if not _may_resend(call, exc):
                raise self._outcome_unknown(call, exc) from exc
            raise
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    def _before_retry(self, call: Call, state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        sleep = state.next_action.sleep if state.next_action is not None else 0.0
        reason = _retry_reason(error)
        m = metrics()
        m.api_retries.labels(self.name, reason).inc()
        m.api_backoff_seconds.labels(self.name, "retry").inc(sleep)
        log.warning(
            "Retrying %s for tenant %s in %.1f s after attempt %d of %d failed: %s",
            call.label,
            self.name,
            sleep,
            state.attempt_number,
            self.retry.max_attempts,
            self._scrub(str(error)),
            extra={"tenant": self.name, "endpoint": call.label, "reason": reason},
        )

    async def _attempt(
        self,
        call: Call,
        reader: Callable[[aiohttp.ClientResponse, Call], Awaitable[T | Refusal]],
        *,
        priority: Priority,
        deadline: float | None,
    ) -> T:
        """One attempt: waits out 429s (app-wide) and replays once after a 401 with a fresh token."""
        replayed = False
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            token: AccessToken | None = None
            if call.authenticated:
                async with self.limiter.slot(priority, max_wait=remaining) as permit:
                    self._count_pause(permit.paused)
                    # Taken inside the slot, so callers queued behind a refresh send the new token.
                    token = await self._tokens.get()
                    outcome = await self._exchange(call, token, reader)
            else:
                # The token request skips the slot queue (slot holders may be waiting for it) but
                # still honours an app-wide 429 pause.
                self._count_pause(await self.limiter.wait_out_pause(max_wait=remaining))
                outcome = await self._exchange(call, None, reader)
            if not isinstance(outcome, Refusal):
                self.limiter.on_success(outcome.headers if isinstance(outcome, ApiResponse) else None)
                return outcome
            action = outcome.verdict.action
            if action is not Action.RATE_LIMITED:
                # Refused for another reason, but the quota let it through.
                self.limiter.on_success(outcome.headers)
            if action is Action.RATE_LIMITED:
                episode_start = not self.limiter.rate_limited
                pause = self.limiter.on_rate_limited(retry_after_seconds(outcome.headers))
                metrics().api_rate_limited.labels(self.name).inc()
                metrics().api_retries.labels(self.name, "rate_limited").inc()
                # One WARNING per episode; the rest of a storm at DEBUG (the limiter logs its end).
                log.log(
                    logging.WARNING if episode_start else logging.DEBUG,
                    "Mimecast rate-limited %s for tenant %s; pausing every caller of this app for %.1f s.",
                    call.label,
                    self.name,
                    pause,
                    extra={"tenant": self.name, "endpoint": call.label, "pause_seconds": round(pause, 3)},
                )
                continue
            if action is Action.REAUTH and call.authenticated and not replayed:
                replayed = True
                metrics().api_retries.labels(self.name, "reauth").inc()
                log.info(
                    "Mimecast rejected the access token on %s for tenant %s; refreshing it and replaying the request.",
                    call.label,
                    self.name,
                    extra={"tenant": self.name, "endpoint": call.label},
                )
                await self._tokens.refresh(token)
                continue
            error = self._error(call, outcome, replayed=replayed)
            _sent(error, call)  # the server answered: whatever it did, it did
            raise error

    def _outcome_unknown(self, call: Call, exc: TransientError) -> WriteOutcomeUnknown:
        log.warning(
            "A write to %s for tenant %s may have reached Mimecast but got no usable answer; it is not re-sent.",
            call.label,
            self.name,
            extra={"tenant": self.name, "endpoint": call.label},
        )
        metrics().api_retries.labels(self.name, "write_not_resent").inc()
        return WriteOutcomeUnknown(
            f"{exc}. The request may have reached Mimecast, so it was not sent again: check whether it took "
            "effect before trying again",
            endpoint=exc.endpoint,
            status=exc.status,
            failures=exc.failures,
        )

    def _count_pause(self, seconds: float) -> None:
        if seconds > 0:
            metrics().api_backoff_seconds.labels(self.name, "rate_limit").inc(seconds)

    async def _exchange(
        self,
        call: Call,
        token: AccessToken | None,
        reader: Callable[[aiohttp.ClientResponse, Call], Awaitable[T | Refusal]],
    ) -> T | Refusal:
        """One HTTP exchange. Network failures become ``TransientError`` (never a bare traceback)."""
        session = self._require_session()
        headers = {"Accept": call.accept}
        if call.content_type:
            headers["Content-Type"] = call.content_type
        if token is not None:
            headers["Authorization"] = token.authorization
        started = time.perf_counter()
        status: int | None = None
        try:
            options: dict[str, Any] = {"timeout": call.timeout} if call.timeout is not None else {}
            async with session.request(
                call.method,
                call.url,
                data=call.body,
                params=list(call.params) or None,
                headers=headers,
                proxy=self.tenant.proxy,
                allow_redirects=False,
                **options,
            ) as resp:
                status = resp.status
                return await reader(resp, call)
        except ApiError as exc:
            _sent(exc, call)  # raised while reading an answer: the request arrived
            raise
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc, aiohttp.ClientConnectorCertificateError):
                raise PermanentError(
                    f"TLS verification of the Mimecast host failed for tenant {self.name}: {exc.certificate_error}. "
                    "Check base_url, or set ca_file to the CA that signs the host's certificate",
                    endpoint=call.label,
                ) from exc
            # No connection was made, so nothing was sent: safe to retry, even for a write.
            raise TransientError(
                f"Connection to Mimecast failed on {call.label} for tenant {self.name} "
                f"({type(exc).__name__}: {self._scrub(_short(str(exc)))})",
                endpoint=call.label,
                status=status,
            ) from exc
        except TimeoutError as exc:
            raise _sent(
                TransientError(
                    f"Mimecast did not answer {call.label} for tenant {self.name} within {self.tenant.timeout:g} s",
                    endpoint=call.label,
                    status=status,
                ),
                call,
            ) from exc
        except aiohttp.ClientPayloadError as exc:
            raise _sent(
                ResponseFormatError(
                    f"Mimecast's answer to {call.label} for tenant {self.name} (HTTP {status}) ended early or was "
                    f"corrupt ({type(exc).__name__})",
                    endpoint=call.label,
                    status=status,
                ),
                call,
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            # Connected, then lost (reset, server disconnected ...): the request may have arrived.
            raise _sent(
                TransientError(
                    f"Connection to Mimecast failed on {call.label} for tenant {self.name} "
                    f"({type(exc).__name__}: {self._scrub(_short(str(exc)))})",
                    endpoint=call.label,
                    status=status,
                ),
                call,
            ) from exc
        finally:
            m = metrics()
            m.api_requests.labels(self.name, call.label, status_class(status)).inc()
            m.api_request_duration.labels(self.name, call.label).observe(time.perf_counter() - started)

    # --- tokens -------------------------------------------------------------------------------------

    async def _fetch_token(self) -> TokenGrant:
        """Ask the token endpoint for a new access token (retried like any other call)."""
        body = urlencode(
            {
                "client_id": self.tenant.client_id,
                "client_secret": self.tenant.client_secret.get_secret_value(),
                "grant_type": "client_credentials",
            }
        ).encode("ascii")
        call = self._call_for(
            "POST",
            TOKEN_PATH,
            body=body,
            content_type="application/x-www-form-urlencoded",
            authenticated=False,
        )
        try:
            grant = await self._run(call, read_token, priority=Priority.ACTION, max_wait=None)
        except AuthError:
            metrics().auth_failures.labels(self.name).inc()
            raise
        self._remember_secret(grant.access_token)
        metrics().token_refreshes.labels(self.name).inc()
        log.info(
            "Obtained a Mimecast access token for tenant %s, valid for %d s.",
            self.name,
            int(grant.expires_in),
            extra={"tenant": self.name},
        )
        return grant

    # --- errors and secrets -----------------------------------------------------------------------

    def _error(self, call: Call, refusal: Refusal, *, replayed: bool) -> ApiError:
        rule = refusal.verdict.rule
        failure = refusal.verdict.failure
        # Mimecast's messages go into errors that are logged, shown to action callers and printed:
        # a server echoing the request (bearer token, form-encoded client secret) must not leak it.
        failures = [self._scrub_failure(f) for f in refusal.failures]
        if failure is not None:
            failure = self._scrub_failure(failure)
        detail = f"HTTP {refusal.status} from {call.label}"
        if failure is not None:
            detail += f"; {failure.code}"
            if failure.message:
                detail += f": {failure.message}"
        subject = f"tenant {self.name}"
        if not call.authenticated:
            if rule.action is Action.RETRY:
                # A busy or failing token endpoint says nothing about the credentials: do not send
                # the on-call engineer to check them.
                message = f"The Mimecast token endpoint failed for {subject} ({detail}); it is retried"
                return TransientError(
                    self._scrub(message), endpoint=call.label, status=refusal.status, failures=failures
                )
            # Anything the token endpoint refuses for good is a credentials problem.
            message = f"Mimecast refused the client credentials of {subject} ({detail}). Check client_id, client_secret and base_url"
            return AuthError(self._scrub(message), endpoint=call.label, status=refusal.status, failures=failures)
        if rule.action is Action.REAUTH:
            metrics().auth_failures.labels(self.name).inc()
            message = (
                f"Mimecast rejected a freshly issued access token for {subject} ({detail}). "
                "Check that the application is enabled and its credentials are still valid"
                if replayed
                else f"{rule.message} for {subject} ({detail})"
            )
            return AuthError(self._scrub(message), endpoint=call.label, status=refusal.status, failures=failures)
        message = self._scrub(f"{rule.message[:1].upper()}{rule.message[1:]} for {subject} ({detail})")
        kwargs: dict[str, Any] = {"endpoint": call.label, "status": refusal.status, "failures": failures}
        if rule.action is Action.RETRY:
            return TransientError(message, **kwargs)
        if rule.action is Action.RATE_LIMITED:  # pragma: no cover - handled by the attempt loop
            return RateLimited(message, retry_after=self.limiter.paused_for(), **kwargs)
        if rule.auth:
            metrics().auth_failures.labels(self.name).inc()
            return AuthError(message, **kwargs)
        return PermanentError(message, **kwargs)

    def _remember_secret(self, value: str) -> None:
        if not value or value in self._secrets:
            return
        self._secrets.append(value)
        register_secret(value)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret and secret in text:
                text = text.replace(secret, "****")
        return _redact(text)

    def _scrub_failure(self, failure: MimecastFailure) -> MimecastFailure:
        key = _redact_value(failure.key) if failure.key else failure.key
        return replace(failure, code=self._scrub(failure.code), message=self._scrub(failure.message), key=key)


# --- helpers ------------------------------------------------------------------------------------


#: Transient errors whose retries are used up (weak: forgotten with the exception).
_exhausted: weakref.WeakSet[BaseException] = weakref.WeakSet()


def _shared_tls_context(cafile: str | None) -> ssl.SSLContext:
    """One verifying TLS context per CA bundle (and its modification time) for the whole process.

    A default context holds the system's CA store, about 0.9 MB: one per tenant made the daemon grow
    by ~45 MB with 50 tenants (bench/RESULTS.md, benchmark 6). Contexts are safe to share between
    sessions; a CA bundle replaced on disk gets a new context the next time a client opens.
    """
    stamp = Path(cafile).stat().st_mtime_ns if cafile is not None else 0
    return _tls_context_for(cafile, stamp)


@functools.lru_cache(maxsize=32)
def _tls_context_for(cafile: str | None, stamp: int) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


def _worth_retrying(error: BaseException) -> bool:
    return isinstance(error, TransientError) and error not in _exhausted


#: Errors of an exchange whose request may have reached the server (an answer came, or the
#: connection was lost after it was made), with the call they belong to - an error of the token
#: request a write waited for says nothing about the write. Weak: forgotten with the exception.
_delivered: weakref.WeakKeyDictionary[BaseException, Call] = weakref.WeakKeyDictionary()


def _sent(error: ApiError, call: Call) -> ApiError:
    """Mark ``error`` as raised after ``call`` may have reached the server."""
    _delivered[error] = call
    return error


def _may_resend(call: Call, error: BaseException) -> bool:
    """Whether ``call`` may be sent again after ``error``.

    Reads always may. A write (``idempotent=False``) only when it provably did not arrive: no
    connection could be made, or the failure happened before sending (the token request, the rate
    limit). A 429 is not an error here: it is waited out inside the attempt, as Mimecast does not
    execute a rate-limited request.
    """
    return call.idempotent or _delivered.get(error) is not call


def _retry_reason(error: BaseException | None) -> str:
    """Bounded ``reason`` label of ``api_retries``."""
    if isinstance(error, ResponseFormatError):
        return "malformed"
    if isinstance(error, ApiError) and error.status is not None:
        return "server_error" if error.status >= 500 else f"http_{status_class(error.status)}"
    cause = error.__cause__ if error is not None else None
    if isinstance(cause, TimeoutError):
        return "timeout"
    return "connection"


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _redact(text: str) -> str:
    """``text`` with every registered secret masked in any of its encodings (the log redactor's rules)."""
    return redactor().scrub(text)


def _redact_value(value: Any) -> Any:
    return redactor().scrub_value(value)
