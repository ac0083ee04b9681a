"""The action audit: every call, allowed or refused, goes to the state store and to the log.

A record says when, who (token name, ``cli:<os user>`` or ``anonymous``), which action, which tenant,
a digest of the parameters (SHA-256 of their canonical JSON - not the parameters themselves), whether
it was a dry run, the outcome, Mimecast's HTTP status and fail code, and how long it took. Tokens,
secrets and parameter values are never part of a record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from mimecast_siem.checkpoints import AuditRecord

log = logging.getLogger("mimecast_siem.actions")

_ACTION_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_CODE = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")


def params_digest(params: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of the parameters as the caller sent them.

    Canonical = keys sorted, no whitespace; values that are not JSON become strings. The same input
    gives the same digest whether the call succeeded or was refused, so refusals can be correlated.
    """
    try:
        canonical = orjson.dumps(params, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    except TypeError:  # e.g. integers beyond 64 bits: the stdlib encoder handles them, keys still sorted
        canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(canonical).hexdigest()


def audit_action_name(name: str) -> str:
    """The action name as recorded: a caller-chosen unknown name is kept only if it looks like one."""
    return name if _ACTION_NAME.match(name) else "invalid-name"


def audit_code(code: str | None) -> str | None:
    """An error code safe to record (Mimecast ``fail`` codes and our outcome words pass unchanged)."""
    if code is None:
        return None
    if _CODE.match(code):
        return code
    cleaned = re.sub(r"[^A-Za-z0-9_.:/-]", "_", code)[:64]
    return cleaned or None


def log_fields(record: AuditRecord, channel: str) -> dict[str, Any]:
    return {
        "audit": {
            "at": record.at.isoformat(),
            "who": record.actor,
            "action": record.action,
            "tenant": record.tenant,
            "param_digest": record.param_digest,
            "dry_run": record.dry_run,
            "outcome": record.outcome,
            "mimecast_status": record.mimecast_status,
            "error_code": record.error_code,
            "duration_ms": record.duration_ms,
            "channel": channel,
            "client": record.client,
            "items": record.items,
        }
    }


AuditWriter = Callable[[AuditRecord], Awaitable[Any]]


class AuditTrail:
    """Writes records to the log always, and to the state store when one is attached.

    A store failure never hides a record: it is logged at ERROR with the record itself (the log is
    the second copy of the audit), and the call's answer is still returned.
    """

    def __init__(self, writer: AuditWriter | None = None) -> None:
        self._writer = writer

    async def record(self, record: AuditRecord, channel: str) -> None:
        extra = log_fields(record, channel)
        level = logging.INFO if record.outcome in ("ok", "dry_run") else logging.WARNING
        log.log(
            level,
            "Action %s by %s on tenant %s finished with outcome %s.",
            record.action,
            record.actor,
            record.tenant or "-",
            record.outcome,
            extra=extra,
        )
        if self._writer is None:
            return
        try:
            await self._writer(record)
        except Exception as exc:  # the audit must not turn a finished call into a crash
            log.error(
                "Could not store the audit record of action %s (%s); the record is in this log line.",
                record.action,
                type(exc).__name__,
                extra=extra,
            )
