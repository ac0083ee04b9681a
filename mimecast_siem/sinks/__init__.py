"""Sinks: where events go (file, stdout, syslog, Splunk HEC, plugins), in which format, and the
delivery contract between the collector and them.

Other rooms use only these names::

    from mimecast_siem.sinks import (
        Router, DeliveryAborted, DeadLetters, build_sinks, validate_sink_settings, SinkContext,
    )

    sinks = build_sinks(settings, SinkContext(data_dir, instance_id, version))  # enabled sinks, not started
    dead_letters = DeadLetters(settings.dead_letter_path(), settings.dead_letter.max_bytes)
    router = Router(settings, sinks, dead_letters)
    await router.start()
    report = await router.deliver(tenant, stream, events)   # every routed sink accepted every event
    router.stop(); await router.close()                      # on shutdown

``deliver`` retries transient failures until ``stop()`` and then raises :class:`DeliveryAborted`
(do not commit); permanent refusals are dead-lettered. See docs/sinks.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mimecast_siem.sinks.base import (
    Rejection,
    SendResult,
    Sink,
    SinkContext,
    SinkHealth,
    SinkPermanentError,
    SinkTransientError,
)
from mimecast_siem.sinks.deadletter import (
    DeadLetter,
    DeadLetters,
    ReplayBusy,
    ReplayReport,
    event_from_json,
    event_to_json,
)
from mimecast_siem.sinks.formats import FORMAT_NAMES, get_encoder
from mimecast_siem.sinks.registry import (
    ENTRY_POINT_GROUP,
    SINK_TYPES,
    available_sink_types,
    build_sinks,
    load_sink_class,
    validate_sink_settings,
)

if TYPE_CHECKING:
    from mimecast_siem.sinks.router import (
        DeliveryAborted,
        DeliveryReport,
        RetryPolicy,
        Router,
        SinkOutcome,
        SinkStatus,
    )

#: The router's names: imported on first use. Validating a sink's options (config, ``config check``,
#: a backfill whose job is done) loads the registry and that sink's module, not the router, its durable
#: queues and the metrics (prometheus) - start-up, issue 16.
_ROUTER = frozenset({"DeliveryAborted", "DeliveryReport", "RetryPolicy", "Router", "SinkOutcome", "SinkStatus"})


def __getattr__(name: str) -> Any:
    if name in _ROUTER:
        from mimecast_siem.sinks import router

        return getattr(router, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ENTRY_POINT_GROUP",
    "FORMAT_NAMES",
    "SINK_TYPES",
    "DeadLetter",
    "DeadLetters",
    "DeliveryAborted",
    "DeliveryReport",
    "Rejection",
    "ReplayBusy",
    "ReplayReport",
    "RetryPolicy",
    "Router",
    "SendResult",
    "Sink",
    "SinkContext",
    "SinkHealth",
    "SinkOutcome",
    "SinkPermanentError",
    "SinkStatus",
    "SinkTransientError",
    "available_sink_types",
    "build_sinks",
    "event_from_json",
    "event_to_json",
    "get_encoder",
    "load_sink_class",
    "validate_sink_settings",
]
