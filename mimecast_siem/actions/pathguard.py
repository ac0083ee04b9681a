"""The generic action's path guard (pure): only relative paths on the tenant's base URL.

The generic action lets an ``admin`` token call any Mimecast endpoint, so it is the one place where a
caller chooses the URL. Everything that could move the request off the tenant's API host, or onto
a path the operator did not intend, is refused before a request is built:

* absolute URLs (``https://...``), scheme-relative ``//host``, anything with ``:`` or ``@``
  (schemes, ports, userinfo);
* ``.`` / ``..`` segments and empty segments (``a//b``);
* any ``%`` at all: there is no legitimate percent-encoding in a Mimecast API path, and refusing it
  outright closes ``%2e%2e``, ``%2f`` and double encoding (``%252e``) without decoding games;
* backslashes, whitespace, control characters, ``?`` and ``#`` (query parameters go in
  ``query_params``), and non-ASCII;
* the OAuth token endpoint (``/oauth/...``), which the client handles itself.

The URL that is finally built is checked once more: same scheme, host and port as the base URL.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MAX_PATH_LENGTH = 512

_SEGMENT = re.compile(r"^[A-Za-z0-9_~.-]+$")
_FORBIDDEN_PREFIXES = ("/oauth",)


class UnsafePath(ValueError):
    """The generic action's endpoint is not a safe relative path; the message says why."""


def safe_relative_path(endpoint: str) -> str:
    """Validate ``endpoint`` and return it as an absolute-path reference (``/api/...``).

    Raises:
        UnsafePath: with a reason naming the offending part.
    """
    if not isinstance(endpoint, str) or not endpoint:
        raise UnsafePath("endpoint is empty; give a path such as api/directory/find-groups")
    if len(endpoint) > MAX_PATH_LENGTH:
        raise UnsafePath(f"endpoint is longer than {MAX_PATH_LENGTH} characters")
    if not endpoint.isascii():
        raise UnsafePath("endpoint must be plain ASCII")
    for char, why in (
        ("\\", "backslashes are not allowed"),
        ("%", "percent-encoding is not allowed in the endpoint"),
        ("?", "put query parameters in query_params, not in the endpoint"),
        ("#", "fragments are not allowed"),
        ("@", "'@' is not allowed (no userinfo or other hosts)"),
        (":", "':' is not allowed (no schemes, ports or other hosts)"),
    ):
        if char in endpoint:
            raise UnsafePath(why)
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in endpoint):
        raise UnsafePath("whitespace and control characters are not allowed")
    if endpoint.startswith("//"):
        raise UnsafePath("'//' at the start would name another host")
    path = endpoint if endpoint.startswith("/") else "/" + endpoint
    segments = path[1:].split("/")
    for segment in segments:
        if segment == "":
            raise UnsafePath("empty path segments ('//') are not allowed")
        if segment in (".", ".."):
            raise UnsafePath("'.' and '..' segments are not allowed")
        if not _SEGMENT.match(segment):
            raise UnsafePath(f"segment {segment!r} has characters outside A-Z a-z 0-9 _ ~ . -")
    lowered = path.lower()
    for prefix in _FORBIDDEN_PREFIXES:
        if lowered == prefix or lowered.startswith(prefix + "/"):
            raise UnsafePath(f"{prefix} is handled by the client and cannot be called directly")
    return path


def join_on_base(base_url: str, path: str) -> str:
    """``base_url`` + ``path``, verified to stay on the base URL's scheme, host and port."""
    url = base_url.rstrip("/") + path
    base, joined = urlsplit(base_url), urlsplit(url)
    if (base.scheme, base.hostname, base.port) != (joined.scheme, joined.hostname, joined.port):
        raise UnsafePath("the endpoint would leave the tenant's base URL")
    if not joined.path.startswith(base.path.rstrip("/") + "/"):
        raise UnsafePath("the endpoint would leave the tenant's base URL")
    return url
