"""The Mimecast request/response envelope as values: building request bodies, decoding answers.

Everything here is pure (bytes and dicts in, values out) so the wire rules are tested without a
network. The transport (``client.py``) only moves the bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from mimecast_siem.errors import MimecastFailure, ResponseFormatError
from mimecast_siem.mimecast.error_map import parse_failures


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """One decoded answer from Mimecast.

    Attributes:
        status: the HTTP status.
        meta: the envelope's ``meta`` object (``{}`` when absent).
        data: the envelope's ``data`` list (for REST families: the records, see ``body``).
        fail: parsed ``fail[]`` entries; always empty on a response returned to a caller, because a
            non-empty ``fail`` is raised as an error.
        headers: response headers (case-insensitive mapping).
        body: the whole decoded JSON document (REST families return shapes other than the envelope).
    """

    status: int
    meta: dict[str, Any]
    data: list[Any]
    fail: list[MimecastFailure] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    @property
    def next_page_token(self) -> str | None:
        """``meta.pagination.next`` when it is a non-empty string, else ``None``."""
        return next_page_token(self.meta)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a pagination walk.

    Attributes:
        records: the page's records (``data[i][record_key]`` concatenated, or ``data`` itself).
        response: the page's :class:`ApiResponse`.
        number: 1 for the first page of the walk, then 2, 3, ...
    """

    records: list[dict[str, Any]]
    response: ApiResponse
    number: int


def encode_envelope(data: Sequence[Any] | None, meta: Mapping[str, Any] | None) -> bytes:
    """The JSON body of an ``/api/...`` call: ``{"meta": ..., "data": [...]}``.

    ``meta`` is left out when empty (non-paged endpoints accept that). Encoded once per call so a
    replay after a token refresh sends byte-identical data.
    """
    body: dict[str, Any] = {}
    if meta:
        body["meta"] = meta
    body["data"] = list(data) if data is not None else []
    try:
        return orjson.dumps(body)
    except TypeError as exc:
        raise TypeError(f"request data is not JSON-serialisable: {exc}") from None


