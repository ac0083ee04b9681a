"""``mimecast-siem backfill``: re-pull a date range into the sinks; ``backfill list``; ``backfill cancel JOB_ID``.

Registered by ``collector/commands.py`` (it imports this module's :func:`register` when present)::

    mimecast-siem backfill --tenant acme --stream ttp-url --since 2026-10-01 --until 2026-11-01
    mimecast-siem backfill --tenant acme --all-streams --since 2026-10-01 --until 2026-11-01 --sink splunk --queue
    mimecast-siem backfill list [--tenant acme] [--status running]
    mimecast-siem backfill cancel 7

Every flag is checked (``backfill_plan.plan_backfill``) before the state store is opened or a
request is made; bad input exits 2. Re-running the same command resumes the same job (the job is
keyed by tenant, streams, range and sinks). Exit codes: 0 done (or cancelled, or queued), 1 the job
failed or could not run, 2 bad input, 3 done but some events were dead-lettered (a sink refused
them permanently: ``mimecast-siem dead-letters list``), 130 interrupted (the job is queued again;
re-run to continue).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mimecast_siem.checkpoints import (
    BackfillJob,
    BackfillJobNotFound,
    BackfillStatus,
    InvalidBackfillTransition,
    StateStoreError,
    find_done_backfill_job,
)
from mimecast_siem.collector.backfill.console import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
)
from mimecast_siem.collector.backfill.console import err as _err
from mimecast_siem.collector.backfill.console import out as _out
from mimecast_siem.collector.backfill.plan import (
    BackfillInputError,
    BackfillPlan,
    BackfillRequest,
    backfillable_streams,
    plan_backfill,
)
from mimecast_siem.collector.backfill.progress import format_seconds
from mimecast_siem.config import (
    Settings,
    add_config_arguments,
    print_problems,
    settings_from_args,
)
from mimecast_siem.errors import ConfigError
from mimecast_siem.times import format_duration, format_utc, parse_duration

PROGRESS_MODES = ("auto", "bar", "log", "none")

_EXAMPLES = """\
examples:
  mimecast-siem backfill --tenant acme --stream ttp-url --since 2026-10-01 --until 2026-11-01
  mimecast-siem backfill --tenant acme --all-streams --since 2026-10-01 --until 2026-11-01 --sink splunk
  mimecast-siem backfill --tenant acme --stream audit --since 2026-10-01 --until 2026-10-08 --queue
  mimecast-siem backfill list
  mimecast-siem backfill cancel 7

