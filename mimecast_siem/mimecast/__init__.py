"""The Mimecast API 2.0 client room: OAuth2 token cache, transport, error map, rate limiter, paginator.

Other rooms import these names only (docs/internals.md "mimecast/"; docs/client.md for the details):

* :class:`MimecastClient` - one per tenant; ``request``, ``pages``, ``download``, ``request_rest``.
* :class:`ApiResponse`, :class:`Page`, :class:`DownloadResult` - what the calls return.
* :class:`RateLimiter`, :func:`limiter_for`, :class:`Priority` - the per-app shared request budget.
* SIEM logs: :func:`list_batch_files`, :func:`stream_events`, :meth:`MimecastClient.open_presigned`
  (:class:`PresignedUrlGone` on 403/404).
* :func:`format_mimecast_time`, :func:`parse_mimecast_time` - the wire's date format.
* The error map (``ERROR_MAP`` tables, :func:`classify`, :func:`parse_failures`) and the room's own
  errors :class:`PaginationLoopError`, :class:`PaginationLimitError` and :class:`UnsafePathError`
  (all ``PermanentError``).

The API client knows nothing of streams, checkpoints or sinks.
"""

from __future__ import annotations

from mimecast_siem.mimecast.client import BinaryWriter, MimecastClient, RetryPolicy
from mimecast_siem.mimecast.envelope import ApiResponse, Page
from mimecast_siem.mimecast.error_map import (
    CODE_RULES,
    PREFIX_RULES,
    STATUS_RULES,
    Action,
    ErrorRule,
    Verdict,
    classify,
    parse_failures,
)
from mimecast_siem.mimecast.pagination import PageCursor, PaginationLimitError, PaginationLoopError
from mimecast_siem.mimecast.paths import UnsafePathError, checked_path, endpoint_label
from mimecast_siem.mimecast.ratelimit import Permit, Priority, RateLimiter, limiter_for, reset_limiters
from mimecast_siem.mimecast.readers import DownloadResult
from mimecast_siem.mimecast.siem import (
    BatchPage,
    PresignedUrlGone,
    SiemApi,
    StreamPage,
    list_batch_files,
    siem_day,
    siem_stream_time,
    stream_events,
)
from mimecast_siem.times import format_mimecast_time, parse_mimecast_time

__all__ = [
    "CODE_RULES",
    "PREFIX_RULES",
    "STATUS_RULES",
    "Action",
    "ApiResponse",
    "BatchPage",
    "BinaryWriter",
    "DownloadResult",
    "ErrorRule",
    "MimecastClient",
    "Page",
    "PageCursor",
    "PaginationLimitError",
    "PaginationLoopError",
    "Permit",
    "PresignedUrlGone",
    "Priority",
    "RateLimiter",
    "RetryPolicy",
    "SiemApi",
    "StreamPage",
    "UnsafePathError",
    "Verdict",
    "checked_path",
    "classify",
    "endpoint_label",
    "format_mimecast_time",
    "limiter_for",
    "list_batch_files",
    "parse_failures",
    "parse_mimecast_time",
    "reset_limiters",
    "siem_day",
    "siem_stream_time",
    "stream_events",
]
