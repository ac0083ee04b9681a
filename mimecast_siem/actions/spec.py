"""What an action *is*: one declarative :class:`ActionSpec` per catalogue entry (data, not a subclass).

A spec says how to call Mimecast (method, path, request builder), what the caller may pass (a
pydantic parameter model carrying the catalogue's allowed values and limits), what comes back
(result kind and shaper), and who may call it (scope). The CLI, the HTTP service, ``GET /v1/actions``
and the OpenAPI document are all generated from the same specs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel


class Scope(StrEnum):
    """What a bearer token must carry to run an action.

    ``read``: get/list/search/decode/find. ``write``: create/update/delete/release/reject/block/permit/
    remediate. ``admin``: the generic action only. Scopes do not imply each other: a token that should
    do everything lists all three (an ``admin`` token is not silently a ``write`` token).
    """

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class ResultKind(StrEnum):
    """How a result comes back."""

    JSON = "json"  # one request, the response data shaped into a JSON value
    PAGED = "paged"  # follows pages up to the caller's limit; returns the records
    BINARY = "binary"  # a file streamed to disk (CLI --output) or to the HTTP response


#: Placeholder used in dry-run output for a value only known once an earlier step ran.
FROM_PREVIOUS_STEP = "<taken from the previous step's response>"


@dataclass(frozen=True, slots=True)
class MimecastCall:
    """One request to Mimecast exactly as it will be sent (before authentication headers)."""

    method: str
    path: str
    body: Any = None
    query: Mapping[str, str] | None = None
    rest: bool = False  # sent with request_rest (generic action) instead of the /api envelope call

    @property
    def data(self) -> list[Any]:
        """The envelope's ``data`` list (empty when the body has none)."""
        if isinstance(self.body, dict):
            data = self.body.get("data")
            if isinstance(data, list):
                return data
        return []

    @property
    def meta(self) -> dict[str, Any] | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("meta"), dict):
            return dict(self.body["meta"])
        return None

    def describe(self, base_url: str) -> dict[str, Any]:
        """The dry-run view: method, full URL and body. Carries no credentials by construction."""
        url = base_url.rstrip("/") + self.path
        if self.query:
            url += "?" + urlencode(sorted(self.query.items()))
        return {"method": self.method, "url": url, "body": self.body}


def envelope(items: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``/api`` request envelope ``{"meta": ..., "data": [...]}`` (mimecast-api.md section 2.1)."""
    body: dict[str, Any] = {"data": items}
    if meta:
        body["meta"] = meta
    return body


RequestBuilder = Callable[[Any], MimecastCall]
ResultShaper = Callable[[list[Any]], Any]


def data_as_is(data: list[Any]) -> Any:
    """Default shaper: the response's ``data`` list."""
    return data


def first_item(data: list[Any]) -> Any:
    """Shaper for single-object answers: ``data[0]`` (or ``None`` when Mimecast returned nothing)."""
    return data[0] if data else None


def nested(key: str) -> ResultShaper:
    """Shaper for answers nested under ``data[0].<key>`` (e.g. ``trackedEmails``, ``items``)."""

    def shape(data: list[Any]) -> Any:
        out: list[Any] = []
        for item in data:
            if isinstance(item, dict) and isinstance(item.get(key), list):
                out.extend(item[key])
        return out

    shape.__name__ = f"nested_{key}"
    return shape


@dataclass(frozen=True, slots=True)
class Paging:
    """How a paginated read walks: where the records sit and which parameters bound the walk."""

    record_key: str | None  # None = records directly in data[]
    page_size_param: str | None = None  # name of the params field carrying the page size
    page_count_param: str | None = None  # name of the params field capping the number of pages
    default_page_size: int = 100


_KEBAB = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One response action.

    Attributes:
        name: CLI/HTTP name, kebab-case of the catalogue title (``release-held-message``).
        title: the catalogue's title (``Release Held Message``).
        summary: one sentence of what it does (from the catalogue).
        method: HTTP method Mimecast is called with.
        path: Mimecast path (``/api/gateway/hold-release``).
        params: pydantic model of the parameters.
        build: params -> the request(s) to send, in order (pure). More than one = a composite action
            whose later steps depend on earlier answers; ``run_steps`` then performs it.
        scope: what a token needs to call it.
        kind: JSON, PAGED or BINARY result.
        shape: data -> result for JSON results.
        paging: for PAGED results.
        permission: the Mimecast role permission the catalogue says is needed.
        source: why the path/body look as they do (citations and conflict choices).
        tags: OpenAPI tag (the Mimecast area).
        follow_up: for two-step actions, (params, first response data) -> the second request
            (pure); ``build`` then returns both steps, the second with placeholders, for dry runs.
    """

    name: str
    title: str
    summary: str
    method: str
    path: str
    params: type[BaseModel]
    build: Callable[[Any], list[MimecastCall]]
    scope: Scope
    kind: ResultKind = ResultKind.JSON
    shape: ResultShaper = data_as_is
    paging: Paging | None = None
    permission: str | None = None
    source: str = ""
    tags: tuple[str, ...] = field(default=())
    follow_up: Callable[[Any, list[Any]], MimecastCall] | None = None

    def __post_init__(self) -> None:
        if not _KEBAB.match(self.name):
            raise ValueError(f"action name {self.name!r} is not kebab-case")
        if (self.kind is ResultKind.PAGED) != (self.paging is not None):
            raise ValueError(f"action {self.name}: paging is required exactly for PAGED results")

    @property
    def tag(self) -> str:
        return self.tags[0] if self.tags else "other"


def post(path: str, items: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> MimecastCall:
    """A POST of the ``/api`` envelope to ``path``."""
    return MimecastCall("POST", path, envelope(items, meta))


def single(builder: RequestBuilder) -> Callable[[Any], list[MimecastCall]]:
    """Adapt a builder of one request to the spec's list-of-requests form."""

    def build(params: Any) -> list[MimecastCall]:
        return [builder(params)]

    build.__name__ = getattr(builder, "__name__", "build")
    return build