Re-running the same command (same tenant, streams, range and sinks) resumes the job: windows already
delivered are not sent again. Ctrl-C stops after the windows in flight and queues the job again.
"""


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``backfill`` (with its ``list`` and ``cancel`` actions) to ``sub``."""
    parser = sub.add_parser(
        "backfill",
        help="Re-pull a date range into the sinks (resumable); list or cancel backfill jobs.",
        description="Re-pull [--since, --until) of log streams through the daemon's data path into the sinks, "
        "window by window, resumable after a crash or Ctrl-C; the daemon's live checkpoints are never touched. "
        "'backfill list' shows jobs; 'backfill cancel JOB_ID' stops one.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(parser)
    parser.add_argument(
        "action",
        nargs="?",
        choices=("list", "cancel"),
        metavar="{list,cancel}",
        help="list: show backfill jobs; cancel JOB_ID: stop a job. Without an action: run a backfill.",
    )
    parser.add_argument("job_id", nargs="?", metavar="JOB_ID", help="The job to cancel (see 'backfill list').")
    run = parser.add_argument_group("run a backfill")
    run.add_argument("--tenant", help="Tenant name as configured (also filters 'backfill list').")
    run.add_argument(
        "--stream",
        action="append",
        default=[],
        dest="streams",
        metavar="STREAM",
        help=f"Log stream to re-pull (repeatable): {', '.join(backfillable_streams())}.",
    )
    run.add_argument(
        "--all-streams", action="store_true", help="Every enabled log stream of the tenant (snapshot/gauge skipped)."
    )
    run.add_argument("--since", metavar="TIME", help="Start, inclusive: 2026-10-01 or 2026-10-01T06:00:00Z (UTC).")
    run.add_argument("--until", metavar="TIME", help="End, exclusive; not in the future.")
    run.add_argument(
        "--sink",
        action="append",
        default=[],
        dest="sinks",
        metavar="NAME",
        help="Deliver to these sinks only (repeatable; of those the routes select). Default: the routes.",
    )
    run.add_argument(
        "--concurrency", type=int, default=None, metavar="N", help="Windows at once (default backfill.concurrency)."
    )
    run.add_argument("--window", default=None, metavar="DURATION", help="Window size (default backfill.window, 1h).")
    run.add_argument(
        "--queue",
        action="store_true",
        help="Create (or re-queue) the job and exit; a running daemon ('mimecast-siem run') picks it up.",
    )
    run.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        default="auto",
        help="bar: progress bars; log: a log line per stream periodically; auto: bars on a terminal (default).",
    )
    run.add_argument(
        "--progress-interval",
        default="10s",
        metavar="DURATION",
        help="Seconds between progress log lines when not drawing bars (default 10s).",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="Serve /metrics (backfill_* and the rest) on server.host:PORT while the run lasts (0 = a free port).",
    )
    run.add_argument(
        "--metrics-file",
        default=None,
        metavar="PATH",
        help="Write the run's metrics there at the end (Prometheus text format, e.g. for node_exporter's textfile "
        "collector).",
    )
    listing = parser.add_argument_group("list")
    listing.add_argument(
        "--status", choices=[s.value for s in BackfillStatus], default=None, help="Only jobs with this status."
    )
    listing.add_argument("--limit", type=int, default=50, metavar="N", help="At most N jobs, newest first (50).")
    listing.add_argument(
        "--output",
        "-o",
        choices=("text", "json"),
        default="text",
        help="'backfill list' output: text (a table) or json (a stable document, docs/operations.md).",
    )
    parser.set_defaults(handler=backfill_command)


async def backfill_command(args: argparse.Namespace) -> int:
    """Dispatch ``backfill`` / ``backfill list`` / ``backfill cancel``."""
    problem = _check_action_flags(args)
    if problem is not None:
        _err(f"error: {problem}")
        return EXIT_BAD_INPUT
    settings = settings_from_args(args)
    try:
        if args.action == "list":
            return await backfill_list(settings, args)
        if args.action == "cancel":
            return await backfill_cancel(settings, args.job_id)
        return await backfill_run(settings, args)
    except ConfigError as exc:
        print_problems(exc, sys.stderr)
        return EXIT_BAD_INPUT
    except StateStoreError as exc:
        _err(f"error: the state store is not usable: {exc}")
        return EXIT_FAILURE


def _check_action_flags(args: argparse.Namespace) -> str | None:
    """Flags that do not belong to the chosen action (before the configuration is even read)."""
    run_flags = {
        "--stream": bool(args.streams),
        "--all-streams": args.all_streams,
        "--since": args.since is not None,
        "--until": args.until is not None,
        "--sink": bool(args.sinks),
        "--concurrency": args.concurrency is not None,
        "--window": args.window is not None,
        "--queue": args.queue,
        "--metrics-port": args.metrics_port is not None,
        "--metrics-file": args.metrics_file is not None,
    }
    if args.action != "list" and args.output != "text":
        return "--output applies to 'backfill list' only"
    if args.action in ("list", "cancel"):
        given = [flag for flag, present in run_flags.items() if present]
        if given:
            return f"'backfill {args.action}' does not take {', '.join(given)}"
    if args.action == "cancel" and args.job_id is None:
        return "'backfill cancel' needs a JOB_ID (see 'mimecast-siem backfill list')"
    if args.action != "cancel" and args.job_id is not None:
        return f"unexpected argument {args.job_id!r}; only 'backfill cancel' takes a JOB_ID"
    if args.action is None and args.status is not None:
        return "--status filters 'backfill list'; it does not apply to a run"
    return None


# --- run -----------------------------------------------------------------------------------------


