"""Splunk HTTP Event Collector protocol as pure functions: envelopes, request packing, reply classification.

Facts from shared/docs/sinks.md section 1 (the complete documented status table is :data:`HEC_CODES`).
Nothing here does I/O; :mod:`mimecast_siem.sinks.hec` moves the bytes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from mimecast_siem.sinks.base import exact_size
from mimecast_siem.streams import CATALOGUE

EVENT_PATH = "/services/collector/event"
ACK_PATH = "/services/collector/ack"
HEALTH_PATH = "/services/collector/health"
CHANNEL_HEADER = "X-Splunk-Request-Channel"

Disposition = Literal["ok", "retry", "reject_event", "permanent"]


@dataclass(frozen=True, slots=True)
class HecCode:
    """One documented HEC reply code."""

    code: int
    http: int
    text: str
    disposition: Disposition


HEC_CODES: dict[int, HecCode] = {
    c.code: c
    for c in (
        HecCode(0, 200, "Success", "ok"),
        HecCode(1, 403, "Token disabled", "permanent"),
        HecCode(2, 401, "Token is required", "permanent"),
        HecCode(3, 401, "Invalid authorization", "permanent"),
        HecCode(4, 403, "Invalid token", "permanent"),
        HecCode(5, 400, "No data", "permanent"),
        HecCode(6, 400, "Invalid data format", "reject_event"),
        HecCode(7, 400, "Incorrect index", "permanent"),
        HecCode(8, 500, "Internal server error", "retry"),
        HecCode(9, 503, "Server is busy", "retry"),
        HecCode(10, 400, "Data channel is missing", "permanent"),
        HecCode(11, 400, "Invalid data channel", "permanent"),
        HecCode(12, 400, "Event field is required", "reject_event"),
        HecCode(13, 400, "Event field cannot be blank", "reject_event"),
        HecCode(14, 400, "ACK is disabled", "permanent"),
        HecCode(15, 400, "Error in handling indexed fields", "reject_event"),
        HecCode(16, 400, "Query string authorization is not enabled", "permanent"),
        HecCode(17, 200, "HEC is healthy", "ok"),
        HecCode(18, 503, "HEC is unhealthy, queues are full", "retry"),
        HecCode(19, 503, "HEC is unhealthy, ack service unavailable", "retry"),
        HecCode(20, 503, "HEC is unhealthy, queues are full, ack service unavailable", "retry"),
        HecCode(21, 400, "Invalid token", "permanent"),
        HecCode(22, 400, "Token disabled", "permanent"),
    )
}

#: What an operator should do about a permanent code (appended to the error message).
CODE_HINTS: dict[int, str] = {
    1: "enable the HEC token in Splunk",
    2: "set token (or token_file / token_env) on the sink",
    3: "the Authorization header must be 'Splunk <token>'; check the token value",
    4: "check the token value (token / token_file / token_env)",
    7: "allow the index on the HEC token, or change index on the sink",
    10: "the token has indexer acknowledgement on; set ack: true on the sink",
    11: "the channel must be a GUID; remove channel to let the sink generate one",
    14: "indexer acknowledgement is disabled on the token; set ack: false on the sink (or enable useACK)",
    16: "the sink uses the Authorization header; check proxies that rewrite it",
    21: "check the token value (token / token_file / token_env)",
    22: "enable the HEC token in Splunk",
}


class ReplyKind(enum.Enum):
    """What the sink does with a reply."""

    SUCCESS = "success"
    REJECT_EVENT = "reject_event"  # one event is bad (index in invalid_event_number, when given)
    TOO_LARGE = "too_large"  # HTTP 413: split the request
    TRANSIENT = "transient"  # retry later
    PERMANENT = "permanent"  # configuration problem: whole batch


@dataclass(frozen=True, slots=True)
class HecReply:
    """A classified HEC answer."""

    kind: ReplyKind
    status: int
    code: int | None = None
    text: str = ""
    ack_id: int | None = None
    invalid_event_number: int | None = None

    def describe(self) -> str:
        """Short human description without secrets: ``HTTP 400, HEC code 6 (Invalid data format)``."""
        parts = [f"HTTP {self.status}"]
        if self.code is not None:
            parts.append(f"HEC code {self.code} ({self.text})" if self.text else f"HEC code {self.code}")
        elif self.text:
            parts.append(self.text)
        hint = CODE_HINTS.get(self.code) if self.code is not None else None
        message = ", ".join(parts)
        return f"{message}: {hint}" if hint and self.kind is ReplyKind.PERMANENT else message


#: Said of a 2xx answer whose body is not HEC's JSON: a proxy, a login page or another web server
#: answered. Taking it as success would acknowledge events that never reached Splunk.
NOT_HEC = "the answer is not HEC's JSON (a proxy or another web server answered?); check the sink's url"


def _parse_body(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _foreign(body: bytes) -> bool:
    """A non-empty body that is not a JSON object (HEC always answers with one)."""
    if not body.strip():
        return False
    try:
        return not isinstance(orjson.loads(body), dict)
    except orjson.JSONDecodeError:
        return True


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def classify_reply(status: int, body: bytes) -> HecReply:
    """Classify the answer to ``POST /services/collector/event`` (sinks.md section 1.6).

    Retryable: 5xx, 429, 408, codes 8, 9, 18-20. Permanent: codes 1-5, 7, 10, 11, 14, 16, 21, 22 and
    other 4xx. Per-event: codes 6, 12, 13, 15 (with ``invalid-event-number`` when the server says which).
    413 means the request was too large.
    """
    parsed = _parse_body(body)
    code = _int(parsed.get("code"))
    known = HEC_CODES.get(code) if code is not None else None
    raw_text = parsed.get("text")
    text = raw_text if isinstance(raw_text, str) else (known.text if known else "")
    text = text[:200]
    if 200 <= status < 300 and code in (None, 0):
        if _foreign(body):
            return HecReply(ReplyKind.PERMANENT, status, None, NOT_HEC)
        return HecReply(ReplyKind.SUCCESS, status, code, text or "Success", ack_id=_int(parsed.get("ackId")))
    if status == 413:
        return HecReply(ReplyKind.TOO_LARGE, status, code, text or "Request entity too large")
    if status in (408, 429) or status >= 500:
        return HecReply(ReplyKind.TRANSIENT, status, code, text or f"HTTP {status}")
    if known is not None:
        if known.disposition == "reject_event":
            number = _int(parsed.get("invalid-event-number"))
            return HecReply(ReplyKind.REJECT_EVENT, status, code, text, invalid_event_number=number)
        if known.disposition == "retry":
            return HecReply(ReplyKind.TRANSIENT, status, code, text)
        return HecReply(ReplyKind.PERMANENT, status, code, text)
    if 200 <= status < 300:
        return HecReply(ReplyKind.PERMANENT, status, code, text or "unexpected reply code")
    if 300 <= status < 400:
        return HecReply(ReplyKind.PERMANENT, status, code, "HEC URL redirects; configure the final URL")
    return HecReply(ReplyKind.PERMANENT, status, code, text or f"HTTP {status}")


def classify_health(status: int, body: bytes) -> tuple[bool, str]:
    """``(healthy, detail)`` for ``/services/collector/health`` (17 healthy; 18-20 unhealthy)."""
    parsed = _parse_body(body)
    code = _int(parsed.get("code"))
    text = parsed.get("text") if isinstance(parsed.get("text"), str) else ""
    if status == 200 and code in (17, None):
        if _foreign(body):
            return False, f"HTTP {status}, {NOT_HEC}"
        return True, str(text or "HEC is healthy")
    known = HEC_CODES.get(code) if code is not None else None
    return False, f"HTTP {status}" + (f", HEC code {code} ({text or (known.text if known else '')})" if code else "")


def parse_acks(body: bytes) -> dict[int, bool]:
    """Parse ``{"acks": {"0": true, "1": false}}``; unknown shapes give an empty dict."""
    acks = _parse_body(body).get("acks")
    result: dict[int, bool] = {}
    if isinstance(acks, dict):
        for key, value in acks.items():
            number = _int(key)
            if number is not None:
                result[number] = value is True
    return result


def envelope(
    record: dict[str, Any] | str | orjson.Fragment,
    *,
    time: float,
    sourcetype: str | None,
    source: str | None,
    host: str | None,
    index: str | None,
    fields: Mapping[str, str] | None,
) -> bytes:
    """One HEC event envelope (JSON object bytes, no separator)."""
    obj: dict[str, Any] = {"time": time}
    if host:
        obj["host"] = host
    if source:
        obj["source"] = source
    if sourcetype:
        obj["sourcetype"] = sourcetype
    if index:
        obj["index"] = index
    if fields:
        obj["fields"] = dict(fields)
    obj["event"] = record
    # A batch holds every envelope until HEC accepted it.
    return exact_size(orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS))


def epoch_seconds_ms(timestamp: Any) -> float:
    """Epoch seconds with a millisecond fraction (``1700000000.123``) from an aware datetime."""
    return round(float(timestamp.timestamp()), 3)


def pack_requests(sizes: Sequence[int], max_bytes: int, max_events: int) -> list[list[int]]:
    """Group envelope indices into requests of at most ``max_bytes`` and ``max_events``.

    Order is kept. An envelope larger than ``max_bytes`` gets a request of its own (the caller
    decides whether to send it or refuse it).
    """
    requests: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for index, size in enumerate(sizes):
        if current and (len(current) >= max_events or current_bytes + size > max_bytes):
            requests.append(current)
            current, current_bytes = [], 0
        current.append(index)
        current_bytes += size
    if current:
        requests.append(current)
    return requests


def default_sourcetype(stream: str) -> str:
    """The stream's declared sourcetype (``StreamSpec.sourcetype``); ``mimecast:<a>:<b>`` for unknown streams."""
    spec = CATALOGUE.get(stream)
    return spec.sourcetype if spec is not None else "mimecast:" + stream.replace("-", ":")
