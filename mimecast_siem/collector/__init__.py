"""The collector: stream catalogue, normalisers, window planner, dedupe, the data path, supervisor, daemon.

Other rooms (cli, demo, backfill) import these names only (docs/collector.md has the details)::

    from mimecast_siem.collector import CATALOGUE, StreamContext, deliver_log_window, plan_windows

* :data:`CATALOGUE` / :class:`StreamSpec` - every stream as data.
* :func:`plan_windows`, :class:`Window`, :func:`fetch_range` - pure window planning.
* :class:`StreamContext`, :func:`deliver_log_window`, :func:`deliver_held_queue`,
  :func:`deliver_gauge_sample` - the data path without commits (the backfill reuses it).
* :class:`StreamTask`, :class:`Supervisor` - live polling under leases; :class:`Daemon` - ``run``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mimecast_siem.collector.dedupe import WindowDedupe, ids_to_remember, split_by_range
from mimecast_siem.collector.snapshots import HoldDiff, LeftHold, diff_hold_queue
from mimecast_siem.collector.windows import FetchRange, Window, caught_up, fetch_range, plan_windows
from mimecast_siem.streams import CATALOGUE, NormaliseContext, Normaliser, StreamKind, StreamSpec, stream_spec

if TYPE_CHECKING:
    from mimecast_siem.collector.daemon import AppConfigurator, Daemon, DaemonServices
    from mimecast_siem.collector.pipeline import (
        StreamContext,
        WindowResult,
        deliver_gauge_sample,
        deliver_held_queue,
        deliver_log_window,
        normalise_records,
    )
    from mimecast_siem.collector.supervisor import Supervisor
    from mimecast_siem.collector.task import LeaseTerm, StreamTask, backoff_delay, error_kind

# The data path, the supervisor and the daemon import the Mimecast client, the sinks and aiohttp's
# server: their names are imported on first use, so that a command (``checkpoints list``, ``backfill``)
# loads only what it runs (start-up, issue 16).
_PIPELINE = frozenset(
    {"StreamContext", "WindowResult", "deliver_gauge_sample", "deliver_held_queue", "deliver_log_window",
     "normalise_records"}
)  # fmt: skip
_TASK = frozenset({"LeaseTerm", "StreamTask", "backoff_delay", "error_kind"})
_DAEMON = frozenset({"AppConfigurator", "Daemon", "DaemonServices"})


def __getattr__(name: str) -> Any:
    if name in _PIPELINE:
        from mimecast_siem.collector import pipeline

        return getattr(pipeline, name)
    if name in _TASK:
        from mimecast_siem.collector import task

        return getattr(task, name)
    if name == "Supervisor":
        from mimecast_siem.collector import supervisor

        return supervisor.Supervisor
    if name in _DAEMON:
        from mimecast_siem.collector import daemon

        return getattr(daemon, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CATALOGUE",
    "AppConfigurator",
    "Daemon",
    "DaemonServices",
    "FetchRange",
    "HoldDiff",
    "LeaseTerm",
    "LeftHold",
    "NormaliseContext",
    "Normaliser",
    "StreamContext",
    "StreamKind",
    "StreamSpec",
    "StreamTask",
    "Supervisor",
    "Window",
    "WindowDedupe",
    "WindowResult",
    "backoff_delay",
    "caught_up",
    "deliver_gauge_sample",
    "deliver_held_queue",
    "deliver_log_window",
    "diff_hold_queue",
    "error_kind",
    "fetch_range",
    "ids_to_remember",
    "normalise_records",
    "plan_windows",
    "split_by_range",
    "stream_spec",
]