async def backfill_run(settings: Settings, args: argparse.Namespace) -> int:
    """``mimecast-siem backfill --tenant T --stream S ... --since X --until Y``."""
    if not args.tenant:
        _err("error: --tenant is required to run a backfill (configured tenants: "
             f"{', '.join(t.name for t in settings.tenants)})")  # fmt: skip
        return EXIT_BAD_INPUT
    try:
        interval = parse_duration(args.progress_interval).total_seconds()
    except ValueError:
        _err(f"error: --progress-interval {args.progress_interval!r} is not a duration; use e.g. 10s, 1m")
        return EXIT_BAD_INPUT
    request = BackfillRequest(
        tenant=args.tenant,
        streams=tuple(args.streams),
        all_streams=bool(args.all_streams),
        since=args.since or "",
        until=args.until or "",
        sinks=tuple(args.sinks),
        concurrency=args.concurrency,
        window=args.window,
    )
    try:
        plan = plan_backfill(settings, request, datetime.now(UTC))
    except BackfillInputError as exc:
        count = len(exc.problems)
        _err(f"error: the backfill request has {count} problem{'s' if count != 1 else ''}:")
        for problem in exc.problems:
            _err(f"  - {problem}")
        return EXIT_BAD_INPUT
    for note in plan.notes:
        _err(f"note: {note}")
    job_args = (plan.tenant, plan.streams, plan.since, plan.until, plan.window, plan.sinks)
    try:
        # A job already done is read without opening the store (SQLAlchemy): start-up, issue 16.
        done = find_done_backfill_job(settings.state_url(), *job_args)
    except ValueError as exc:
        _err(f"error: {exc}")
        return EXIT_BAD_INPUT
    if done is not None:
        return _already_done(done, plan)
    from mimecast_siem.checkpoints import StateStore

    async with await StateStore.open(settings.state_url()) as store:
        try:
            job = await store.create_backfill_job(*job_args)
        except ValueError as exc:
            _err(f"error: {exc}")
            return EXIT_BAD_INPUT
        if job.status is BackfillStatus.DONE:
            return _already_done(job, plan)
        _note_window(job, plan)
        if args.queue:
            if job.status is BackfillStatus.RUNNING:
                _out(
                    f"Backfill job {job.id} is already running ({job.owner or 'another runner'}; {job.windows_done} of "
                    f"{job.windows_total} windows done). Follow it with 'mimecast-siem backfill list'."
                )
            else:
                _out(
                    f"Backfill job {job.id} is queued ({job.windows_done} of {job.windows_total} windows done); a "
                    "running daemon ('mimecast-siem run') picks it up. Follow it with 'mimecast-siem backfill list'."
                )
            return EXIT_OK
        # The data path (the Mimecast client, the sinks, the runner) is imported only now that there is
        # a job to run: a job already done or queued never loads it (start-up, issue 16).
        from mimecast_siem.collector.backfill.foreground import Foreground, serve_metrics, write_metrics_file

        foreground = Foreground(settings, store, plan, job, progress=args.progress, interval=interval)
        with serve_metrics(settings.server.host, args.metrics_port) as bound:
            if bound is not None:
                _err(f"Serving this backfill's metrics on http://{settings.server.host}:{bound}/metrics.")
            try:
                return await foreground.run()
            finally:
                if args.metrics_file:
                    write_metrics_file(Path(args.metrics_file))


def _note_window(job: BackfillJob, plan: BackfillPlan) -> None:
    if job.window != plan.window:
        _err(
            f"note: backfill job {job.id} was created with {format_duration(job.window)} windows; resuming it "
            f"with those (not {format_duration(plan.window)})."
        )


def _already_done(job: BackfillJob, plan: BackfillPlan) -> int:
    _note_window(job, plan)
    _out(
        f"Backfill job {job.id} is already done: {job.windows_done} windows, {job.events:,} events. Nothing "
        "was sent again (to deliver the range again, change the range or the sinks)."
    )
    return EXIT_OK


# --- list / cancel ------------------------------------------------------------------------------------


