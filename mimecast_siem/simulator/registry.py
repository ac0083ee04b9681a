"""The endpoint registry: how API endpoints (log streams, response actions) plug into the simulator.

An endpoint is a function receiving the parsed, authenticated request and the :class:`World`, and
returning an :class:`ApiResult` (data, fail, pagination). The app wraps it in the Mimecast
envelope, applies faults, counts statistics. A module adds endpoints with the decorator::

    from mimecast_siem.simulator.registry import ApiRequest, ApiResult, RequestFailed, endpoint

    @endpoint("/api/gateway/hold-release")
    def hold_release(request: ApiRequest, world: World) -> ApiResult:
        item = request.item
        if "id" not in item:
            raise RequestFailed("err_validation_null", "id is required")
        ok = request.account.holds.release(item["id"])
        return ApiResult(data=[{"id": item["id"], "release": ok}])

Modules named ``mimecast_siem/simulator/actions_*.py`` are imported automatically when an app is
built, so adding one needs no change to the core.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mimecast_siem.simulator.wire import ERR_BAD_VALUE, ERR_PAGE_SIZE, failure

if TYPE_CHECKING:
    from mimecast_siem.simulator.world import Account, World


class RequestFailed(Exception):
    """Raised by a handler to answer HTTP 200 with one ``fail[]`` entry (the Mimecast way).

    Args:
        code: Mimecast-style error code (``err_validation_null`` ...).
        message: Human-readable reason naming the field and what is allowed.
        key: The failing request item; defaults to the request's first ``data`` item.
        retryable: Value of ``errors[].retryable``.
    """

    def __init__(self, code: str, message: str, *, key: Any = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.key = key
        self.retryable = retryable


@dataclass
class ApiRequest:
    """An authenticated API request as handlers see it.

    Attributes:
        path: Request path.
        method: HTTP method.
        account: The caller's tenant (its data, hold queue and extension state).
        body: Parsed JSON body (``None`` when there was none).
        items: ``body["data"]`` (a list; empty when absent).
        meta: ``body["meta"]`` (a dict; empty when absent).
        query: Query-string parameters (REST-style endpoints).
        path_params: Values of ``{placeholders}`` in the registered path.
        now: Simulated time of the request, epoch seconds.
        config_max_page_size: Largest page size accepted.
        config_default_page_size: Page size when none is given.
        base_url: ``http://host:port`` the request came to (for absolute URLs in answers).
    """

    path: str
    method: str
    account: Account
    body: Any
    items: list[Any]
    meta: dict[str, Any]
    query: Mapping[str, str]
    path_params: Mapping[str, str]
    now: float
    config_max_page_size: int = 500
    config_default_page_size: int = 100
    base_url: str = ""

    @property
    def item(self) -> dict[str, Any]:
        """The first ``data`` item, or ``{}``; raises :class:`RequestFailed` when it is not an object."""
        if not self.items:
            return {}
        first = self.items[0]
        if not isinstance(first, dict):
            raise RequestFailed(ERR_BAD_VALUE, "data[0] must be a JSON object", key=first)
        return first

    @property
    def pagination(self) -> dict[str, Any]:
        """``meta.pagination`` (a dict; empty when absent)."""
        value = self.meta.get("pagination")
        return value if isinstance(value, dict) else {}

    @property
    def page_token(self) -> str | None:
        """``meta.pagination.pageToken`` when given and non-empty."""
        token = self.pagination.get("pageToken")
        return token if token not in (None, "") else None

    def page_size(self) -> int:
        """``meta.pagination.pageSize`` checked against the limits; raises :class:`RequestFailed`."""
        raw = self.pagination.get("pageSize", self.config_default_page_size)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise RequestFailed(
                ERR_PAGE_SIZE,
                f"meta.pagination.pageSize={raw!r} is invalid; allowed: an integer 1-{self.config_max_page_size}",
            )
        if not 1 <= raw <= self.config_max_page_size:
            raise RequestFailed(
                ERR_PAGE_SIZE, f"meta.pagination.pageSize={raw} is invalid; allowed: 1-{self.config_max_page_size}"
            )
        return raw


@dataclass
class ApiResult:
    """What a handler returns; the app wraps it in the envelope.

    Attributes:
        data: ``data`` of the envelope.
        fail: ``fail`` entries (see :func:`mimecast_siem.simulator.wire.failure`).
        pagination: ``meta.pagination`` when the endpoint pages.
        status: HTTP status and ``meta.status``.
        headers: Extra response headers.
        stream: Stream name for the ``records served`` statistic.
        records: How many records this answer serves.
        raw: A non-JSON body (binary downloads); ``data``/``fail`` are then ignored.
        content_type: Content type of ``raw``.
    """

    data: list[Any] = field(default_factory=list)
    fail: list[dict[str, Any]] = field(default_factory=list)
    pagination: dict[str, Any] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    stream: str | None = None
    records: int = 0
    raw: bytes | None = None
    content_type: str = "application/octet-stream"

    @classmethod
    def failed(cls, exc: RequestFailed, request: ApiRequest) -> ApiResult:
        """The 200-with-fail answer for ``exc``."""
        key = exc.key if exc.key is not None else (request.items[0] if request.items else {})
        return cls(fail=[failure(key, exc.code, exc.message, retryable=exc.retryable)])


Handler = Callable[["ApiRequest", "World"], "ApiResult | Awaitable[ApiResult]"]


@dataclass(frozen=True)
class Endpoint:
    """A registered endpoint: path (aiohttp syntax, ``{name}`` placeholders allowed), methods, handler."""

    path: str
    methods: tuple[str, ...]
    handler: Handler

    async def call(self, request: ApiRequest, world: World) -> ApiResult:
        """Run the handler (sync or async)."""
        result = self.handler(request, world)
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, ApiResult), f"handler of {self.path} must return ApiResult"
        return result


class EndpointRegistry:
    """Paths → endpoints. The default registry is :data:`ENDPOINTS`."""

    def __init__(self) -> None:
        self._endpoints: dict[str, Endpoint] = {}

    def add(self, path: str, handler: Handler, *, methods: tuple[str, ...] = ("POST",)) -> None:
        """Register ``handler`` for ``path``; a later registration of the same path replaces it."""
        if not path.startswith("/") or path.startswith("/_sim"):
            raise ValueError(f"endpoint path {path!r} is invalid; allowed: a path starting with '/', not under /_sim")
        self._endpoints[path] = Endpoint(path, tuple(m.upper() for m in methods), handler)

    def endpoint(self, path: str, *, methods: tuple[str, ...] = ("POST",)) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""

        def register(handler: Handler) -> Handler:
            self.add(path, handler, methods=methods)
            return handler

        return register

    def get(self, path: str) -> Endpoint | None:
        """The endpoint registered for exactly ``path``."""
        return self._endpoints.get(path)

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(list(self._endpoints.values()))

    def __len__(self) -> int:
        return len(self._endpoints)


#: The registry the simulator app serves.
ENDPOINTS = EndpointRegistry()


def endpoint(path: str, *, methods: tuple[str, ...] = ("POST",)) -> Callable[[Handler], Handler]:
    """Register a handler on the default registry (see the module docstring)."""
    return ENDPOINTS.endpoint(path, methods=methods)
