"""Observability: Prometheus metrics, structured logging with secret redaction, health endpoints.

Logging (``observability/logging.py``)::

    from mimecast_siem.observability import bind_context, configure_logging, register_secret

    configure_logging("INFO", "auto")          # JSON lines, or console text on a TTY
    register_secret(access_token)              # scrubbed from every line from now on
    bind_context(tenant="acme", stream="ttp-url")   # added to this task's log lines

Metrics live in ``observability/metrics.py`` (``from mimecast_siem.observability.metrics import
metrics``) and health endpoints in ``observability/health.py``; they are imported from their
modules so that importing this package stays cheap.
"""

from __future__ import annotations

from mimecast_siem.observability.logging import (
    LOG_FORMATS,
    LOG_LEVELS,
    MASK,
    ConsoleFormatter,
    ContextBinding,
    JsonLineFormatter,
    RedactingFilter,
    Redactor,
    bind_context,
    clear_context,
    configure_logging,
    current_context,
    redactor,
    register_secret,
    register_secrets,
    reset_logging,
    scrub,
    unbind_context,
)

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "MASK",
    "ConsoleFormatter",
    "ContextBinding",
    "JsonLineFormatter",
    "RedactingFilter",
    "Redactor",
    "bind_context",
    "clear_context",
    "configure_logging",
    "current_context",
    "redactor",
    "register_secret",
    "register_secrets",
    "reset_logging",
    "scrub",
    "unbind_context",
]