def paged_meta(page_size: int, page_token: str | None, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``meta`` for one page: ``{"pagination": {"pageSize": n[, "pageToken": t]}}`` plus ``extra``."""
    pagination: dict[str, Any] = {"pageSize": page_size}
    if page_token is not None:
        pagination["pageToken"] = page_token
    meta: dict[str, Any] = dict(extra or {})
    meta["pagination"] = pagination
    return meta


def next_page_token(meta: Mapping[str, Any]) -> str | None:
    """The next-page token of a response's ``meta``; ``None`` when absent, null or empty."""
    pagination = meta.get("pagination")
    if not isinstance(pagination, Mapping):
        return None
    token = pagination.get("next")
    if isinstance(token, str) and token.strip():
        return token
    return None


def is_json_content_type(content_type: str | None) -> bool:
    """``application/json`` or any ``+json`` media type (parameters such as charset ignored)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def decode_json(endpoint: str, status: int, content_type: str | None, body: bytes) -> Any:
    """Decode a body that must be JSON, or raise :class:`ResponseFormatError` naming what was wrong.

    The error carries the endpoint and status and describes the body by size only (never its text).
    """
    if not body.strip():
        raise ResponseFormatError(
            f"Mimecast answered {endpoint} with HTTP {status} and an empty body; expected JSON",
            endpoint=endpoint,
            status=status,
        )
    if not is_json_content_type(content_type):
        shown = (content_type or "none").split(";", 1)[0].strip()[:60]
        raise ResponseFormatError(
            f"Mimecast answered {endpoint} with HTTP {status} and content type {shown!r} "
            f"({len(body)} bytes); expected application/json",
            endpoint=endpoint,
            status=status,
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ResponseFormatError(
            f"Mimecast answered {endpoint} with HTTP {status} and a body of {len(body)} bytes that is not "
            f"valid JSON (truncated or malformed at character {exc.pos})",
            endpoint=endpoint,
            status=status,
        ) from None


def try_decode_json(content_type: str | None, body: bytes) -> Any:
    """Best-effort decode of an error body: the JSON value, or ``None`` when it is not JSON."""
    if not body.strip():
        return None
    if content_type and not is_json_content_type(content_type) and not body.lstrip().startswith((b"{", b"[")):
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def envelope_response(
    endpoint: str, status: int, document: Any, headers: Mapping[str, str] | None = None
) -> ApiResponse:
    """Validate a decoded ``/api/...`` document and wrap it as an :class:`ApiResponse`.

    Raises:
        ResponseFormatError: the document is not an object, or ``meta``/``data``/``fail`` have the
            wrong types.
    """
    if not isinstance(document, dict):
        raise ResponseFormatError(
            f"Mimecast answered {endpoint} with HTTP {status} and a JSON {type(document).__name__}; "
            "expected an object with meta and data",
            endpoint=endpoint,
            status=status,
        )
    meta = document.get("meta", {})
    data = document.get("data", [])
    fail = document.get("fail", [])
    for name, value, kind in (("meta", meta, dict), ("data", data, list), ("fail", fail, list)):
        if value is not None and not isinstance(value, kind):
            raise ResponseFormatError(
                f"Mimecast answered {endpoint} with HTTP {status} and a {name} field of type "
                f"{type(value).__name__}; expected {kind.__name__}",
                endpoint=endpoint,
                status=status,
            )
    return ApiResponse(
        status=status,
        meta=meta or {},
        data=data or [],
        fail=parse_failures(document),
        headers=headers or {},
        body=document,
    )


def rest_response(status: int, document: Any, headers: Mapping[str, str] | None = None) -> ApiResponse:
    """Wrap a REST-family answer (``/siem/v1/...`` and friends), whose shape varies by endpoint.

    ``data`` is the envelope's ``data`` list when there is one, else ``value`` (OData-style lists),
    else the document itself when it is a list, else ``[document]``; ``[]`` for an empty body.
    """
    meta: dict[str, Any] = {}
    data: list[Any]
    if document is None:
        data = []
    elif isinstance(document, list):
        data = document
    elif isinstance(document, dict):
        raw_meta = document.get("meta")
        meta = raw_meta if isinstance(raw_meta, dict) else {}
        if isinstance(document.get("data"), list):
            data = document["data"]
        elif isinstance(document.get("value"), list):
            data = document["value"]
        else:
            data = [document]
    else:
        data = [document]
    return ApiResponse(
        status=status, meta=meta, data=data, fail=parse_failures(document), headers=headers or {}, body=document
    )


def page_records(endpoint: str, response: ApiResponse, record_key: str | None) -> list[dict[str, Any]]:
    """The records of one page: ``data`` itself, or every ``data[i][record_key]`` list concatenated.

    A missing ``record_key`` counts as no records (Mimecast omits empty lists on some endpoints);
    a ``record_key`` that is not a list, or records that are not objects, are format errors.
    """
    if record_key is None:
        items: list[Any] = response.data
    else:
        items = []
        for entry in response.data:
            if not isinstance(entry, dict):
                raise ResponseFormatError(
                    f"Mimecast answered {endpoint} with a data entry of type {type(entry).__name__}; "
                    f"expected an object holding {record_key!r}",
                    endpoint=endpoint,
                    status=response.status,
                )
            nested = entry.get(record_key)
            if nested is None:
                continue
            if not isinstance(nested, list):
                raise ResponseFormatError(
                    f"Mimecast answered {endpoint} with data[].{record_key} of type {type(nested).__name__}; "
                    "expected a list",
                    endpoint=endpoint,
                    status=response.status,
                )
            items.extend(nested)
    for record in items:
        if not isinstance(record, dict):
            raise ResponseFormatError(
                f"Mimecast answered {endpoint} with a record of type {type(record).__name__}; expected an object",
                endpoint=endpoint,
                status=response.status,
            )
    return items
