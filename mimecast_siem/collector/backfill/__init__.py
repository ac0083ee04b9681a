"""Backfill: re-pull a date range into the sinks through the daemon's data path (docs/backfill.md).

The sub-package, one concern per module:

* ``plan`` - pure: validate a request and cut it into windows (:func:`plan_backfill`);
* ``runner`` - run one claimed job window by window (:class:`BackfillRunner`, :class:`SinkSelection`,
  :class:`RecentPagesDedupe`); its seams are typed (:class:`BackfillStore`, :class:`SelectiveRouter`);
* ``worker`` - the daemon's side: claim queued jobs and run them (:class:`BackfillWorker`);
* ``progress`` - progress bars, log lines and the summary table;
* ``commands`` - the ``mimecast-siem backfill`` CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mimecast_siem.collector.backfill.plan import (
    BackfillInputError,
    BackfillPlan,
    BackfillRequest,
    plan_backfill,
    why_not_backfillable,
)
from mimecast_siem.collector.backfill.progress import JobProgress, LogDisplay, NoDisplay, ProgressDisplay

if TYPE_CHECKING:
    from mimecast_siem.collector.backfill.runner import (
        BackfillOutcome,
        BackfillRunner,
        BackfillStore,
        RecentPagesDedupe,
        SelectiveRouter,
        SinkSelection,
        WindowFailed,
    )
    from mimecast_siem.collector.backfill.worker import BackfillWorker

#: Names whose modules import the data path (the Mimecast client, the sinks): imported on first use, so
#: that ``backfill list`` or a job already done never loads them (start-up, issue 16).
_RUNNER = frozenset(
    {"BackfillOutcome", "BackfillRunner", "BackfillStore", "RecentPagesDedupe", "SelectiveRouter", "SinkSelection",
     "WindowFailed"}
)  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _RUNNER:
        from mimecast_siem.collector.backfill import runner

        return getattr(runner, name)
    if name == "BackfillWorker":
        from mimecast_siem.collector.backfill import worker

        return worker.BackfillWorker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BackfillInputError",
    "BackfillOutcome",
    "BackfillPlan",
    "BackfillRequest",
    "BackfillRunner",
    "BackfillStore",
    "BackfillWorker",
    "JobProgress",
    "LogDisplay",
    "NoDisplay",
    "ProgressDisplay",
    "RecentPagesDedupe",
    "SelectiveRouter",
    "SinkSelection",
    "WindowFailed",
    "plan_backfill",
    "why_not_backfillable",
]