async def backfill_list(settings: Settings, args: argparse.Namespace) -> int:
    """``mimecast-siem backfill list [--tenant T] [--status S] [--limit N]``."""
    if args.limit < 1:
        _err(f"error: --limit {args.limit} must be at least 1")
        return EXIT_BAD_INPUT
    status = BackfillStatus(args.status) if args.status else None
    from mimecast_siem.checkpoints import StateStore

    async with await StateStore.open(settings.state_url()) as store:
        jobs = await store.list_backfill_jobs(status=status, tenant=args.tenant, limit=args.limit)
    if args.output == "json":
        _out(json.dumps({"jobs": [job_document(job) for job in jobs]}, indent=2))
        return EXIT_OK
    if not jobs:
        _out("No backfill jobs" + (" match." if status or args.tenant else " yet."))
        return EXIT_OK
    for line in job_table(jobs, datetime.now(UTC)):
        _out(line)
    return EXIT_OK


def job_document(job: BackfillJob) -> dict[str, Any]:
    """One job of ``backfill list --output json`` (pure; the shape is documented in docs/operations.md)."""
    return {
        "id": job.id,
        "tenant": job.tenant,
        "status": job.status.value,
        "streams": list(job.streams),
        "sinks": list(job.sinks),
        "since": format_utc(job.since),
        "until": format_utc(job.until),
        "window_seconds": int(job.window.total_seconds()),
        "windows_done": job.windows_done,
        "windows_total": job.windows_total,
        "events": job.events,
        "owner": job.owner if job.status is BackfillStatus.RUNNING else None,
        "updated_at": format_utc(job.updated_at),
        "error": job.error,
    }


def job_table(jobs: list[BackfillJob], now: datetime) -> list[str]:
    """``backfill list`` lines (pure)."""
    header = ("ID", "TENANT", "STATUS", "STREAMS", "SINCE", "UNTIL", "WINDOW", "PROGRESS", "EVENTS", "OWNER", "UPDATED")
    rows: list[tuple[str, ...]] = [header]
    for job in jobs:
        percent = 100.0 * job.windows_done / job.windows_total if job.windows_total else 100.0
        rows.append(
            (
                str(job.id),
                job.tenant,
                job.status.value,
                ",".join(job.streams),
                format_utc(job.since),
                format_utc(job.until),
                format_duration(job.window),
                f"{job.windows_done}/{job.windows_total} ({percent:.0f}%)",
                f"{job.events:,}",
                (job.owner or "-") if job.status is BackfillStatus.RUNNING else "-",
                format_seconds(max((now - job.updated_at).total_seconds(), 0.0)) + " ago",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    errors = [
        f"  job {job.id} failed: {job.error}" for job in jobs if job.status is BackfillStatus.FAILED and job.error
    ]
    return lines + errors


async def backfill_cancel(settings: Settings, job_text: str) -> int:
    """``mimecast-siem backfill cancel JOB_ID``."""
    try:
        job_id = int(job_text)
    except ValueError:
        _err(f"error: JOB_ID {job_text!r} is not a job id (a number; see 'mimecast-siem backfill list')")
        return EXIT_BAD_INPUT
    from mimecast_siem.checkpoints import StateStore

    async with await StateStore.open(settings.state_url()) as store:
        try:
            before = await store.get_backfill_job(job_id)
        except BackfillJobNotFound:
            _err(f"error: there is no backfill job {job_id} (see 'mimecast-siem backfill list')")
            return EXIT_BAD_INPUT
        if before.status is BackfillStatus.CANCELLED:
            _out(f"Backfill job {job_id} is already cancelled.")
            return EXIT_OK
        try:
            job = await store.cancel_backfill_job(job_id)
        except InvalidBackfillTransition:
            job = await store.get_backfill_job(job_id)
            _err(f"error: backfill job {job_id} is {job.status.value}; there is nothing to cancel")
            return EXIT_FAILURE
    running = before.status is BackfillStatus.RUNNING and before.owner
    runner = f" Its runner ({before.owner}) stops after the windows in flight." if running else ""
    _out(f"Backfill job {job_id} cancelled at {job.windows_done} of {job.windows_total} windows.{runner}")
    return EXIT_OK


__all__ = [
    "backfill_cancel",
    "backfill_command",
    "backfill_list",
    "backfill_run",
    "job_document",
    "job_table",
    "register",
]
