"""Which paths the client will call, and the bounded metric label of each.

Every call names a path relative to the tenant's base URL (``/api/...`` or a REST family such as
``/siem/v1/...``). Absolute URLs, ``..``, encoded characters and anything else that could steer a
request (and its bearer token) to another host or path are refused here - defence in depth behind
the action service's own checks.
"""

from __future__ import annotations

import re

from yarl import URL

from mimecast_siem.errors import PermanentError

MAX_PATH_CHARS = 512
_SAFE = re.compile(r"^(?:/[A-Za-z0-9._~!$&'()*+,;=:@-]+)+/?$")
_NAME_SEGMENT = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_SHOW = 80


class UnsafePathError(PermanentError):
    """A path was refused before sending: absolute URL, ``..``, encoded or unexpected characters."""


def checked_path(path: str) -> str:
    """Return ``path`` unchanged when it is a safe relative API path, else raise.

    Allowed: ``/`` followed by segments of letters, digits and ``-._~!$&'()*+,;=:@``; no empty,
    ``.`` or ``..`` segments, no ``%``, ``?``, ``#``, backslashes, whitespace or scheme.

    Raises:
        UnsafePathError: naming the path (shortened) and what is allowed.
    """
    if not isinstance(path, str) or not path:
        raise UnsafePathError(
            "Mimecast path must be a non-empty string starting with / (e.g. /api/account/get-account)"
        )
    shown = path[:_SHOW]
    if len(path) > MAX_PATH_CHARS:
        raise UnsafePathError(f"Mimecast path {shown!r}... is longer than {MAX_PATH_CHARS} characters")
    if "://" in path or path.startswith("//") or not path.startswith("/"):
        raise UnsafePathError(
            f"refusing Mimecast path {shown!r}: give a path relative to the tenant's base URL, "
            "such as /api/ttp/url/get-logs, not a URL"
        )
    if any(segment in (".", "..") for segment in path.split("/")):
        raise UnsafePathError(f"refusing Mimecast path {shown!r}: '.' and '..' segments are not allowed")
    if not _SAFE.fullmatch(path):
        raise UnsafePathError(
            f"refusing Mimecast path {shown!r}: only letters, digits and -._~!$&'()*+,;=:@ between single "
            "slashes are allowed (no %, ?, #, \\, spaces or empty segments; pass query parameters separately)"
        )
    return path


def join_url(base_url: str, path: str) -> URL:
    """The URL of ``path`` on ``base_url``, verified to stay on the same scheme, host, port and prefix.

    Raises:
        UnsafePathError: the path is unsafe or the joined URL would leave the base URL.
    """
    checked_path(path)
    base = URL(base_url.rstrip("/"))
    url = URL(base_url.rstrip("/") + path)
    if (
        url.scheme != base.scheme
        or url.host != base.host
        or url.port != base.port
        or not url.path.startswith(base.path.rstrip("/") + "/")
        or url.query_string
        or url.fragment
    ):
        raise UnsafePathError(f"refusing Mimecast path {path[:_SHOW]!r}: it would leave the tenant's base URL")
    return url


#: Most distinct endpoint labels one process hands out; later new paths share ``OTHER_ENDPOINT``.
#: Our streams and actions use about 60 paths, but the generic action lets a caller choose any
#: ``/api/...`` path, and every new label is a new set of metric series kept until the process ends.
MAX_ENDPOINT_LABELS = 256
OTHER_ENDPOINT = "/other"
_labels: set[str] = set()


def endpoint_label(path: str) -> str:
    """A bounded label for metrics and logs: the path, with id-like segments replaced by ``{id}``.

    ``/api/...`` paths never carry ids and are kept whole; REST-family segments that are not short
    lowercase names (``v1``, ``batch``, ``cloud-gateway``) become ``{id}``. Past
    :data:`MAX_ENDPOINT_LABELS` distinct labels, new ones are :data:`OTHER_ENDPOINT`.
    """
    if path.startswith("/api/"):
        label = path[:MAX_PATH_CHARS]
    else:
        segments = ["{id}" if not _NAME_SEGMENT.fullmatch(s) else s for s in path.strip("/").split("/") if s]
        label = "/" + "/".join(segments)
    if label in _labels:
        return label
    if len(_labels) >= MAX_ENDPOINT_LABELS:
        return OTHER_ENDPOINT
    _labels.add(label)
    return label
