"""Reading one HTTP answer into a value or a :class:`Refusal`, one reader per kind of endpoint.

A reader gets the live :class:`aiohttp.ClientResponse` and the :class:`Call` that produced it and
returns either the caller's value (an :class:`ApiResponse`, a token grant, a downloaded file) or a
:class:`Refusal` - what the error map decided about an error answer. Format problems raise
:class:`~mimecast_siem.errors.ResponseFormatError`. Bodies are read with a size cap and never quoted
in messages.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

import aiohttp

from mimecast_siem.errors import MimecastFailure, PermanentError, ResponseFormatError
from mimecast_siem.mimecast.auth import TokenGrant, parse_token_grant
from mimecast_siem.mimecast.envelope import (
    ApiResponse,
    decode_json,
    envelope_response,
    is_json_content_type,
    rest_response,
    try_decode_json,
)
from mimecast_siem.mimecast.error_map import Verdict, classify, parse_failures

#: Largest JSON answer read into memory (a 500-record page is around 1 MB).
MAX_JSON_BYTES = 64 * 1024 * 1024
#: Largest JSON answer read from a binary endpoint or the token endpoint.
MAX_SMALL_JSON_BYTES = 1024 * 1024
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Call:
    """One logical request, frozen so every retry and replay sends the same bytes.

    Attributes:
        tenant: tenant name (for messages).
        method: HTTP method.
        path: the relative path asked for.
        label: bounded endpoint label (metrics, logs, errors).
        url: the absolute URL on the tenant's base URL.
        body: request body bytes.
        content_type: request ``Content-Type``.
        params: query parameters.
        authenticated: sends the bearer token (``False`` only for the token request itself).
        accept: request ``Accept``.
        timeout: per-request timeout; ``None`` uses the session's (total = ``tenant.timeout``).
        idempotent: sending it twice does no harm (reads). ``False`` for writes: once the request
            may have reached the server it is never re-sent automatically.
        partial: a 2xx answer with both ``data`` and ``fail[]`` is returned (an action batch that
            partly succeeded) instead of being refused.
    """

    tenant: str
    method: str
    path: str
    label: str
    url: str
    body: bytes | None = None
    content_type: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    authenticated: bool = True
    accept: str = "application/json"
    timeout: aiohttp.ClientTimeout | None = None
    idempotent: bool = True
    partial: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    """An answer that is not a success: what the error map decided, and what it was based on."""

    status: int
    verdict: Verdict
    failures: list[MimecastFailure]
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class FileLink:
    """A file endpoint answered JSON naming where to download the file (instead of the file itself)."""

    url: str


#: Keys of ``data[0]`` (or of the document) that may carry a file's download URL.
FILE_LINK_KEYS = ("url", "downloadUrl", "download_url", "link")


def file_link(document: Any) -> str | None:
    """The download URL of a JSON answer to a file request, if it names one (http or https only)."""
    candidates: list[Any] = []
    if isinstance(document, dict):
        data = document.get("data")
        if isinstance(data, list) and data and isinstance(data[0], dict):
            candidates.extend(data[0].get(k) for k in FILE_LINK_KEYS)
        candidates.extend(document.get(k) for k in FILE_LINK_KEYS)
    for value in candidates:
        if isinstance(value, str) and value.lower().startswith(("https://", "http://")) and len(value) <= 8192:
            return value
    return None


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """A file fetched by ``MimecastClient.download``.

    Attributes:
        bytes_written: size of the file written to ``dest``.
        content_type: the media type Mimecast declared.
        filename: the file name from ``Content-Disposition`` (base name only), if any.
        sha256: hex SHA-256 of the bytes written.
    """

    bytes_written: int
    content_type: str
    filename: str | None
    sha256: str


def refusal(status: int, document: Any, headers: Mapping[str, str]) -> Refusal:
    """Classify an error answer (non-2xx, or 2xx with failures) with the error map."""
    failures = parse_failures(document)
    verdict = classify(status, failures)
    if verdict is None:  # pragma: no cover - callers only build refusals for errors
        raise AssertionError("a refusal needs an error status or failures")
    return Refusal(status=status, verdict=verdict, failures=failures, headers=headers)


def _ok(resp: aiohttp.ClientResponse) -> bool:
    return 200 <= resp.status < 300


async def _error_answer(resp: aiohttp.ClientResponse, call: Call) -> Refusal:
    body = await read_capped(resp, call, MAX_SMALL_JSON_BYTES)
    return refusal(resp.status, try_decode_json(resp.content_type, body), resp.headers)


async def read_envelope(resp: aiohttp.ClientResponse, call: Call) -> ApiResponse | Refusal:
    """An ``/api/...`` answer: the envelope, validated; 200 with ``fail[]`` is a refusal."""
    if not _ok(resp):
        return await _error_answer(resp, call)
    body = await read_capped(resp, call, MAX_JSON_BYTES)
    document = decode_json(call.label, resp.status, resp.headers.get("Content-Type"), body)
    response = envelope_response(call.label, resp.status, document, resp.headers)
    if response.fail and not (call.partial and response.data):
        return refusal(resp.status, document, resp.headers)
    return response


async def read_rest(resp: aiohttp.ClientResponse, call: Call) -> ApiResponse | Refusal:
    """A REST-family answer: any JSON (or nothing, for 204 and bodiless writes)."""
    if not _ok(resp):
        return await _error_answer(resp, call)
    body = await read_capped(resp, call, MAX_JSON_BYTES)
    if not body.strip() and (resp.status == 204 or call.method != "GET"):
        return rest_response(resp.status, None, resp.headers)
    document = decode_json(call.label, resp.status, resp.headers.get("Content-Type"), body)
    response = rest_response(resp.status, document, resp.headers)
    if response.fail:
        return refusal(resp.status, document, resp.headers)
    return response


async def read_token(resp: aiohttp.ClientResponse, call: Call) -> TokenGrant | Refusal:
    """A token-endpoint answer: the grant, or the OAuth / Mimecast refusal."""
    if not _ok(resp):
        return await _error_answer(resp, call)
    body = await read_capped(resp, call, MAX_SMALL_JSON_BYTES)
    document = decode_json(call.label, resp.status, resp.headers.get("Content-Type"), body)
    if parse_failures(document):
        return refusal(resp.status, document, resp.headers)
    return parse_token_grant(document, endpoint=call.label, status=resp.status)


async def read_file(
    resp: aiohttp.ClientResponse, call: Call, spool: IO[bytes], max_bytes: int, *, follow_links: bool = True
) -> DownloadResult | Refusal | FileLink:
    """A binary answer streamed into ``spool`` (emptied first, so a retry starts clean).

    A JSON envelope with ``fail`` is a refusal; a JSON envelope naming a download URL is a
    :class:`FileLink` (when ``follow_links``); any other JSON envelope is not a file.

    Raises:
        PermanentError: the file exceeds ``max_bytes`` (declared or counted), or an envelope came
            back instead of a file.
    """
    if not _ok(resp):
        return await _error_answer(resp, call)
    content_type = resp.headers.get("Content-Type", "application/octet-stream")
    media_type = content_type.split(";", 1)[0].strip()
    spool.seek(0)
    spool.truncate()
    if is_json_content_type(content_type):
        body = await read_capped(resp, call, max(MAX_SMALL_JSON_BYTES, min(max_bytes, MAX_JSON_BYTES)))
        document = try_decode_json(content_type, body)
        if isinstance(document, dict) and ("fail" in document or "meta" in document):
            if parse_failures(document):
                return refusal(resp.status, document, resp.headers)
            link = file_link(document) if follow_links else None
            if link is not None:
                return FileLink(link)
            raise PermanentError(
                f"Mimecast answered {call.label} for tenant {call.tenant} with a JSON envelope instead of a file",
                endpoint=call.label,
                status=resp.status,
            )
        if len(body) > max_bytes:
            raise _too_large(call, max_bytes, resp.status, len(body))
        spool.write(body)  # a JSON file is still a file
        return DownloadResult(len(body), media_type, _filename(resp), hashlib.sha256(body).hexdigest())
    declared = resp.content_length
    if declared is not None and declared > max_bytes:
        raise _too_large(call, max_bytes, resp.status, declared)
    digest = hashlib.sha256()
    size = 0
    async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(call, max_bytes, resp.status, None)
        digest.update(chunk)
        spool.write(chunk)
    return DownloadResult(size, media_type, _filename(resp), digest.hexdigest())


async def read_capped(resp: aiohttp.ClientResponse, call: Call, cap: int) -> bytes:
    """The whole body, refusing more than ``cap`` bytes (declared or received)."""
    declared = resp.content_length
    if declared is not None and declared > cap:
        raise ResponseFormatError(
            f"Mimecast's answer to {call.label} (HTTP {resp.status}) declares {declared} bytes, "
            f"more than the {cap} bytes accepted",
            endpoint=call.label,
            status=resp.status,
        )
    parts: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
        size += len(chunk)
        if size > cap:
            raise ResponseFormatError(
                f"Mimecast's answer to {call.label} (HTTP {resp.status}) is larger than the {cap} bytes accepted",
                endpoint=call.label,
                status=resp.status,
            )
        parts.append(chunk)
    return b"".join(parts)


def _too_large(call: Call, max_bytes: int, status: int, declared: int | None) -> PermanentError:
    size = f"{declared} bytes" if declared is not None else "more"
    return PermanentError(
        f"The file from {call.label} for tenant {call.tenant} is {size}, over the {max_bytes}-byte limit "
        "(actions.max_download_bytes); the download was aborted",
        endpoint=call.label,
        status=status,
    )


def _filename(resp: aiohttp.ClientResponse) -> str | None:
    disposition = resp.content_disposition
    name = disposition.filename if disposition is not None else None
    if not name:
        return None
    base = os.path.basename(name.replace("\\", "/"))
    return base or None


def query_pairs(params: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """Query parameters as ordered pairs: lists repeat the key, ``None`` is left out, booleans are lowercase."""
    if not params:
        return ()
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if v is None:
                continue
            pairs.append((str(key), "true" if v is True else "false" if v is False else str(v)))
    return tuple(pairs)
