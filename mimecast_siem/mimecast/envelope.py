"""The Mimecast request/response envelope as values: building request bodies, decoding answers.

Everything here is pure (bytes and dicts in, values out) so the wire rules are tested without a
network. The transport (``client.py``) only moves the bytes.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from mimecast_siem.errors import MimecastFailure, ResponseFormatError
from mimecast_siem.events import within_depth
from mimecast_siem.mimecast.error_map import parse_failures

log = logging.getLogger("mimecast_siem.mimecast")

#: Deepest nesting kept as JSON structure, counted from the answer's root. orjson *writes* at most
#: 254 levels (it reads 1024), and every sink and the dead-letter file wrap a record in a few more,
#: so a record nested deeper than this would decode fine and then fail every encoder - one such
#: record would wedge its stream forever. Deeper parts are kept, as their compact JSON text.
MAX_JSON_DEPTH = 64
#: orjson's write limit; ``_within_depth`` wraps a document so that orjson checks our limit in C.
_ORJSON_MAX_DEPTH = 254
#: Integers orjson reads as integers; larger ones it reads as floats (the lenient reader does the same).
_INT_RANGE = range(-(2**63), 2**64)


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """One decoded answer from Mimecast.

    Attributes:
        status: the HTTP status.
        meta: the envelope's ``meta`` object (``{}`` when absent).
        data: the envelope's ``data`` list (for REST families: the records, see ``body``).
        fail: parsed ``fail[]`` entries; empty on a response returned to a caller (a non-empty
            ``fail`` is raised as an error) unless the call asked for partial answers, where a batch
            that partly succeeded comes back with both ``data`` and ``fail``.
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
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            document = lenient_json_loads(body)
        except (ValueError, RecursionError):
            raise ResponseFormatError(
                f"Mimecast answered {endpoint} with HTTP {status} and a body of {len(body)} bytes that is not "
                f"valid JSON (truncated or malformed at character {exc.pos})",
                endpoint=endpoint,
                status=status,
            ) from None
        # Refusing the page would wedge the stream on it forever; the repairs keep every record.
        log.warning(
            "Mimecast answered %s with JSON that is not strictly valid (%s); it was read with invalid UTF-8 "
            "and lone surrogates replaced by U+FFFD and NaN/Infinity kept as text.",
            endpoint,
            _reason(exc),
            extra={"endpoint": endpoint},
        )
    document, flattened = limit_depth(document)
    if flattened:
        log.warning(
            "Mimecast answered %s with JSON nested deeper than %d levels; %d deeper values are kept as JSON text.",
            endpoint,
            MAX_JSON_DEPTH,
            flattened,
            extra={"endpoint": endpoint},
        )
    return document


def _reason(exc: orjson.JSONDecodeError) -> str:
    # orjson's messages name the problem, not the data ("str is not valid UTF-8: surrogates not allowed").
    return str(exc.msg)[:80]


def lenient_json_loads(body: bytes) -> Any:
    """Decode JSON that strict parsers refuse but whose structure is intact.

    Invalid UTF-8 bytes and lone surrogate escapes (a subject cut in the middle of an emoji) become
    U+FFFD, ``NaN``/``Infinity`` and out-of-range numbers are kept as their text, raw control
    characters inside strings are accepted. Truncated or malformed JSON is still refused.

    Raises:
        ValueError: the body is not JSON even so (``json.JSONDecodeError`` is a ``ValueError``).
        RecursionError: nesting too deep for the standard library's parser.
    """
    text = body.decode("utf-8-sig", "replace")
    value = json.loads(text, parse_constant=str, parse_float=_lenient_float, parse_int=_lenient_int, strict=False)
    return _without_surrogates(value)


def _lenient_float(text: str) -> float | str:
    number = float(text)
    return number if math.isfinite(number) else text


def _lenient_int(text: str) -> int | float | str:
    number = int(text)
    if number in _INT_RANGE:
        return number
    return _lenient_float(text)


def _clean_text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def _without_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings and keys replaced (iterative: any depth)."""
    if isinstance(value, str):
        return _clean_text(value)
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in list(node):
                item = node[key]
                clean = _clean_text(key)
                if clean != key:
                    del node[key]
                    node[clean] = item
                if isinstance(item, str):
                    node[clean] = _clean_text(item)
                elif isinstance(item, dict | list):
                    stack.append(item)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, str):
                    node[i] = _clean_text(item)
                elif isinstance(item, dict | list):
                    stack.append(item)
    return value


def limit_depth(document: Any, max_depth: int = MAX_JSON_DEPTH) -> tuple[Any, int]:
    """Replace every object or array nested deeper than ``max_depth`` by its compact JSON text.

    The root object or array is level 1. Returns the (in-place updated) document and how many
    values were replaced; ``0`` - the usual case, checked in C - leaves the document untouched.
    """
    if within_depth(document, max_depth):
        return document, 0
    replaced = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        slots: Any = node.items() if isinstance(node, dict) else enumerate(node)
        for key, item in list(slots):
            if not isinstance(item, dict | list):
                continue
            if depth + 1 > max_depth:
                node[key] = json_text(item)
                replaced += 1
            else:
                stack.append((item, depth + 1))
    return document, replaced


def json_text(value: Any) -> str:
    """Compact JSON text of a decoded JSON value of any depth (iterative, so no recursion limit)."""
    out: list[str] = []
    # Entries are (True, literal text) or (False, value still to write).
    stack: list[tuple[bool, Any]] = [(False, value)]
    while stack:
        literal, item = stack.pop()
        if literal:
            out.append(item)
        elif isinstance(item, dict):
            parts: list[tuple[bool, Any]] = [(True, "{")]
            for i, (key, member) in enumerate(item.items()):
                parts.append((True, ("," if i else "") + orjson.dumps(str(key)).decode() + ":"))
                parts.append((False, member))
            parts.append((True, "}"))
            stack.extend(reversed(parts))
        elif isinstance(item, list):
            parts = [(True, "[")]
            for i, member in enumerate(item):
                if i:
                    parts.append((True, ","))
                parts.append((False, member))
            parts.append((True, "]"))
            stack.extend(reversed(parts))
        elif isinstance(item, int) and not isinstance(item, bool):
            out.append(str(item))  # any size: orjson refuses integers past 64 bits
        else:
            out.append(orjson.dumps(item, default=str).decode())
    return "".join(out)


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
    a ``record_key`` that is not a list, or a ``data`` entry that is not an object, is a format error.
    A record that is not an object (``null``, a string) is kept as ``{"value": <it>}``: refusing the
    page would wedge its stream on it forever and hold back every good record beside it.
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
    odd = [type(record).__name__ for record in items if not isinstance(record, dict)]
    if not odd:
        return items
    log.warning(
        'Mimecast answered %s with %d records that are not objects (%s); they are kept as {"value": ...}.',
        endpoint,
        len(odd),
        ", ".join(sorted(set(odd))),
        extra={"endpoint": endpoint},
    )
    return [record if isinstance(record, dict) else {"value": record} for record in items]
